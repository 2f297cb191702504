"""Tests for travelbot/evaluation/run.py and results.py: a whole run with the embedded model, NLP
metrics and a judge on a loopback OpenAI-compatible server; caching; missing scores; the CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.openai_server import OpenAIServer
from travelbot.config import JudgeSettings, get_settings
from travelbot.errors import InvalidInputError, TravelbotError
from travelbot.evaluation.results import run_results
from travelbot.evaluation.run import EvalConfig, evaluate
from travelbot.store import Store

VARIANTS = ["smollm2-135m", "smollm2-raft"]
GRADE = {"conciseness": {"reasoning": "Short.", "verdict": "Y"}, "relevance": {"reasoning": "On topic.", "verdict": "Y"},
         "coherence": {"reasoning": "Clear.", "verdict": "N"}, "helpfulness": {"reasoning": "Vague.", "verdict": "N"},
         "overall": {"reasoning": "Weak.", "score": 4}}


def judge_reply(body: dict) -> str:
    text = "\n".join(m["content"] for m in body["messages"])
    if "Assistant A's Answer" in text:
        return json.dumps({"reasoning": "A is more specific.", "verdict": "A"})  # always A: a position-biased judge
    if "Kyoto" in text:
        return "I cannot grade this."  # unparseable: recorded as missing, never zero
    return json.dumps(GRADE)


@pytest.fixture
def judge_settings():
    with OpenAIServer(judge_reply, api_key="k") as server:
        yield replace(get_settings(), max_new_tokens=8, judge=JudgeSettings(
            model="judge-x", base_url=server.base_url, api_key="k", timeout=10.0)), server


def test_a_run_scores_every_answer_and_a_rerun_computes_nothing_new(store: Store, judge_settings) -> None:
    settings, server = judge_settings
    config = EvalConfig(VARIANTS, ["bleu", "rouge", "length", "judge", "pairwise"], "dev", limit=3,
                        settings={"max_new_tokens": 8})
    run = evaluate(config, store=store, settings=settings)
    results = run_results(run.id, store)
    assert results.run["status"] == "succeeded" and len(results.answers) == 6
    summary = {(m.variant, m.metric): m for m in results.metrics}
    for variant in VARIANTS:
        assert summary[(variant, "bleu")].n == 3 and summary[(variant, "rougeL")].n == 3
        assert summary[(variant, "latency_s")].n == 3 and summary[(variant, "latency_s")].mean > 0
        overall = summary[(variant, "judge_overall")]
        assert overall.mean == 4 and overall.lower <= 4 <= overall.upper
        assert summary[(variant, "judge_coherence")].mean == 0  # a real "no" is 0, not missing
    kyoto = [a for a in results.answers if "Kyoto" in a["question"]]
    for answer in kyoto:
        assert answer["scores"]["judge_overall"] == {"value": None, "missing": "parse failure",
                                                     "detail": answer["scores"]["judge_overall"]["detail"]}
    assert sum(m.missing for m in results.metrics if m.metric == "judge_overall") == len(kyoto)
    (pair,) = results.pairs
    assert pair.judged == 3 and pair.ties == 3 and pair.inconsistent == 3  # "always A" disagrees with itself
    assert results.run["usage"]["requests"] == 6 + 6  # 6 grades, 3 pairs x 2 orders
    first_requests = len(server.requests)

    from travelbot.analysis.store_agreement import judge_biases

    biases = judge_biases(store)["judge-x"]  # the "always A" judge never gives the same verdict in both orders
    assert biases["position_consistency"].value == 0.0 and biases["position_consistency"].n == 3
    assert biases["longer_preferred"].n == 0  # every pair ended as a tie, so nothing was decided

    again = evaluate(config, store=store, settings=settings)
    assert len(server.requests) == first_requests  # answers, scores and verdicts all cached
    assert all(a.cached for a in again.answers)
    assert store.count("eval_scores") == len(results.answers) * (1 + 3 + 2 + 5)

    rows = run_results(again.id, store).long_rows()
    assert {r["metric"] for r in rows} >= {"bleu", "rouge1", "rouge2", "rougeL", "answer_words", "judge_overall"}
    csv = run_results(again.id, store).to_csv()
    assert csv.splitlines()[0].startswith("run_id,variant,question_id")


def test_bad_configurations_are_sentences(store: Store) -> None:
    settings = replace(get_settings(), judge=JudgeSettings())
    for config, message in [
        (EvalConfig([]), "at least one variant"),
        (EvalConfig(VARIANTS, ["bleu", "vibes"]), "Unknown scorer vibes"),
        (EvalConfig(VARIANTS, ["bleu"], split="train"), "Unknown split"),
        (EvalConfig(VARIANTS[:1], ["pairwise"]), "at least two variants"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            evaluate(config, store=store, settings=settings)
    with pytest.raises(TravelbotError, match="TRAVELBOT_JUDGE_MODEL"):
        evaluate(EvalConfig(VARIANTS, ["judge"], limit=1), store=store, settings=settings)
    assert store.count("eval_runs") == 0


def test_ragas_scores_a_run_through_the_same_judge_endpoint(store: Store) -> None:
    pytest.importorskip("ragas")
    from tests.evaluation.test_ragas_metrics import judge as ragas_judge

    with OpenAIServer(ragas_judge) as server:
        settings = replace(get_settings(), judge=JudgeSettings(model="judge-x", base_url=server.base_url))
        run = evaluate(EvalConfig(VARIANTS, ["ragas"], "dev", limit=1, settings={"max_new_tokens": 8}),
                       store=store, settings=settings)
    scores = {a["variant"]: a["scores"] for a in run_results(run.id, store).answers}
    raft, base = scores["smollm2-raft"], scores["smollm2-135m"]
    assert all(raft[m]["value"] is not None for m in ("faithfulness", "context_recall", "answer_correctness"))
    assert base["faithfulness"]["missing"] == "no retrieved contexts"  # the base variant reads no passages
    assert base["answer_relevancy"]["value"] is not None


def test_reconcile_fails_runs_whose_process_is_gone_and_leaves_a_live_one(store: Store) -> None:
    import os
    import socket
    import subprocess
    import sys
    import threading

    from sqlalchemy import insert

    from travelbot.evaluation.run import STOPPED, reconcile_runs
    from travelbot.schema import utc_now, eval_runs

    def running(owner: dict | None) -> int:
        with store.transaction(write=True) as conn:
            return int(conn.execute(insert(eval_runs).values(
                status="running", variants=["smollm2-135m"], split="dev", scorers=["length"], settings={},
                progress={"owner": owner} if owner else None, created_at=utc_now())).inserted_primary_key[0])

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    dead = running({"host": host, "pid": int(ended.stdout)})
    orphan = running({"host": host, "pid": os.getpid()})  # this process, but not a run it is doing
    earlier_container = running({"host": "a-restarted-space", "pid": 7})  # one SQLite file, one machine
    unrecorded = running(None)  # started before runs recorded their process

    started: list[int] = []
    began, release, stop = threading.Event(), threading.Event(), threading.Event()  # a real run of this process,
    # held at its start
    hold = lambda run_id: (started.append(run_id), began.set(), release.wait())  # noqa: E731
    live = threading.Thread(target=evaluate, args=(EvalConfig(["smollm2-135m"], ["length"], limit=1),),
                            kwargs={"store": store, "on_start": hold, "should_stop": stop.is_set})
    live.start()
    try:
        assert began.wait(120), "the run did not start"
        assert sorted(reconcile_runs(store)) == [dead, orphan, earlier_container, unrecorded]
        assert reconcile_runs(store) == []
        with store.transaction() as conn:
            rows = {r.id: r for r in conn.execute(eval_runs.select())}
        for run_id in (dead, orphan, earlier_container, unrecorded):
            assert rows[run_id].status == "failed" and rows[run_id].error == STOPPED and rows[run_id].finished_at
        assert rows[started[0]].status == "running" and rows[started[0]].error is None
        assert rows[started[0]].progress["owner"] == {"host": host, "pid": os.getpid()}
        stop.set()
    finally:
        release.set()
        live.join(60)
    assert run_results(started[0], store).run["status"] == "cancelled"
