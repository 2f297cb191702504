"""Tests for travelbot/analysis/store_agreement.py: the store's votes and ratings against its scores."""

from __future__ import annotations

import random
from dataclasses import replace

from sqlalchemy import insert

from tests.feedback.conftest import answered_battle
from travelbot.analysis.store_agreement import store_agreement
from travelbot.config import get_settings
from travelbot.data.golden import golden_path, load_golden
from travelbot.feedback import arena
from travelbot.feedback.ratings import record_rating
from travelbot.feedback.voters import Voter
from travelbot.schema import _now, eval_answers, eval_scores
from travelbot.store import Store

ANA = Voter("browser:ana-0000000001", "Ana")


def test_votes_and_ratings_against_metrics(store: Store) -> None:
    settings = replace(get_settings(), arena_weights="*=0,smollm2-135m=1,smollm2-135m-precise=1", flag_words="",
                       votes_per_day=1000)
    questions = load_golden(golden_path())[0][:12]
    for seed, q in enumerate(questions):
        good, bad = q.reference_answer, "I do not know anything about that, sorry."
        first_good = seed % 2 == 0
        battle = answered_battle(store, settings, ANA, seed=seed,
                                 answers=((q.question, good if first_good else bad, bad if first_good else good),))
        arena.record_vote(battle.id, "A is better" if first_good else "B is better", ANA, store=store,
                          settings=settings)
    answered_battle(store, settings, ANA, seed=99, answers=(("Not a golden question?", "x", "y"),))  # not counted

    rng = random.Random(0)
    with store.transaction(write=True) as conn:
        for i, q in enumerate(questions):
            for variant, quality in (("v-good", 4 + rng.random()), ("v-bad", 1 + rng.random())):
                answer_id = conn.execute(insert(eval_answers).values(
                    cache_key=f"{variant}-{i}", variant=variant, variant_revision="base", base="b", method="base",
                    question_id=q.id, question=q.question, golden=q.reference_answer, answer=f"{variant} answer {i}",
                    raw_answer="", contexts=[], settings={}, prompt_tokens=1, completion_tokens=1, seconds=0.1,
                    batch_size=1, finish_reason="stop", created_at=_now())).inserted_primary_key[0]
                conn.execute(insert(eval_scores).values(
                    answer_id=answer_id, scorer="bleu", scorer_version="1", metric="bleu", value=quality * 10,
                    missing=None, detail={}, created_at=_now()))
    for answer_id in range(1, 2 * len(questions) + 1):
        for rater in ("r1", "r2"):
            overall = 5 if answer_id % 2 else 1
            record_rating(f"eval:{answer_id}", {"overall": overall}, Voter(f"browser:{rater}-000000000"), store=store)

    result = store_agreement(["bleu", "rougeL"], store, rounds=200)
    assert result.votes_considered == 12
    assert result.votes["rougeL"].accuracy.value == 1.0 and result.votes["rougeL"].n == 12
    assert result.rated_answers == 24
    assert result.ratings["bleu"]["spearman"].value > 0.8 and result.ratings["bleu"]["spearman"].n == 24
    assert result.systems["bleu"].spearman.value == 1.0 and result.systems["bleu"].systems == 2
    assert result.to_dict()["votes_considered"] == 12
