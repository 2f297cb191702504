"""The study's GPT-4 judge: criteria grades and pairwise verdicts from any OpenAI-compatible endpoint.

    judge = Judge(JudgeEndpoint.from_settings(get_settings()))
    grades = judge.grade([GradeItem(question, answer, golden_answer)])
    verdicts = judge.compare([PairItem(question, answer_a, answer_b, golden_answer)])

Prompts are versioned text files in ``prompts/``, and the version travels with every verdict. A verdict
that could not be had is a missing score ("parse failure", "timeout", "refused", "rate limited",
"error: HTTP 500"), never a zero. Errors that would fail every request alike (a refused key, an
unknown model, no quota) raise one ``TravelbotError`` sentence instead. Retries are our own (the
client's are off) so that they are counted in ``Usage``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, astuple, dataclass, field, replace
from email.utils import parsedate_to_datetime
from importlib.resources import files
from typing import Any, Self

from travelbot.config import Settings
from travelbot.errors import TravelbotError
from travelbot.evaluation.scores import Score, ScorerInfo
from travelbot.evaluation.verdicts import (  # noqa: F401 - part of the judge's public API
    JUDGE_CRITERIA,
    find_json,
    parse_criteria,
    parse_pairwise,
    parse_score,
    parse_yes_no,
)

log = logging.getLogger(__name__)

METRICS = tuple(f"judge_{name}" for name in JUDGE_CRITERIA) + ("judge_overall",)
# The version stored with a score adds the prompts' versions and the judge's model (see ``Judge.info``).
JUDGE = ScorerInfo("judge", "", METRICS, "LLM judge: four yes/no criteria and a 1-10 overall score",
                   label="LLM judge: criteria + 1–10", kind="llm", scale="0/1 criteria, 1-10 overall")
PAIRWISE = ScorerInfo("pairwise", "", (), "LLM judge: which of two variants' answers is better, asked in both orders "
                      "(verdicts, not per-answer scores)", label="LLM judge: pairwise, both orders", kind="llm",
                      scale="A, B or tie")
# The prompt file (without .txt) used for each kind of verdict, with and without a golden answer.
PROMPT_VERSIONS = {
    ("criteria", False): "criteria_v1", ("criteria", True): "criteria_reference_v1",
    ("pairwise", False): "pairwise_v1", ("pairwise", True): "pairwise_reference_v1",
}
# OpenAI list prices, USD per 1M tokens (prompt, completion), as published on openai.com/api/pricing
# in 2024-10. Used only for OpenAI's own endpoint when TRAVELBOT_JUDGE_PRICE_* are unset.
LIST_PRICES = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-2024-05-13": (5.00, 15.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
}


def list_price(model: str) -> tuple[float, float]:
    """OpenAI's list price for ``model`` (a dated snapshot costs what its alias costs), else (0, 0)."""
    if model in LIST_PRICES:
        return LIST_PRICES[model]
    return LIST_PRICES.get(re.sub(r"-(\d{4}-\d{2}-\d{2}|\d{4})$", "", model), (0.0, 0.0))


def verdict_key(kind: str, prompt_version: str, model: str, **inputs: Any) -> str:
    """A stable cache key for one verdict: sha256 of the canonical JSON of everything that decides it."""
    payload = {"kind": kind, "prompt_version": prompt_version, "model": model, "inputs": inputs}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------- endpoint

def _setting(env: Mapping[str, str], name: str, default: float, convert: Callable[[str], float],
             ok: Callable[[float], bool], what: str) -> Any:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = convert(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or not ok(value):
        raise TravelbotError(f"{name} must be {what}, not {raw!r}.")
    return value


@dataclass(frozen=True)
class JudgeEndpoint:
    """Where the judge runs and what it costs (prices in USD per 1M tokens)."""

    model: str
    base_url: str | None = None  # None: OpenAI itself
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0  # seconds per request
    max_retries: int = 4  # after the first try, on 429, 5xx, timeouts and connection errors
    concurrency: int = 4  # requests in flight at once
    price_prompt: float = 0.0
    price_completion: float = 0.0
    backoff: float = 1.0  # seconds before the first retry; doubles each time, with jitter
    max_backoff: float = 60.0  # longest wait between tries, Retry-After included
    json_mode: bool = False  # send response_format=json_object (some servers reject it)

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_retries < 0 or self.timeout <= 0 or self.backoff < 0:
            raise ValueError(f"invalid judge endpoint settings: {self!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> JudgeEndpoint:
        """The endpoint described by the ``TRAVELBOT_JUDGE_*`` variables (and ``OPENAI_*`` as fallback)."""
        env = settings.extra
        model = (env.get("TRAVELBOT_JUDGE_MODEL") or "").strip()
        if not model:
            raise TravelbotError(
                "No judge model is set: set TRAVELBOT_JUDGE_MODEL (e.g. gpt-4o) together with OPENAI_API_KEY, "
                "or with TRAVELBOT_JUDGE_BASE_URL for any OpenAI-compatible server.")
        base_url = (env.get("TRAVELBOT_JUDGE_BASE_URL") or "").strip() or settings.openai_base_url or None
        api_key = (env.get("TRAVELBOT_JUDGE_API_KEY") or "").strip() or settings.openai_api_key or None
        prompt_price, completion_price = list_price(model) if _is_openai(base_url) else (0.0, 0.0)
        price = "a price in USD per million tokens (0 or more)"
        return cls(
            model=model, base_url=base_url, api_key=api_key,
            timeout=_setting(env, "TRAVELBOT_JUDGE_TIMEOUT", 60.0, float, lambda v: v > 0, "a number of seconds above 0"),
            max_retries=_setting(env, "TRAVELBOT_JUDGE_MAX_RETRIES", 4, int, lambda v: v >= 0, "a whole number (0 or more)"),
            concurrency=_setting(env, "TRAVELBOT_JUDGE_CONCURRENCY", 4, int, lambda v: v >= 1, "a whole number (1 or more)"),
            price_prompt=_setting(env, "TRAVELBOT_JUDGE_PRICE_PROMPT", prompt_price, float, lambda v: v >= 0, price),
            price_completion=_setting(env, "TRAVELBOT_JUDGE_PRICE_COMPLETION", completion_price, float,
                                      lambda v: v >= 0, price),
            json_mode=(env.get("TRAVELBOT_JUDGE_JSON_MODE") or "").strip().lower() in {"1", "true", "yes", "on"},
        )


def _is_openai(base_url: str | None) -> bool:
    return base_url is None or "api.openai.com" in base_url


def _has_reference(item: GradeItem | PairItem) -> bool:
    """Whether the reference-guided prompt applies (a blank golden answer counts as none)."""
    return bool(item.reference and item.reference.strip())


# ---------------------------------------------------------------------------------------------- records

@dataclass(frozen=True)
class Usage:
    """Requests sent (retries included), retries, tokens and their cost in USD."""

    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(astuple(self), astuple(other))))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GradeItem:
    question: str
    answer: str
    reference: str | None = None  # the golden answer, when there is one


@dataclass(frozen=True)
class GradeResult:
    """Five scores (``METRICS``) for one answer, with the judge's reasoning per criterion and raw text."""

    scores: list[Score]
    reasoning: dict[str, str]
    raw: str
    prompt_version: str
    usage: Usage

    def score(self, metric: str) -> Score:
        return next(s for s in self.scores if s.metric == metric)


@dataclass(frozen=True)
class PairItem:
    question: str
    answer_a: str
    answer_b: str
    reference: str | None = None


@dataclass(frozen=True)
class PairResult:
    """Which answer won ("A", "B", "tie"; None when ``missing`` says why) over both presentation orders.

    ``verdicts``, ``reasoning`` and ``raw`` are per order (as given, then swapped); verdicts are always in
    the item's own labels. ``consistent`` is None when only one order gave a verdict.
    """

    winner: str | None
    missing: str | None
    consistent: bool | None
    verdicts: tuple[str | None, str | None]
    reasoning: tuple[str, str]
    raw: tuple[str, str]
    prompt_version: str
    usage: Usage
    order_missing: tuple[str | None, str | None] = (None, None)  # why an order has no verdict


@dataclass(frozen=True)
class _Reply:
    text: str | None  # None when no answer came back; ``missing`` says why
    missing: str | None
    error: str
    usage: Usage


# ---------------------------------------------------------------------------------------------- prompts

@functools.cache
def load_prompt(version: str) -> tuple[str | None, str]:
    """The (system, user) templates of a prompt version; leading ``#`` lines are notes, not prompt."""
    text = (files("travelbot.evaluation") / "prompts" / f"{version}.txt").read_text(encoding="utf-8")
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        header = re.fullmatch(r"\[(system|user)\]\s*", line)
        if header:
            current = sections.setdefault(header.group(1), [])
        elif current is not None:
            current.append(line)
        elif line.strip() and not line.startswith("#"):
            raise ValueError(f"prompt {version}: text before the first [system] or [user] line")
    if "user" not in sections:
        raise ValueError(f"prompt {version} has no [user] section")
    system = "\n".join(sections["system"]).strip() if "system" in sections else None
    return system, "\n".join(sections["user"]).strip()


def render_prompt(version: str, **values: str) -> list[dict[str, str]]:
    """Chat messages for a prompt version, each ``{name}`` replaced once (answers may contain braces)."""
    def fill(template: str) -> str:
        return re.sub(r"\{([a-z_]+)\}", lambda m: values[m.group(1)], template)

    system, user = load_prompt(version)
    messages = [{"role": "system", "content": fill(system)}] if system else []
    return messages + [{"role": "user", "content": fill(user)}]


_SWAPPED = {"A": "B", "B": "A", "tie": "tie", None: None}


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds asked for by ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), if any."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) / scale)
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    return None


# ---------------------------------------------------------------------------------------------- judge

class Judge:
    """Asks the judge model, ``endpoint.concurrency`` requests at a time; safe to share between threads."""

    def __init__(self, endpoint: JudgeEndpoint, client: Any = None) -> None:
        try:
            import openai
        except ImportError:
            raise TravelbotError("The openai package is needed for the judge: run `pip install openai`.") from None
        self.endpoint = endpoint
        self._openai = openai
        if client is None:
            if endpoint.base_url is None and not endpoint.api_key:
                raise TravelbotError("The judge needs an API key: set OPENAI_API_KEY or TRAVELBOT_JUDGE_API_KEY, "
                                     "or TRAVELBOT_JUDGE_BASE_URL for a local OpenAI-compatible server.")
            # Everything passed explicitly, so the client reads nothing from the environment for these.
            client = openai.OpenAI(base_url=endpoint.base_url or "https://api.openai.com/v1",
                                   api_key=endpoint.api_key or "not-needed", timeout=endpoint.timeout, max_retries=0)
        elif hasattr(client, "with_options"):
            client = client.with_options(max_retries=0, timeout=endpoint.timeout)
        self.client = client
        self._gate = threading.BoundedSemaphore(endpoint.concurrency)
        self._lock = threading.Lock()
        self._usage = Usage()
        self._random = random.Random()

    @property
    def usage(self) -> Usage:
        """Everything this judge has asked for so far."""
        with self._lock:
            return self._usage

    @property
    def info(self) -> ScorerInfo:
        version = f"{PROMPT_VERSIONS['criteria', False]}+{PROMPT_VERSIONS['criteria', True]}:{self.endpoint.model}"
        return replace(JUDGE, version=version)

    def key(self, item: GradeItem | PairItem) -> str:
        """The cache key of this item's verdict from this judge (see ``verdict_key``)."""
        kind = "criteria" if isinstance(item, GradeItem) else "pairwise"
        version = PROMPT_VERSIONS[kind, _has_reference(item)]
        return verdict_key(kind, version, self.endpoint.model, **asdict(item))

    def close(self) -> None:
        if hasattr(self.client, "close"):
            self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------- criteria

    def grade(self, items: Sequence[GradeItem]) -> list[GradeResult]:
        """One ``GradeResult`` per item, in order; a failed item has missing scores, never fewer rows."""
        versions = [PROMPT_VERSIONS["criteria", _has_reference(item)] for item in items]
        replies = self._ask([
            render_prompt(version, question=item.question, answer=item.answer, reference=item.reference or "")
            for version, item in zip(versions, items)])
        return [self._grade_result(version, reply) for version, reply in zip(versions, replies)]

    def _grade_result(self, version: str, reply: _Reply) -> GradeResult:
        raw = reply.text or ""
        parsed = parse_criteria(raw) if reply.text is not None else None
        about = {"prompt_version": version, "judge_model": self.endpoint.model}
        if parsed is None:
            reason, why = (reply.missing, {"error": reply.error}) if reply.missing else ("parse failure", {"raw": raw})
            scores = [Score.missing_because(metric, reason, **why, **about) for metric in METRICS]
            return GradeResult(scores, {}, raw, version, reply.usage)
        values, reasoning = parsed
        scores = []
        for name, metric in zip(JUDGE_CRITERIA + ("overall",), METRICS):
            detail = {"reasoning": reasoning[name], **about}
            if values[name] is None:
                scores.append(Score.missing_because(metric, "parse failure", raw=raw, **detail))
            else:
                scores.append(Score(metric, values[name], None, detail))
        return GradeResult(scores, reasoning, raw, version, reply.usage)

    # ----------------------------------------------------------------------------------- pairwise

    def compare(self, items: Sequence[PairItem]) -> list[PairResult]:
        """One ``PairResult`` per item: asked as given and with the answers swapped; disagreement is a tie."""
        versions = [PROMPT_VERSIONS["pairwise", _has_reference(item)] for item in items]
        requests = []
        for version, item in zip(versions, items):
            for first, second in ((item.answer_a, item.answer_b), (item.answer_b, item.answer_a)):
                requests.append(render_prompt(version, question=item.question, answer_a=first, answer_b=second,
                                              reference=item.reference or ""))
        replies = self._ask(requests)
        return [self._pair_result(version, replies[2 * i], replies[2 * i + 1]) for i, version in enumerate(versions)]

    def _pair_result(self, version: str, first: _Reply, second: _Reply) -> PairResult:
        verdicts, reasoning, why = [], [], []
        for swapped, reply in ((False, first), (True, second)):
            verdict, why_not = None, reply.missing
            if reply.text is not None:
                verdict, text = parse_pairwise(reply.text)
                reasoning.append(text)
                why_not = None if verdict else "parse failure"
            else:
                reasoning.append("")
            verdicts.append(_SWAPPED[verdict] if swapped else verdict)
            why.append(why_not)
        a, b = verdicts
        winner, missing, consistent = None, None, None
        if a and b:
            winner, consistent = (a, True) if a == b else ("tie", False)
            if not consistent:
                log.info("judge verdicts differ when the answers swap places (%s, then %s): counted as a tie", a, b)
        elif a or b:
            winner = a or b
        else:  # a failed request outranks a parse failure: it may succeed when asked again
            missing = next((w for w in why if w != "parse failure"), "parse failure")
        return PairResult(winner, missing, consistent, (a, b), (reasoning[0], reasoning[1]),
                          (first.text or "", second.text or ""), version, first.usage + second.usage, (why[0], why[1]))

    # ----------------------------------------------------------------------------------- requests

    def _ask(self, requests: list[list[dict[str, str]]]) -> list[_Reply]:
        if not requests:
            return []
        pool = ThreadPoolExecutor(max_workers=min(self.endpoint.concurrency, len(requests)),
                                  thread_name_prefix="judge")
        try:
            return list(pool.map(self._complete, requests))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _complete(self, messages: list[dict[str, str]]) -> _Reply:
        """One chat completion, retried on 429, 5xx, timeouts and lost connections with growing waits."""
        ep, openai = self.endpoint, self._openai
        request: dict[str, Any] = {"model": ep.model, "messages": messages, "temperature": 0, "timeout": ep.timeout}
        if ep.json_mode:
            request["response_format"] = {"type": "json_object"}
        sent = 0
        while True:
            sent += 1
            retry_after = None
            try:
                with self._gate:
                    response = self.client.chat.completions.create(**request)
            except openai.APITimeoutError:
                missing, error = "timeout", f"no answer within {ep.timeout:g} s"
            except openai.APIConnectionError as exc:
                missing, error = "error: connection failed", str(exc)
            except openai.APIStatusError as exc:
                status, error = exc.status_code, f"HTTP {exc.status_code}: {exc.message}"
                self._raise_if_hopeless(exc)
                if status == 429:
                    missing, retry_after = "rate limited", _retry_after_seconds(exc.response.headers)
                elif status >= 500:
                    missing = f"error: HTTP {status}"
                else:  # 400 (e.g. content filter), 413, 422: this item, as asked, will not be judged
                    return self._count(_Reply(None, "refused", error, Usage(sent, sent - 1)))
            else:
                return self._count(self._reply(response, sent))
            if sent > ep.max_retries:
                log.warning("judge request given up after %d tries: %s", sent, error)
                return self._count(_Reply(None, missing, error, Usage(sent, sent - 1)))
            log.debug("judge request failed (%s); retry %d of %d", error, sent, ep.max_retries)
            time.sleep(self._wait(sent, retry_after))

    def _raise_if_hopeless(self, exc: Any) -> None:
        """Errors every request would meet alike stop the run with one sentence instead of N missing rows."""
        where = self.endpoint.base_url or "OpenAI"
        code = getattr(exc, "code", None)  # the client reads it from the error body
        if exc.status_code in (401, 403):
            raise TravelbotError(f"The judge endpoint {where} refused the API key (HTTP {exc.status_code}: "
                                 f"{exc.message}): set TRAVELBOT_JUDGE_API_KEY or OPENAI_API_KEY to a key with access to "
                                 f"{self.endpoint.model}.") from exc
        if exc.status_code == 404:
            raise TravelbotError(f"The judge endpoint {where} has no model {self.endpoint.model!r} (HTTP 404): "
                                 "check TRAVELBOT_JUDGE_MODEL and TRAVELBOT_JUDGE_BASE_URL.") from exc
        if exc.status_code == 429 and code == "insufficient_quota":
            raise TravelbotError(f"The judge endpoint {where} says the account is out of quota: add credit "
                                 "or set TRAVELBOT_JUDGE_API_KEY to another key.") from exc

    def _reply(self, response: Any, sent: int) -> _Reply:
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content if choice and choice.message else None) or ""
        prompt = (response.usage.prompt_tokens or 0) if response.usage else 0
        completion = (response.usage.completion_tokens or 0) if response.usage else 0
        cost = (prompt * self.endpoint.price_prompt + completion * self.endpoint.price_completion) / 1e6
        return _Reply(text, None, "", Usage(sent, sent - 1, prompt, completion, cost))

    def _count(self, reply: _Reply) -> _Reply:
        with self._lock:
            self._usage = self._usage + reply.usage
        return reply

    def _wait(self, retry: int, retry_after: float | None) -> float:
        """Seconds before retry number ``retry``: the server's Retry-After, else exponential with jitter."""
        if retry_after is not None:
            return min(retry_after, self.endpoint.max_backoff)
        ceiling = min(self.endpoint.max_backoff, self.endpoint.backoff * 2 ** (retry - 1))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)
