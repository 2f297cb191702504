"""The LLM judge on arena battles, against a loopback OpenAI-compatible judge and a real store."""

from __future__ import annotations

import json
from dataclasses import replace

from tests.feedback.conftest import answered_battle
from tests.openai_server import OpenAIServer
from travelbot.analysis.store_agreement import store_agreement
from travelbot.feedback import arena
from travelbot.feedback.battle_judge import judge_after_vote, judge_battles
from travelbot.feedback.voters import Voter

GOOD, BAD = "Take the metro; a 24-hour pass costs about 8 euros.", "I am not sure."


def prefers_good(body: dict) -> str:
    """A fair judge: the specific answer wins wherever it is shown."""
    text = "\n".join(m["content"] for m in body["messages"])
    first_is_good = text.index(GOOD) < text.index(BAD)
    return json.dumps({"reasoning": "specific", "verdict": "A" if first_is_good else "B"})


def with_judge(settings, server: OpenAIServer):
    return replace(settings, judge=replace(settings.judge, model="local-judge", base_url=server.base_url, api_key="k"))


def test_each_vote_is_judged_in_both_orders_and_counts_for_judge_agreement(store, two_variants) -> None:
    voter = Voter("judge-test", None)
    with OpenAIServer(prefers_good) as server:
        settings = with_judge(two_variants, server)
        for seed, (answer_a, answer_b, choice) in enumerate([
            (GOOD, BAD, "model_a"), (BAD, GOOD, "model_b"), (GOOD, BAD, "model_a"),
            (BAD, GOOD, "model_a"),  # this voter disagrees with the judge once
        ]):
            battle = answered_battle(store, settings, voter, answers=(("How do I get around Lisbon?", answer_a,
                                                                        answer_b),), seed=seed)
            assert arena.record_vote(battle.id, choice, voter, store=store, settings=settings).judged
        # A battle of several turns is left out: the judge would see only part of it.
        long = answered_battle(store, settings, voter, seed=9, answers=(("Where?", GOOD, BAD), ("And?", BAD, GOOD)))
        arena.record_vote(long.id, "model_a", voter, store=store, settings=settings)
        future = judge_after_vote(long.id, settings, store)
        future.result(timeout=30)  # the queue runs in vote order: every earlier battle is done too
        assert len(server.requests) == 8  # four single-question battles, two orders each
        assert all(r["model"] == "local-judge" for r in server.requests)

        again = judge_battles(store, settings)
        assert (again.judged, again.already, again.skipped_turns) == (0, 4, 1) and len(server.requests) == 8

    found = store_agreement(["bleu"], store, rounds=200)
    judge = found.judges["local-judge"].to_dict()
    assert judge["n"] == 4 and judge["accuracy"]["value"] == 0.75
    assert judge["accuracy"]["lower"] < 0.75 < judge["accuracy"]["upper"]


def test_no_judge_configured_means_no_requests_and_the_vote_stands(store, two_variants) -> None:
    voter = Voter("no-judge", None)
    battle = answered_battle(store, two_variants, voter)
    assert judge_after_vote(battle.id, two_variants, store) is None
    result = arena.record_vote(battle.id, "tie", voter, store=store, settings=two_variants)
    assert result.winner == "tie" and not result.judged and store_agreement(["bleu"], store, rounds=50).judges == {}


def test_a_failing_judge_stores_nothing_and_is_asked_again(store, two_variants) -> None:
    voter = Voter("flaky", None)
    with OpenAIServer(prefers_good) as server:
        settings = with_judge(replace(two_variants, judge=replace(two_variants.judge, max_retries=0)), server)
        battle = answered_battle(store, settings, voter, answers=(("Metro?", GOOD, BAD),))
        arena.record_vote(battle.id, "model_a", voter, store=store, settings=settings)
        judge_after_vote(battle.id, settings, store).result(timeout=30)  # drain the vote's own request first
        store_rows = judge_battles(store, settings)
        assert store_rows.already == 1
        with store.transaction(write=True) as conn:
            conn.exec_driver_sql("DELETE FROM battle_judgments")
        server.fail_next(500, times=2)
        failed = judge_battles(store, settings)
        assert (failed.judged, failed.failed) == (0, 1)
        retried = judge_battles(store, settings)
        assert (retried.judged, retried.failed) == (1, 0)
