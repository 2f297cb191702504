"""Preference pairs from votes, the Reddit proxy, and grounded vs ungrounded answers."""

from __future__ import annotations

from travelbot.data.items import QAItem, items_from_reddit
from travelbot.data.preferences import preferences_from_battles, preferences_from_reddit, preferences_grounded
from travelbot.retrieval import Passage


def battle(winner, prompt="Best time for Kyoto?", a="April.", b="Whenever."):
    return {
        "model_a": "raft", "model_b": "qlora", "winner": winner, "judge": "voter-1",
        "conversation_a": [{"role": "user", "content": prompt}, {"role": "assistant", "content": a}],
        "conversation_b": [{"role": "user", "content": prompt}, {"role": "assistant", "content": b}],
    }


def test_decided_battles_become_pairs_and_ties_do_not():
    battles = [battle("model_a"), battle("model_b"), battle("tie"), battle("tie (bothbad)"),
               {"winner": "model_a"}, battle("model_a", prompt="x") | {"conversation_b": "oops"},
               battle("model_a") | {"flagged": True}]
    pairs, skipped = preferences_from_battles(battles)
    assert [(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs] == [
        ("April.", "Whenever."), ("Whenever.", "April.")
    ]
    assert pairs[0]["prompt"] == [{"role": "user", "content": "Best time for Kyoto?"}]
    assert skipped == {"tie": 2, "malformed": 2, "flagged": 1}


REDDIT = [
    {"id": "t3_a", "kind": "post", "post_id": "t3_a", "parent_id": None, "title": "Is the JR Pass worth it?",
     "body": "Ten days, Tokyo-Kyoto-Hiroshima.", "score": 50, "subreddit": "JapanTravel"},
    {"id": "t1_1", "kind": "comment", "post_id": "t3_a", "parent_id": "t3_a", "score": 40, "author": "x",
     "body": "After the 2023 price rise it rarely pays off for Tokyo-Kyoto-Hiroshima; buy single shinkansen tickets instead."},
    {"id": "t1_2", "kind": "comment", "post_id": "t3_a", "parent_id": "t3_a", "score": 2, "author": "y",
     "body": "Yes always buy it, it is always worth it for every trip no matter what the itinerary looks like honestly."},
    {"id": "t1_3", "kind": "comment", "post_id": "t3_a", "parent_id": "t1_1", "score": 90, "author": "z",
     "body": "This is a reply, not an answer to the question, and should never be used as one by the builders."},
    {"id": "t1_4", "kind": "comment", "post_id": "t3_a", "parent_id": "t3_a", "score": 99, "author": "helperbot",
     "body": "I am a bot and this comment was posted automatically, please contact the moderators of this subreddit."},
]


def test_reddit_best_answer_becomes_sft_and_beats_a_low_scored_one():
    items = items_from_reddit(REDDIT, min_score=3)
    assert len(items) == 1 and items[0].meta["comment_id"] == "t1_1"
    assert items[0].question.startswith("Is the JR Pass worth it?")
    pairs = preferences_from_reddit(REDDIT, min_margin=5, min_score=3)
    assert len(pairs) == 1
    assert pairs[0]["chosen"][0]["content"].startswith("After the 2023")
    assert pairs[0]["rejected"][0]["content"].startswith("Yes always")
    assert (pairs[0]["chosen_score"], pairs[0]["rejected_score"]) == (40, 2)


def test_grounded_answer_is_preferred_to_an_ungrounded_one():
    oracle = Passage("kyoto#when-to-go", "kyoto", "Kyoto", "When to go", "Early April for blossoms.")
    items = [QAItem("When should I go to Kyoto?", oracle.text, oracle, "corpus")] * 2
    pairs = preferences_grounded(items, ["Kyoto is lovely in July.", oracle.text])
    assert len(pairs) == 1  # an ungrounded answer identical to the grounded one is no preference
    assert pairs[0]["chosen"][0]["content"] == "Early April for blossoms."
    assert pairs[0]["source"] == "grounded" and pairs[0]["oracle_id"] == "kyoto#when-to-go"
