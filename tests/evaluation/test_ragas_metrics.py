"""Ragas metrics against the loopback OpenAI-compatible server: real ragas, real instructor, real HTTP.

The server's answer function plays the judge: it reads which structured output ragas asks for (the JSON
schema instructor puts in the system message) and answers with JSON of that shape, so the values below are
what ragas computes from known verdicts. Nothing leaves the machine (a guard refuses other connections).
"""

from __future__ import annotations

import json
import math
import re
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.openai_server import OpenAIServer
from travelbot.evaluation.ragas_metrics import (
    RAGAS,
    RagasEndpoint,
    RagasItem,
    ragas_available,
    ragas_scores,
)
from travelbot.evaluation.scores import Score

pytestmark = pytest.mark.slow  # loads ragas and MiniLM, and waits on retries

MODEL = "judge-test"
RAG_ITEM = RagasItem(
    question="Where should I eat pastries in Lisbon?",
    answer="Go to Belem for pasteis de nata. The Time Out Market also has good bakeries.",
    contexts=("Belem is famous for its pasteis de nata, baked since 1837.", "Lisbon's trams are yellow."),
    golden="Belem, for the original pasteis de nata.",
)
PLAIN_ITEM = RagasItem(  # a variant without retrieval
    question="Is Kyoto busy in April?",
    answer="Yes, cherry blossom season makes April one of the busiest months in Kyoto.",
    contexts=(),
    golden="Yes: April is cherry blossom season, Kyoto's busiest time.",
)
LLM_METRICS = {"faithfulness", "answer_relevancy", "context_precision", "context_recall", "answer_correctness"}
CONTEXT_METRICS = ("faithfulness", "context_precision", "context_recall")


def schema_title(body: dict[str, Any]) -> str:
    """The structured output ragas asks for: the title of the JSON schema in instructor's system message."""
    system = next(m["content"] for m in body["messages"] if m["role"] == "system")
    schema = re.search(r"json_schema:\s*(\{.*\})\s*Make sure to return", system, re.DOTALL)
    assert schema, system[:300]
    return json.loads(schema.group(1))["title"]


def judge(body: dict[str, Any]) -> str:
    """Well-formed verdicts: half the statements supported, every context useful, one of two facts recalled."""
    two = [{"statement": "Belem sells pasteis de nata.", "reason": "stated", "verdict": 1},
           {"statement": "Time Out Market has bakeries.", "reason": "not in the context", "verdict": 0}]
    replies = {
        "StatementGeneratorOutput": {"statements": ["Belem sells pasteis de nata.", "Time Out Market has bakeries."]},
        "NLIStatementOutput": {"statements": two},
        "AnswerRelevanceOutput": {"question": "Where can I eat pastries in Lisbon?", "noncommittal": 0},
        "ContextPrecisionOutput": {"reason": "it answers the question", "verdict": 1},
        "ContextRecallOutput": {"classifications": [
            {"statement": s["statement"], "reason": s["reason"], "attributed": s["verdict"]} for s in two]},
        "ClassificationWithReason": {
            "TP": [{"statement": "Belem sells pasteis de nata.", "reason": "in both"}],
            "FP": [{"statement": "Time Out Market has bakeries.", "reason": "not in the golden answer"}],
            "FN": []},
    }
    return json.dumps(replies[schema_title(body)])


@pytest.fixture(autouse=True)
def needs_ragas(request: pytest.FixtureRequest) -> None:
    if request.node.name.endswith("_without_ragas"):
        return
    problem = ragas_available()  # checked here, not at collection, so that collecting stays fast
    if problem:
        pytest.skip(f"ragas unavailable: {problem}")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch):
    """Any connection beyond 127.0.0.1 (analytics, model downloads) fails the test.

    Attempts are recorded and checked afterwards, because ragas' analytics swallow every exception.
    """
    connect, attempts = socket.socket.connect, []

    def guarded(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(address)
            raise OSError(f"test guard: no network beyond loopback ({address})")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield attempts
    assert not attempts, f"ragas scoring tried to reach {attempts}"


def endpoint(server: OpenAIServer, **kwargs: Any) -> RagasEndpoint:
    return RagasEndpoint(server.base_url, MODEL, "test-key", **{"timeout": 5, "max_retries": 3, **kwargs})


def by_metric(row: list[Score]) -> dict[str, Score]:
    assert [s.metric for s in row] == list(RAGAS.metrics)
    return {s.metric: s for s in row}


def test_scorer_info_names_the_five_metrics() -> None:
    assert RAGAS.metrics == ("faithfulness", "answer_relevancy", "context_precision", "context_recall",
                             "answer_correctness")
    assert RAGAS.name == "ragas" and "+tb" in RAGAS.version


def test_five_metrics_from_a_judge_that_answers_well() -> None:
    with OpenAIServer(judge) as server:
        rows = ragas_scores([RAG_ITEM, PLAIN_ITEM], endpoint(server))
        requests = list(server.requests)

    assert len(rows) == 2
    rag, plain = by_metric(rows[0]), by_metric(rows[1])
    for score in rag.values():
        assert score.missing is None and 0.0 <= score.value <= 1.0, score
    assert rag["faithfulness"].value == pytest.approx(0.5)  # one of two statements supported
    assert rag["context_recall"].value == pytest.approx(0.5)
    assert rag["context_precision"].value == pytest.approx(1.0, abs=1e-6)  # both contexts judged useful
    assert rag["answer_relevancy"].value > 0.5  # MiniLM: the generated question is close to the asked one
    # 0.75 x F1 (tp=1, fp=1, fn=0 -> 2/3) + 0.25 x MiniLM similarity of answer and golden answer
    assert 0.5 < rag["answer_correctness"].value <= 1.0

    for metric in CONTEXT_METRICS:
        assert plain[metric].value is None and plain[metric].missing == "no retrieved contexts"
    for metric in ("answer_relevancy", "answer_correctness"):  # need no contexts: scored for non-RAG variants too
        assert plain[metric].missing is None and 0.0 <= plain[metric].value <= 1.0

    assert requests and all(body["model"] == MODEL for body in requests)
    for body in requests:
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert body["response_format"] == {"type": "json_object"}
    asked = {schema_title(body) for body in requests}
    assert asked == {"StatementGeneratorOutput", "NLIStatementOutput", "AnswerRelevanceOutput",
                     "ContextPrecisionOutput", "ContextRecallOutput", "ClassificationWithReason"}
    assert any(RAG_ITEM.contexts[0] in body["messages"][1]["content"] for body in requests)


def test_missing_golden_answer_and_metric_selection() -> None:
    item = RagasItem(RAG_ITEM.question, RAG_ITEM.answer, RAG_ITEM.contexts, None)
    with OpenAIServer(judge) as server:
        [row] = ragas_scores([item], endpoint(server), metrics=("context_recall", "faithfulness", "answer_correctness"))
    assert [s.metric for s in row] == ["context_recall", "faithfulness", "answer_correctness"]
    assert row[0].missing == "no golden answer" and row[2].missing == "no golden answer"
    assert row[1].value == pytest.approx(0.5)


def test_garbage_replies_are_parse_failures_not_nan() -> None:
    with OpenAIServer(lambda body: "I think the answer is good!") as server:
        rows = ragas_scores([RAG_ITEM, PLAIN_ITEM, RAG_ITEM], endpoint(server))
    assert len(rows) == 3
    for i, row in enumerate(rows):
        scores = by_metric(row)
        for metric, score in scores.items():
            assert score.value is None
            if i == 1 and metric in CONTEXT_METRICS:
                assert score.missing == "no retrieved contexts"
            else:
                assert score.missing == "parse failure", score
                assert score.detail["raw"] == "I think the answer is good!"
    assert not any(s.value is not None and math.isnan(s.value) for row in rows for s in row)


def test_nan_from_ragas_becomes_a_missing_score() -> None:
    def no_statements(body: dict[str, Any]) -> str:  # ragas answers NaN when the judge lists nothing
        title = schema_title(body)
        if title == "StatementGeneratorOutput":
            return json.dumps({"statements": []})
        if title == "ContextRecallOutput":
            return json.dumps({"classifications": []})
        return judge(body)

    with OpenAIServer(no_statements) as server:
        [row] = ragas_scores([RAG_ITEM], endpoint(server))
    scores = by_metric(row)
    assert scores["faithfulness"].value is None
    assert scores["faithfulness"].missing == "error: ragas returned NaN (the judge found no statements in the answer)"
    assert scores["context_recall"].value is None and scores["context_recall"].missing.startswith("error: ragas returned NaN")
    assert scores["context_precision"].value == pytest.approx(1.0, abs=1e-6)


def test_the_guard_sees_outside_connections(loopback_only: list) -> None:
    with pytest.raises(OSError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    assert loopback_only == [("192.0.2.1", 80)]
    loopback_only.clear()


def test_transient_server_errors_are_retried() -> None:
    with OpenAIServer(judge) as server:
        server.fail_next(500, times=2)
        server.fail_next(429, times=1)
        [row] = ragas_scores([RAG_ITEM], endpoint(server, max_retries=3), max_workers=1)
        failed_then_retried = len(server.requests)
    scores = by_metric(row)
    assert all(s.missing is None and 0.0 <= s.value <= 1.0 for s in scores.values()), row
    assert failed_then_retried > 3


def test_errors_that_outlast_the_retries_are_missing_with_their_reason() -> None:
    with OpenAIServer(judge) as server:
        server.fail_next(503, times=50)
        [row] = ragas_scores([RAG_ITEM], endpoint(server, max_retries=0), metrics=("faithfulness",))
    assert row[0].value is None and row[0].missing == "error: HTTP 503"

    with OpenAIServer(judge) as server:
        server.fail_next(0, times=50, delay=1.0)
        [row] = ragas_scores([RAG_ITEM], endpoint(server, timeout=0.2, max_retries=0), metrics=("context_recall",))
        time.sleep(1.0)  # let the slow reply fail on the closed socket while pytest still captures its traceback
    assert row[0].value is None and row[0].missing == "timeout"


def test_a_refused_key_stops_the_run_with_one_sentence() -> None:
    from travelbot.errors import TravelbotError

    wrong_key = pytest.raises(TravelbotError, match="refused the API key")
    with OpenAIServer(judge, api_key="right") as server, wrong_key:
        # one request at a time: the run stops at the first refusal, with nothing else in flight
        ragas_scores([RAG_ITEM, PLAIN_ITEM], RagasEndpoint(server.base_url, MODEL, "wrong", timeout=5, max_retries=0),
                     max_workers=1)


def test_nothing_to_ask() -> None:
    assert ragas_scores([], RagasEndpoint("http://127.0.0.1:9/v1", MODEL, None)) == []
    empty = RagasItem("Where?", "  ", (), None)
    [row] = ragas_scores([empty], RagasEndpoint("http://127.0.0.1:9/v1", MODEL, None))
    assert {s.missing for s in row} == {"error: empty answer"}


def test_scores_are_missing_without_ragas() -> None:
    script = """
import sys
sys.modules["ragas"] = None  # as if the extra were not installed
from travelbot.evaluation.ragas_metrics import RagasEndpoint, RagasItem, ragas_available, ragas_scores
print(ragas_available())
rows = ragas_scores([RagasItem("Where?", "Lisbon.", (), None)], RagasEndpoint(None, "gpt-4o", None))
print(sorted({s.missing for s in rows[0]}), len(rows[0]))
"""
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    hint, missing = done.stdout.strip().splitlines()[-2:]
    assert hint == 'the ragas extra is not installed: run `pip install -e ".[ragas]"`.'
    assert missing == f"[{'unavailable: ' + hint!r}] 5"
