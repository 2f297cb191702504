"""The study's five Ragas metrics, judged by any OpenAI-compatible model, embedded with MiniLM on this machine.

    endpoint = RagasEndpoint(base_url=None, model="gpt-4o", api_key=key)
    rows = ragas_scores([RagasItem(question, answer, contexts, golden_answer)], endpoint)

Ragas is an optional extra (``pip install -e ".[ragas]"``), imported only when scoring. We call its metric
collection one (answer, metric) at a time: a failure there raises instead of turning into the silent NaN that
``ragas.evaluate`` returns, so every score that could not be had is missing with its reason ("parse failure",
"timeout", "rate limited", "refused", "error: ..."), never NaN and never a dropped row. Ragas' usage
analytics are switched off before it is imported; embeddings never leave the machine.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import logging
import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from travelbot.config import quiet_library_analytics
from travelbot.errors import InvalidInputError, TravelbotError
from travelbot.evaluation.scores import Score, ScorerInfo

log = logging.getLogger(__name__)

# Bump when the way we call ragas changes (metric classes, retries, embedder), so stored scores are recomputed.
RECIPE = "1"
PARSE_RETRIES = 1  # instructor re-asks once with the parse error before the score is a "parse failure"
INSTALL_HINT = 'the ragas extra is not installed: run `pip install -e ".[ragas]"`.'


def _installed_version() -> str:
    try:
        return importlib.metadata.version("ragas")
    except importlib.metadata.PackageNotFoundError:
        return "none"


RAGAS = ScorerInfo(
    "ragas",
    f"{_installed_version()}+tb{RECIPE}",
    ("faithfulness", "answer_relevancy", "context_precision", "context_recall", "answer_correctness"),
    "Ragas faithfulness, answer relevancy, context precision and recall, and answer correctness: "
    "an LLM judge over an OpenAI-compatible endpoint, MiniLM embeddings on this machine.",
    label="Ragas (LLM)", kind="llm", scale="0-1",
)

# What each metric needs besides the question and the answer: (retrieved contexts, golden answer).
NEEDS = {
    "faithfulness": (True, False),
    "answer_relevancy": (False, False),
    "context_precision": (True, True),
    "context_recall": (True, True),
    "answer_correctness": (False, True),
}


@dataclass(frozen=True)
class RagasItem:
    """One answer to score: ``contexts`` empty for a variant without retrieval, ``golden`` None without one."""

    question: str
    answer: str
    contexts: tuple[str, ...]
    golden: str | None


@dataclass(frozen=True)
class RagasEndpoint:
    """The judge: an OpenAI-compatible chat endpoint (``base_url`` None means OpenAI itself)."""

    base_url: str | None
    model: str
    api_key: str | None
    timeout: float = 60  # seconds per request
    max_retries: int = 3  # the client's retries on 429, 5xx, timeouts and lost connections


def ragas_available() -> str | None:
    """None when ragas can be used; otherwise one sentence saying how to install it."""
    quiet_library_analytics()  # Ragas posts usage analytics unless told not to, before its first import
    try:
        from ragas._analytics import do_not_track
        from ragas.llms import llm_factory  # noqa: F401
        from ragas.metrics.collections import Faithfulness  # noqa: F401
    except ImportError as exc:
        if (exc.name or "").split(".")[0] in ("ragas", "instructor") or _installed_version() == "none":
            return INSTALL_HINT
        return (f"ragas is installed but cannot be imported ({exc}): reinstall it with "
                '`pip install -e ".[ragas]"`, which pins langchain-community below 0.4.')
    except Exception as exc:  # noqa: BLE001 - a broken dependency raises all sorts at import time
        return f"ragas cannot be imported ({type(exc).__name__}: {exc}): reinstall it with `pip install -e \".[ragas]\"`."
    do_not_track.cache_clear()  # it caches the switch: forget a reading taken before we set it
    return None


def ragas_scores(
    items: Sequence[RagasItem],
    endpoint: RagasEndpoint,
    *,
    metrics: Sequence[str] = RAGAS.metrics,
    max_workers: int = 4,
) -> list[list[Score]]:
    """One list of Scores per item, in ``metrics`` order; ``max_workers`` scores are computed at once.

    Raises ``TravelbotError`` only for what would fail every request alike (no key, a refused key, an unknown
    model, no quota); everything else is a missing score.
    """
    metrics = tuple(metrics)
    unknown = [m for m in metrics if m not in NEEDS]
    if unknown:
        raise InvalidInputError(f"Unknown Ragas metric {', '.join(unknown)}; choose from {', '.join(NEEDS)}.")
    if max_workers < 1:
        raise InvalidInputError("max_workers must be at least 1.")
    items = list(items)
    if not items or not metrics:
        return [[] for _ in items]
    problem = ragas_available()
    if problem:
        return [[Score.missing_because(m, f"unavailable: {problem}") for m in metrics] for _ in items]
    if endpoint.base_url is None and not endpoint.api_key:
        raise TravelbotError("Ragas needs a judge API key: set OPENAI_API_KEY or TRAVELBOT_JUDGE_API_KEY, "
                             "or TRAVELBOT_JUDGE_BASE_URL for a local OpenAI-compatible server.")
    rows: list[list[Score | None]] = [[_precheck(item, m) for m in metrics] for item in items]
    todo = [(i, j) for i, row in enumerate(rows) for j, score in enumerate(row) if score is None]
    if todo:
        computed = _run(_score_all(items, metrics, todo, endpoint, max_workers))
        for (i, j), score in zip(todo, computed, strict=True):
            rows[i][j] = score
    return [[s for s in row if s is not None] for row in rows]


def _precheck(item: RagasItem, metric: str) -> Score | None:
    """The reason ``metric`` cannot be had for ``item`` before asking anyone, or None to go ahead."""
    needs_contexts, needs_golden = NEEDS[metric]
    if not item.question.strip():
        return Score.missing_because(metric, "error: empty question")
    if not item.answer.strip():
        return Score.missing_because(metric, "error: empty answer")
    if needs_contexts and not any(c.strip() for c in item.contexts):
        return Score.missing_because(metric, "no retrieved contexts")
    if needs_golden and not (item.golden or "").strip():
        return Score.missing_because(metric, "no golden answer")
    return None


def _run(coroutine: Any) -> Any:
    """Run a coroutine to the end, also from a thread that already has a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragas") as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _score_all(items: list[RagasItem], metrics: tuple[str, ...], todo: list[tuple[int, int]],
                     endpoint: RagasEndpoint, max_workers: int) -> list[Score]:
    import openai
    from ragas.llms import llm_factory

    client = openai.AsyncOpenAI(base_url=endpoint.base_url or "https://api.openai.com/v1",
                                api_key=endpoint.api_key or "not-needed", timeout=endpoint.timeout,
                                max_retries=endpoint.max_retries)
    try:
        llm = llm_factory(endpoint.model, client=client, max_retries=PARSE_RETRIES)
        scorers = _metric_objects(sorted({metrics[j] for _, j in todo}), llm)
        gate = asyncio.Semaphore(max_workers)

        async def one(i: int, j: int) -> Score:
            async with gate:
                return await _score_one(scorers[metrics[j]], metrics[j], items[i], endpoint)

        return list(await asyncio.gather(*(one(i, j) for i, j in todo)))
    finally:
        await client.close()


def _metric_objects(names: list[str], llm: Any) -> dict[str, Any]:
    from ragas.metrics.collections import (
        AnswerCorrectness,
        AnswerRelevancy,
        ContextPrecision,
        ContextRecall,
        Faithfulness,
    )

    made = {
        "faithfulness": lambda: Faithfulness(llm=llm),
        "answer_relevancy": lambda: AnswerRelevancy(llm=llm, embeddings=minilm_embeddings()),
        "context_precision": lambda: ContextPrecision(llm=llm),  # with the golden answer as reference
        "context_recall": lambda: ContextRecall(llm=llm),
        "answer_correctness": lambda: AnswerCorrectness(llm=llm, embeddings=minilm_embeddings()),
    }
    return {name: made[name]() for name in names}


async def _score_one(scorer: Any, metric: str, item: RagasItem, endpoint: RagasEndpoint) -> Score:
    contexts = [c for c in item.contexts if c.strip()]
    inputs: dict[str, Any] = {"user_input": item.question}
    if metric in ("faithfulness", "answer_relevancy", "answer_correctness"):
        inputs["response"] = item.answer
    if NEEDS[metric][0]:
        inputs["retrieved_contexts"] = contexts
    if NEEDS[metric][1]:
        inputs["reference"] = item.golden
    try:
        result = await scorer.ascore(**inputs)
    except TravelbotError as exc:  # the embedder is missing
        return Score.missing_because(metric, f"unavailable: {exc}")
    except Exception as exc:  # noqa: BLE001 - every failure is a missing score with its reason, never a lost row
        reason, detail = _why(exc, endpoint)
        log.debug("ragas %s failed: %s (%s)", metric, reason, detail.get("error"))
        return Score.missing_because(metric, reason, **detail)
    value = getattr(result, "value", result)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return Score.missing_because(metric, "error: ragas returned no number", value=repr(value)[:200])
    if not math.isfinite(value):  # ragas' own "could not tell": no statements found, nothing classified
        why = _NAN_WHY.get(metric, "no reason given")
        return Score.missing_because(metric, f"error: ragas returned NaN ({why})", judge_model=endpoint.model)
    detail: dict[str, Any] = {"judge_model": endpoint.model}
    if getattr(result, "reason", None):
        detail["reason"] = str(result.reason)
    return Score(metric, value, None, detail)


_NAN_WHY = {
    "faithfulness": "the judge found no statements in the answer",
    "context_recall": "the judge classified no statements of the golden answer",
}

_PARSE_ERRORS = {"ValidationError", "JSONDecodeError", "ResponseParsingError", "AsyncValidationError",
                 "IncompleteOutputException"}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _why(exc: Exception, endpoint: RagasEndpoint) -> tuple[str, dict[str, Any]]:
    """The missing reason for a failed score, and what to keep of the error (last raw reply included)."""
    import openai

    detail: dict[str, Any] = {"error": f"{type(exc).__name__}: {exc}"[:500], "judge_model": endpoint.model}
    raw = _last_completion(exc)
    if raw is not None:
        detail["raw"] = raw[:500]
    for error in _chain(exc):
        if isinstance(error, (openai.APITimeoutError, asyncio.TimeoutError, TimeoutError)):
            return "timeout", detail
        if isinstance(error, openai.APIConnectionError):
            return "error: connection failed", detail
        if isinstance(error, openai.APIStatusError):
            _raise_if_hopeless(error, endpoint)
            if error.status_code == 429:
                return "rate limited", detail
            if error.status_code >= 500:
                return f"error: HTTP {error.status_code}", detail
            return "refused", detail  # 400 (content filter), 413, 422: this item, as asked, will not be judged
        if type(error).__name__ in _PARSE_ERRORS or isinstance(error, json.JSONDecodeError):
            if type(error).__name__ == "IncompleteOutputException":
                detail["error"] = "the judge's reply was cut off at max_tokens"
            return "parse failure", detail
    if getattr(exc, "failed_attempts", None):  # instructor gave up re-asking for valid JSON
        return "parse failure", detail
    return f"error: {type(exc).__name__}: {exc}"[:200], detail


def _last_completion(exc: BaseException) -> str | None:
    completion = getattr(exc, "last_completion", None)
    try:
        return completion.choices[0].message.content if completion is not None else None
    except (AttributeError, IndexError, TypeError):
        return None


def _raise_if_hopeless(error: Any, endpoint: RagasEndpoint) -> None:
    """Errors every request would meet alike stop the run with one sentence instead of N missing scores."""
    where = endpoint.base_url or "OpenAI"
    if error.status_code in (401, 403):
        raise TravelbotError(f"The Ragas judge endpoint {where} refused the API key (HTTP {error.status_code}): set "
                             f"TRAVELBOT_JUDGE_API_KEY or OPENAI_API_KEY to a key with access to {endpoint.model}.")
    if error.status_code == 404:
        raise TravelbotError(f"The Ragas judge endpoint {where} has no model {endpoint.model!r} (HTTP 404): "
                             "check TRAVELBOT_JUDGE_MODEL and TRAVELBOT_JUDGE_BASE_URL.")
    if error.status_code == 429 and getattr(error, "code", None) == "insufficient_quota":
        raise TravelbotError(f"The Ragas judge endpoint {where} says the account is out of quota: add credit "
                             "or set TRAVELBOT_JUDGE_API_KEY to another key.")


@lru_cache(maxsize=1)
def minilm_embeddings() -> Any:
    """Ragas embeddings over the study's MiniLM (``travelbot.retrieval.embed``): loaded once, never downloaded."""
    from ragas.embeddings.base import BaseRagasEmbedding

    from travelbot.retrieval import embed

    lock = threading.Lock()  # one encoder, called from ragas' worker threads

    class MiniLMEmbeddings(BaseRagasEmbedding):
        def embed_text(self, text: str, **kwargs: Any) -> list[float]:
            return self.embed_texts([text])[0]

        def embed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
            with lock:
                return [list(map(float, v)) for v in embed(list(texts))]

        async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
            return await asyncio.to_thread(self.embed_text, text)

        async def aembed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
            return await asyncio.to_thread(self.embed_texts, list(texts))

    return MiniLMEmbeddings()
