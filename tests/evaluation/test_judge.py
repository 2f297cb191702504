"""The judge against a real OpenAI-compatible server on loopback: requests, parsing, retries, pairs, cost."""

from __future__ import annotations

import json
import logging
import re
import threading
import time

import pytest

from tests.openai_server import OpenAIServer
from travelbot.config import JudgeSettings, Settings
from travelbot.errors import TravelbotError
from travelbot.evaluation.endpoint import JudgeEndpoint, Usage, _retry_after_seconds
from travelbot.evaluation.judge import (
    METRICS,
    PROMPT_VERSIONS,
    GradeItem,
    Judge,
    PairItem,
    load_prompt,
    parse_criteria,
    parse_pairwise,
    parse_score,
    parse_yes_no,
    render_prompt,
    verdict_key,
)

QUESTION = "What is the best time of year to visit Kyoto?"
ANSWER = "Late March to early April for the cherry blossom, or November for the autumn leaves."
GOLDEN = "Spring (late March-April) and autumn (November) are best; summer is hot and humid."
GOOD = {
    "conciseness": {"reasoning": "Short.", "verdict": "Y"},
    "relevance": {"reasoning": "On topic.", "verdict": "yes"},
    "coherence": {"reasoning": "Clear.", "verdict": "Y"},
    "helpfulness": {"reasoning": "Misses summer.", "verdict": "N"},
    "overall": {"reasoning": "Good but brief.", "score": 7},
}


def endpoint(server: OpenAIServer, **overrides) -> JudgeEndpoint:
    settings = {"model": "gpt-4o", "base_url": server.base_url, "api_key": "k", "timeout": 5.0, "max_retries": 3,
                "backoff": 0.01}
    return JudgeEndpoint(**{**settings, **overrides})


def user_text(body: dict) -> str:
    return "\n".join(m["content"] for m in body["messages"])


# ------------------------------------------------------------------------------------------- criteria


def test_grade_sends_the_question_answer_and_reference_deterministically():
    with OpenAIServer(lambda body: json.dumps(GOOD), api_key="k") as server:
        judge = Judge(endpoint(server))
        [with_ref, without] = judge.grade([GradeItem(QUESTION, ANSWER, GOLDEN), GradeItem(QUESTION, ANSWER)])
        bodies = sorted(server.requests, key=lambda b: GOLDEN in user_text(b), reverse=True)
    for body in bodies:
        assert body["model"] == "gpt-4o" and body["temperature"] == 0
        assert QUESTION in user_text(body) and ANSWER in user_text(body)
        assert "response_format" not in body and not body.get("stream")
    assert GOLDEN in user_text(bodies[0]) and GOLDEN not in user_text(bodies[1])
    assert with_ref.prompt_version == "criteria_reference_v1" and without.prompt_version == "criteria_v1"
    assert [s.metric for s in with_ref.scores] == list(METRICS)
    assert [s.value for s in with_ref.scores] == [1.0, 1.0, 1.0, 0.0, 7.0]  # a real "no" is a 0, not missing
    assert with_ref.reasoning["helpfulness"] == "Misses summer."
    assert with_ref.score("judge_overall").detail["prompt_version"] == "criteria_reference_v1"
    assert with_ref.usage.requests == 1 and with_ref.usage.retries == 0 and with_ref.usage.prompt_tokens > 0


def test_json_mode_is_optional():
    with OpenAIServer(lambda body: json.dumps(GOOD)) as server:
        Judge(endpoint(server, json_mode=True)).grade([GradeItem(QUESTION, ANSWER)])
    assert server.requests[0]["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize("text", [
    json.dumps(GOOD),
    "Here is my assessment:\n```json\n" + json.dumps(GOOD, indent=2) + "\n```\nThanks.",
    "Reasoning first. " + json.dumps(GOOD).replace('"score": 7', '"score": "7/10"'),
    json.dumps({k: ({**v, "verdict": v["verdict"].upper()} if "verdict" in v else v) for k, v in GOOD.items()}),
])
def test_criteria_parsing_tolerates_fences_prose_and_score_forms(text):
    values, reasoning = parse_criteria(text)
    assert values == {"conciseness": 1.0, "relevance": 1.0, "coherence": 1.0, "helpfulness": 0.0, "overall": 7.0}
    assert reasoning["overall"] == "Good but brief."


def test_a_broken_outer_object_is_not_mistaken_for_an_inner_one():
    broken = json.dumps(GOOD)[:-1] + ",}"
    assert parse_criteria(broken) is None and parse_criteria("no JSON here") is None


def test_flat_and_capitalised_criteria_shapes():
    values, _ = parse_criteria('{"Conciseness": "N", "Relevance": true, "Coherence": "y.", "Helpfulness": "No",'
                               ' "Overall": "8 out of 10"}')
    assert values == {"conciseness": 0.0, "relevance": 1.0, "coherence": 1.0, "helpfulness": 0.0, "overall": 8.0}


def test_yes_no_and_score_readers():
    assert [parse_yes_no(v) for v in ("Y", "n", "YES", " no ", "**N**", "Yes, it is short.", "True", False, 1)] == [
        1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    assert [parse_yes_no(v) for v in ("maybe", "Not really", "", None, 7, "Yesterday")] == [None] * 6
    assert [parse_score(v) for v in (7, "7/10", "7 / 10", "9.5", "10", 0, 11, "seven", True, None)] == [
        7.0, 7.0, 7.0, 9.5, 10.0, None, None, None, None, None]


def test_unparseable_output_is_a_parse_failure_not_a_zero_and_rows_stay():
    answers = iter(["I think it is quite good overall.", json.dumps(GOOD)])
    with OpenAIServer(lambda body: next(answers)) as server:
        judge = Judge(endpoint(server, concurrency=1))
        results = judge.grade([GradeItem(QUESTION, "first"), GradeItem(QUESTION, "second")])
    assert len(results) == 2
    bad, good = results
    assert all(s.value is None and s.missing == "parse failure" for s in bad.scores)
    assert bad.scores[0].detail["raw"] == "I think it is quite good overall." == bad.raw
    assert all(s.value is not None for s in good.scores)


def test_an_omitted_criterion_alone_is_a_parse_failure():
    partial = {k: v for k, v in GOOD.items() if k != "coherence"} | {"overall": {"score": "eleven"}}
    with OpenAIServer(lambda body: json.dumps(partial)) as server:
        [result] = Judge(endpoint(server)).grade([GradeItem(QUESTION, ANSWER)])
    assert result.score("judge_coherence").missing == "parse failure"
    assert result.score("judge_overall").missing == "parse failure"
    assert result.score("judge_conciseness").value == 1.0 and result.score("judge_helpfulness").value == 0.0


def test_no_items_no_requests():
    with OpenAIServer() as server:
        judge = Judge(endpoint(server))
        assert judge.grade([]) == [] and judge.compare([]) == []
    assert server.requests == [] and judge.usage == Usage()


# ------------------------------------------------------------------------------------------- failures


def test_rate_limits_are_retried_and_counted():
    with OpenAIServer(lambda body: json.dumps(GOOD)) as server:
        server.fail_next(429, 2)
        judge = Judge(endpoint(server))
        [result] = judge.grade([GradeItem(QUESTION, ANSWER)])
    assert [s.value for s in result.scores] == [1.0, 1.0, 1.0, 0.0, 7.0]
    assert result.usage.retries == 2 and result.usage.requests == 3 and len(server.requests) == 3
    assert judge.usage.retries == 2


def test_server_errors_give_up_after_max_retries():
    with OpenAIServer(lambda body: json.dumps(GOOD)) as server:
        server.fail_next(500, times=50)
        judge = Judge(endpoint(server, max_retries=2))
        [result] = judge.grade([GradeItem(QUESTION, ANSWER)])
    assert all(s.value is None and s.missing == "error: HTTP 500" for s in result.scores)
    assert "HTTP 500" in result.scores[0].detail["error"]
    assert len(server.requests) == 3 and result.usage == Usage(requests=3, retries=2)


def test_exhausted_rate_limit_is_rate_limited():
    with OpenAIServer(lambda body: json.dumps(GOOD)) as server:
        server.fail_next(429, times=50)
        [result] = Judge(endpoint(server, max_retries=1)).grade([GradeItem(QUESTION, ANSWER)])
    assert {s.missing for s in result.scores} == {"rate limited"}


def test_a_slow_answer_is_a_timeout():
    with OpenAIServer(lambda body: json.dumps(GOOD)) as server:
        server.fail_next(0, times=2, delay=1.5)
        start = time.monotonic()
        [result] = Judge(endpoint(server, timeout=0.3, max_retries=1)).grade([GradeItem(QUESTION, ANSWER)])
        elapsed = time.monotonic() - start
    assert {s.missing for s in result.scores} == {"timeout"} and result.usage.requests == 2
    assert elapsed < 1.5


def test_a_bad_request_is_refused_without_retrying():
    with OpenAIServer(lambda body: json.dumps(GOOD)) as server:
        server.fail_next(400)
        [result] = Judge(endpoint(server)).grade([GradeItem(QUESTION, ANSWER)])
    assert {s.missing for s in result.scores} == {"refused"} and len(server.requests) == 1


def test_a_wrong_key_stops_with_one_sentence():
    with OpenAIServer(lambda body: json.dumps(GOOD), api_key="k") as server:
        judge = Judge(endpoint(server, api_key="wrong"))
        with pytest.raises(TravelbotError, match="refused the API key.*TRAVELBOT_JUDGE_API_KEY"):
            judge.grade([GradeItem(QUESTION, ANSWER)] * 3)


def test_retry_after_header_forms():
    assert _retry_after_seconds({"retry-after": "2"}) == 2.0
    assert _retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert 0 <= _retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert _retry_after_seconds({}) is None and _retry_after_seconds({"retry-after": "soon"}) is None


# ------------------------------------------------------------------------------------------- pairwise

FIRST, SECOND = "Go in spring for cherry blossom.", "Kyoto is a city in Japan."


def first_shown(body: dict) -> str:
    """Which answer the judge was shown as assistant A."""
    text = user_text(body)
    return FIRST if text.index(FIRST) < text.index(SECOND) else SECOND


def test_pairwise_asks_both_orders_and_agreement_wins():
    def fair(body):  # always prefers FIRST, wherever it is shown
        return json.dumps({"reasoning": "FIRST is specific.", "verdict": "A" if first_shown(body) == FIRST else "B"})

    with OpenAIServer(fair) as server:
        [result] = Judge(endpoint(server)).compare([PairItem(QUESTION, FIRST, SECOND, GOLDEN)])
    assert len(server.requests) == 2 and {first_shown(b) for b in server.requests} == {FIRST, SECOND}
    assert all(GOLDEN in user_text(b) and server.requests[0]["messages"][0]["role"] == "system"
               for b in server.requests)
    assert (result.winner, result.consistent, result.missing, result.verdicts) == ("A", True, None, ("A", "A"))
    assert result.prompt_version == "pairwise_reference_v1" and result.usage.requests == 2
    assert result.reasoning == ("FIRST is specific.", "FIRST is specific.")


def test_a_position_biased_judge_gives_an_inconsistent_tie(caplog):
    biased = OpenAIServer(lambda body: '{"reasoning": "The first is better.", "verdict": "A"}')
    with biased as server, caplog.at_level(logging.INFO, logger="travelbot.evaluation.judge"):
        [result] = Judge(endpoint(server)).compare([PairItem(QUESTION, FIRST, SECOND)])
    assert (result.winner, result.consistent, result.verdicts) == ("tie", False, ("A", "B"))
    assert result.prompt_version == "pairwise_v1" and "swap" in caplog.text


def test_one_unreadable_order_leaves_the_other_unconfirmed():
    def half(body):
        return "[[B]] seems right" if first_shown(body) == FIRST else "I cannot decide, sorry."

    with OpenAIServer(half) as server:
        [result] = Judge(endpoint(server)).compare([PairItem(QUESTION, FIRST, SECOND)])
    assert (result.winner, result.consistent, result.missing) == ("B", None, None)
    assert result.verdicts == ("B", None) and result.order_missing == (None, "parse failure")
    assert result.raw[1] == "I cannot decide, sorry."


def test_both_orders_unreadable_is_a_missing_winner():
    with OpenAIServer(lambda body: "no idea") as server:
        [result] = Judge(endpoint(server)).compare([PairItem(QUESTION, FIRST, SECOND)])
    assert (result.winner, result.missing, result.consistent) == (None, "parse failure", None)


def test_pairwise_reader():
    assert parse_pairwise('```json\n{"reasoning": "r", "verdict": "Tie"}\n```') == ("tie", "r")
    assert parse_pairwise('{"verdict": "Assistant B"}')[0] == "B"
    assert parse_pairwise("B is clearer. Final verdict: [[C]]")[0] == "tie"
    assert parse_pairwise("[[A]] or maybe [[B]]")[0] is None


# ------------------------------------------------------------------------------------------- throughput


def test_concurrency_is_limited_and_usage_is_summed_across_threads():
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def slow(body):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return json.dumps(GOOD)

    with OpenAIServer(slow) as server:
        judge = Judge(endpoint(server, concurrency=3))
        runs = [threading.Thread(target=judge.grade, args=([GradeItem(QUESTION, f"answer {i}") for i in range(6)],))
                for _ in range(2)]
        for thread in runs:
            thread.start()
        for thread in runs:
            thread.join()
    assert state["max"] == 3  # two callers at once still share one limit
    assert judge.usage.requests == 12 == len(server.requests)


def test_cost_is_tokens_times_price():
    with OpenAIServer(lambda body: json.dumps(GOOD)) as server:
        judge = Judge(endpoint(server, price_prompt=2.5, price_completion=10.0))
        results = judge.grade([GradeItem(QUESTION, ANSWER), GradeItem(QUESTION, "Go in May.")])
    total = sum((r.usage for r in results), Usage())
    assert total.prompt_tokens > 0 and total.completion_tokens > 0
    expected = (total.prompt_tokens * 2.5 + total.completion_tokens * 10.0) / 1e6
    assert judge.usage.cost_usd == pytest.approx(expected) and total.cost_usd == pytest.approx(expected)


# ------------------------------------------------------------------------------------------- settings


def test_endpoint_from_settings_reads_judge_variables():
    settings = Settings.from_env({"OPENAI_API_KEY": "sk-openai",
        "TRAVELBOT_JUDGE_MODEL": "gpt-4o-mini-2024-07-18", "TRAVELBOT_JUDGE_CONCURRENCY": "8",
        "TRAVELBOT_JUDGE_TIMEOUT": "30"})
    assert settings.judge == JudgeSettings(model="gpt-4o-mini-2024-07-18", concurrency=8, timeout=30.0)
    ep = JudgeEndpoint.from_settings(settings)
    assert (ep.model, ep.base_url, ep.api_key, ep.concurrency, ep.timeout) == (
        "gpt-4o-mini-2024-07-18", None, "sk-openai", 8, 30.0)
    assert (ep.price_prompt, ep.price_completion) == (0.15, 0.60)  # OpenAI's list price
    assert "sk-openai" not in repr(ep)

    local = JudgeEndpoint.from_settings(Settings.from_env({"OPENAI_API_KEY": "sk-openai",
        "TRAVELBOT_JUDGE_MODEL": "gpt-4o", "TRAVELBOT_JUDGE_BASE_URL": "http://127.0.0.1:8000/v1",
        "TRAVELBOT_JUDGE_API_KEY": "local", "TRAVELBOT_JUDGE_PRICE_COMPLETION": "1.5"}))
    assert (local.base_url, local.api_key, local.price_prompt, local.price_completion) == (
        "http://127.0.0.1:8000/v1", "local", 0.0, 1.5)


def test_endpoint_from_settings_explains_what_is_wrong():
    with pytest.raises(TravelbotError, match="set TRAVELBOT_JUDGE_MODEL.*gpt-4o.*OPENAI_API_KEY"):
        JudgeEndpoint.from_settings(Settings(openai_api_key="sk"))
    for name, value in (("CONCURRENCY", "0"), ("CONCURRENCY", "two"), ("TIMEOUT", "-1"), ("PRICE_PROMPT", "nan")):
        with pytest.raises(TravelbotError, match=f"TRAVELBOT_JUDGE_{name} must be"):
            Settings.from_env({"TRAVELBOT_JUDGE_MODEL": "gpt-4o", f"TRAVELBOT_JUDGE_{name}": value})
    with pytest.raises(TravelbotError, match="needs an API key"):  # never reaches api.openai.com without a key
        Judge(JudgeEndpoint.from_settings(Settings(judge=JudgeSettings(model="gpt-4o"))))


def test_judge_settings_go_to_a_child_process_as_the_variables_they_came_from():
    env = {"TRAVELBOT_JUDGE_MODEL": "gpt-4o", "TRAVELBOT_JUDGE_BASE_URL": "http://127.0.0.1:8000/v1",
           "TRAVELBOT_JUDGE_API_KEY": "local", "TRAVELBOT_JUDGE_MAX_RETRIES": "0", "TRAVELBOT_JUDGE_JSON_MODE": "1"}
    judge = Settings.from_env(env).judge
    assert JudgeSettings.from_env({k: v for k, v in judge.environment().items() if v is not None}) == judge
    assert JudgeSettings().environment()["TRAVELBOT_JUDGE_MODEL"] is None  # no judge: the variable is unset


# ------------------------------------------------------------------------------------------- prompts, keys


@pytest.mark.parametrize("version", sorted(PROMPT_VERSIONS.values()))
def test_every_prompt_version_renders_every_placeholder(version):
    system, _ = load_prompt(version)
    assert (system is not None) == version.startswith("pairwise")  # MT-Bench has a system prompt, LangChain not
    values = {"question": "Q {answer}", "answer": "ans {x}", "answer_a": "one", "answer_b": "two", "reference": "gold"}
    text = "\n".join(m["content"] for m in render_prompt(version, **values))
    assert "Q {answer}" in text  # an answer's braces are never filled in
    assert not re.search(r"\{[a-z_]+\}", text.replace("{answer}", "").replace("{x}", ""))
    assert "Never edit" not in text and "[user]" not in text  # file notes and section lines stay out
    assert ("gold" in text) == ("reference" in version)


def test_verdict_key_is_stable_and_covers_every_input():
    key = verdict_key("criteria", "criteria_v1", "gpt-4o", question="Q", answer="A", reference=None)
    assert key == verdict_key("criteria", "criteria_v1", "gpt-4o", reference=None, answer="A", question="Q")
    assert len(key) == 64 and key != verdict_key("criteria", "criteria_v2", "gpt-4o", question="Q", answer="A",
                                                 reference=None)
    assert key != verdict_key("criteria", "criteria_v1", "gpt-4o", question="Q", answer="A ", reference=None)
    with OpenAIServer() as server:
        judge = Judge(endpoint(server))
        assert judge.key(GradeItem("Q", "A")) == key
        assert judge.key(PairItem("Q", "x", "y")) != judge.key(PairItem("Q", "y", "x"))
