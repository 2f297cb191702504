"""Tests for travelbot/feedback/ratings.py: the pool, overlap-aware assignment, validation, storage."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from travelbot.config import get_settings
from travelbot.errors import InvalidInputError
from travelbot.feedback.leaderboard import rating_summary
from travelbot.feedback.ratings import (OVERALL, RATING_CRITERIA, check_scores, next_item, offer, rated_count,
                                        rating_pool, rating_rows, record_rating)
from travelbot.feedback.voters import Voter
from travelbot.store import ChatTurn, Store

RATERS = [Voter(f"browser:rater-{i:010d}", f"R{i}") for i in range(5)]
FULL = {c: 4 for c in RATING_CRITERIA} | {OVERALL: 4}


def _log(store: Store, variant: str, prompt: str, answer: str, **extra) -> int:
    cid = store.new_conversation()
    content = extra.pop("content", prompt)
    return store.log_turn(ChatTurn(
        conversation_id=cid, turn_index=0, variant=variant, base="smollm2-135m", method=extra.pop("method", "base"),
        messages=[{"role": "user", "content": content}], answer=answer, settings={},
        finish_reason=extra.pop("finish_reason", "stop"), prompt=prompt, **extra))


def test_pool_keeps_finished_answers_once_and_hides_the_variant(store: Store) -> None:
    good = _log(store, "v1", "Is Oslo pricey?", "Yes, very.")
    _log(store, "v1", "Is Oslo pricey?", "Yes, very.")  # the same answer again: offered once
    _log(store, "v2", "Is Oslo pricey?", "Somewhat.")
    _log(store, "v1", "Cut off?", "Par", finish_reason="cancelled")
    _log(store, "v1", "Failed?", "", error="boom", finish_reason="error")
    raft = _log(store, "v3", "Best beach?", "##Reason: docs say ##begin_quote##Nazaré##end_quote## <ANSWER>: Nazaré",
                method="raft", content="<DOCUMENT>...</DOCUMENT>\nQuestion: Best beach?")
    pool = rating_pool(store)
    assert set(pool) == {f"turn:{good}", f"turn:{good + 2}", f"turn:{raft}"}
    item, variant = pool[f"turn:{raft}"]
    assert (item.question, item.answer, variant) == ("Best beach?", "Nazaré", "v3")
    assert not hasattr(item, "variant")


def test_each_answer_gets_the_overlap_and_no_rater_sees_one_twice(store: Store) -> None:
    settings = replace(get_settings(), rating_overlap=3)
    for i in range(4):
        _log(store, f"v{i % 2}", f"Question {i}?", f"Answer {i}.")
    rng = random.Random(0)
    for rater in RATERS:
        seen = []
        while (item := next_item(rater, store=store, settings=settings, rng=rng)) is not None:
            assert item.item_id not in seen
            seen.append(item.item_id)
            record_rating(item.item_id, FULL, rater, store=store)
        assert rated_count(rater, store) == len(seen)
    per_item: dict[str, set] = {}
    for row in rating_rows(store):
        per_item.setdefault(row["item_id"], set()).add(row["rater_id"])
    assert len(per_item) == 4 and all(len(raters) == 3 for raters in per_item.values())


def test_a_changed_rating_is_a_new_row_and_the_latest_counts(store: Store) -> None:
    turn = _log(store, "v1", "Visa for Chile?", "Not for EU citizens.")
    offer(f"turn:{turn}", RATERS[0], store)
    record_rating(f"turn:{turn}", {**FULL, OVERALL: 2}, RATERS[0], "too short", store=store)
    record_rating(f"turn:{turn}", {**FULL, OVERALL: 5}, RATERS[0], store=store)
    rows = rating_rows(store)
    assert len(rows) == 2 and rows[0]["comment"] == "too short" and rows[0]["variant"] == "v1"
    summary = rating_summary(rows)
    assert summary.score("v1", OVERALL).mean == 5


@pytest.mark.parametrize("scores, message", [
    ({c: 3 for c in RATING_CRITERIA}, "overall score"),
    ({**FULL, "relevance": 6}, "Relevance must be a whole number from 1 to 5"),
    ({**FULL, "coherence": "3.5"}, "Coherence must be"),
    ({**FULL, "coherence": True}, "Coherence must be"),
    ({**FULL, "vibes": 3}, "Unknown criteria vibes"),
])
def test_bad_scores_are_sentences(scores, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        check_scores(scores, None)


def test_scores_from_the_form_are_accepted() -> None:
    clean, comment = check_scores({"relevance": "5", "helpfulness": None, OVERALL: 4.0}, "  good  ")
    assert clean == {"relevance": 5, OVERALL: 4} and comment == "good"
    with pytest.raises(InvalidInputError, match="2,000"):
        check_scores({OVERALL: 3}, "x" * 2001)


def test_unknown_or_unfinished_answers_cannot_be_rated(store: Store) -> None:
    cut = _log(store, "v1", "Cut?", "Par", finish_reason="cancelled")
    for item_id in (f"turn:{cut}", "turn:99999", "eval:99999", "", "turn:x", "other:1"):
        with pytest.raises(InvalidInputError, match="cannot be rated"):
            record_rating(item_id, FULL, RATERS[0], store=store)
    assert store.count("ratings") == 0


def test_evaluation_answers_are_rated_too(store: Store) -> None:
    from sqlalchemy import insert

    from travelbot.schema import utc_now, eval_answers

    row = {"cache_key": "k1", "variant": "v9", "variant_revision": "base", "base": "b", "method": "raft",
           "question_id": "g-1", "question": "Is Oslo pricey?", "golden": "Yes.", "answer": "Very.",
           "raw_answer": "<ANSWER>: Very.", "contexts": [], "settings": {}, "prompt_tokens": 1,
           "completion_tokens": 1, "seconds": 0.1, "batch_size": 1, "finish_reason": "stop", "created_at": utc_now()}
    with store.transaction(write=True) as conn:
        answer_id = conn.execute(insert(eval_answers).values(**row)).inserted_primary_key[0]
        conn.execute(insert(eval_answers).values(**{**row, "cache_key": "k2", "answer": "", "error": "boom"}))
    pool = rating_pool(store)
    assert list(pool) == [f"eval:{answer_id}"] and pool[f"eval:{answer_id}"][1] == "v9"
    offer(f"eval:{answer_id}", RATERS[0], store)
    record_rating(f"eval:{answer_id}", FULL, RATERS[0], store=store)
    assert rating_rows(store)[0]["variant"] == "v9" and rating_rows(store)[0]["answer"] == "Very."


def test_a_rating_comes_only_from_the_rater_the_answer_was_shown_to(store: Store) -> None:
    _log(store, "v1", "Is Porto hilly?", "Very.")
    shown = next_item(RATERS[0], store=store)
    with pytest.raises(InvalidInputError, match="was not shown to you"):
        record_rating(shown.item_id, FULL, RATERS[1], store=store)
    record_rating(shown.item_id, FULL, RATERS[0], store=store)
    assert [r["rater_id"] for r in rating_rows(store)] == [RATERS[0].id]


def test_ratings_are_capped_per_rater_per_day(store: Store) -> None:
    settings = replace(get_settings(), ratings_per_day=2)
    turns = [_log(store, "v1", f"Question {i}?", f"Answer {i}.") for i in range(3)]
    for turn in turns:
        offer(f"turn:{turn}", RATERS[0], store)
    for turn in turns[:2]:
        record_rating(f"turn:{turn}", FULL, RATERS[0], store=store, settings=settings)
    with pytest.raises(InvalidInputError, match="2 ratings in the last 24 hours"):
        record_rating(f"turn:{turns[2]}", FULL, RATERS[0], store=store, settings=settings)
    assert store.count("ratings") == 2


def test_comments_lose_control_and_bidi_characters() -> None:
    _, comment = check_scores({OVERALL: 3}, "ok\u202e\u0007 fine\u2066")
    assert comment == "ok fine"


def test_raters_can_ask_for_evaluation_answers_only(store: Store) -> None:
    from sqlalchemy import insert

    from travelbot.schema import utc_now, eval_answers

    _log(store, "v1", "Is Porto hilly?", "Very.")
    with store.transaction(write=True) as conn:
        answer_id = conn.execute(insert(eval_answers).values(
            cache_key="k", variant="v2", variant_revision="base", base="b", method="base", question_id="g-1",
            question="Is Oslo pricey?", golden="Yes.", answer="Very.", raw_answer="Very.", contexts=[], settings={},
            prompt_tokens=1, completion_tokens=1, seconds=0.1, batch_size=1, finish_reason="stop",
            created_at=utc_now())).inserted_primary_key[0]
    assert next_item(RATERS[0], store=store, evaluation_only=True).item_id == f"eval:{answer_id}"
    assert next_item(RATERS[1], store=store, evaluation_only=True).item_id == f"eval:{answer_id}"
    record_rating(f"eval:{answer_id}", FULL, RATERS[0], store=store)
    assert next_item(RATERS[0], store=store, evaluation_only=True) is None  # the chat answer is not offered
