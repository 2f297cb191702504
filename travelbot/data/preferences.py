"""Preference pairs in TRL's conversational ``prompt`` / ``chosen`` / ``rejected`` format.

Three sources, in order of trust: blind A/B votes (FastChat battle rows, from the arena or a file),
the study's proxy (a higher- vs a lower-scored Reddit answer to the same post), and grounded vs
ungrounded answers (the corpus answer vs what a model says without the documents).
"""

from __future__ import annotations

from typing import Any

from travelbot.data.items import QAItem, good_answers, reddit_question, reddit_threads


def pair(prompt: str, chosen: str, rejected: str, source: str, **meta: Any) -> dict[str, Any]:
    return {
        "prompt": [{"role": "user", "content": prompt}],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "source": source,
        **meta,
    }


def _last_turn(conversation: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    user = next((m["content"] for m in reversed(conversation) if m.get("role") == "user"), None)
    answer = next((m["content"] for m in reversed(conversation) if m.get("role") == "assistant"), None)
    return user, answer


def preferences_from_battles(battles: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Pairs from decided battles (winner model_a / model_b); ties and both-bad carry no preference."""
    pairs, skipped = [], {"tie": 0, "malformed": 0, "flagged": 0}
    for battle in battles:
        winner = battle.get("winner")
        if winner not in ("model_a", "model_b"):
            skipped["tie" if str(winner).startswith("tie") else "malformed"] += 1
            continue
        if battle.get("flagged"):
            skipped["flagged"] += 1
            continue
        try:
            prompt_a, answer_a = _last_turn(battle["conversation_a"])
            prompt_b, answer_b = _last_turn(battle["conversation_b"])
        except (KeyError, TypeError, AttributeError):
            skipped["malformed"] += 1
            continue
        if not prompt_a or prompt_a != prompt_b or not answer_a or not answer_b:
            skipped["malformed"] += 1
            continue
        chosen, rejected = (answer_a, answer_b) if winner == "model_a" else (answer_b, answer_a)
        pairs.append(pair(prompt_a, chosen, rejected, "votes", model_a=battle.get("model_a"),
                          model_b=battle.get("model_b"), winner=winner))
    return pairs, skipped


def preferences_from_reddit(records: list[dict[str, Any]], min_margin: int = 5, min_score: int = 3) -> list[dict[str, Any]]:
    """The study's proxy: for each post, its best answer is preferred to a clearly lower-scored one."""
    pairs = []
    for post_id, thread in reddit_threads(records).items():
        ranked = good_answers(thread["comments"], min_score=-10**9)
        good = [c for c in ranked if c["score"] >= min_score]
        if not good:
            continue
        best = good[0]
        worse = [c for c in ranked if best["score"] - c["score"] >= min_margin]
        if worse:
            loser = worse[-1]
            pairs.append(pair(reddit_question(thread["post"]), best["body"], loser["body"], "reddit",
                              post_id=post_id, chosen_score=best["score"], rejected_score=loser["score"]))
    return pairs


def preferences_grounded(items: list[QAItem], ungrounded: list[str], answer_sentences: int = 0) -> list[dict[str, Any]]:
    """The corpus-grounded answer (whole, or its ``answer_sentences`` sentences nearest the question) is
    preferred to a model's answer written without the documents."""
    from travelbot.data.raft import concise_answer

    pairs = []
    for item, answer in zip(items, ungrounded):
        chosen = concise_answer(item, answer_sentences)
        if answer.strip() and answer.strip() != chosen:
            pairs.append(pair(item.question, chosen, answer, "grounded", oracle_id=item.oracle.passage_id))
    return pairs


def raft_pair(example: dict[str, Any], grounded: dict[str, Any]) -> dict[str, Any]:
    """A grounded pair restated for a RAFT policy: its RAFT prompt, its RAFT target chosen, the
    ungrounded answer (no quotes, no final-answer marker) rejected."""
    prompt, target = example["messages"][0]["content"], example["messages"][1]["content"]
    return pair(prompt, target, grounded["rejected"][0]["content"], "grounded-raft", oracle_id=grounded.get("oracle_id"))
