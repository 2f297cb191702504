"""An OpenAI-compatible endpoint for judging: its settings and prices, and a client that retries and counts.

Retries are our own (the client's are off) so that they are counted in ``Usage``: 429, 5xx, timeouts and
lost connections are retried with exponential backoff and jitter (honouring ``Retry-After``); other 4xx
answers are "refused"; errors that would fail every request alike (a refused key, an unknown model, no
quota) raise one ``TravelbotError`` sentence.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, astuple, dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from travelbot.config import Settings
from travelbot.errors import TravelbotError

log = logging.getLogger(__name__)

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
        """The endpoint of ``settings.judge`` (the ``TRAVELBOT_JUDGE_*`` variables), with ``OPENAI_*`` as fallback."""
        judge = settings.judge
        if not judge.configured:
            raise TravelbotError(
                "No judge model is set: set TRAVELBOT_JUDGE_MODEL (e.g. gpt-4o) together with OPENAI_API_KEY, "
                "or with TRAVELBOT_JUDGE_BASE_URL for any OpenAI-compatible server.")
        model = judge.model.strip()
        base_url = judge.base_url or settings.openai_base_url or None
        prompt_price, completion_price = list_price(model) if _is_openai(base_url) else (0.0, 0.0)
        return cls(
            model=model, base_url=base_url, api_key=judge.api_key or settings.openai_api_key or None,
            timeout=judge.timeout, max_retries=judge.max_retries, concurrency=judge.concurrency,
            price_prompt=prompt_price if judge.price_prompt is None else judge.price_prompt,
            price_completion=completion_price if judge.price_completion is None else judge.price_completion,
            json_mode=judge.json_mode)


def _is_openai(base_url: str | None) -> bool:
    return base_url is None or "api.openai.com" in base_url


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
class Reply:
    """What one request came back with (after its retries)."""

    text: str | None  # None when no answer came back; ``missing`` says why
    missing: str | None
    error: str
    usage: Usage


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


class EndpointClient:
    """Sends chat requests to the endpoint, ``endpoint.concurrency`` at a time; safe to share between threads."""

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
        """Everything asked for so far."""
        with self._lock:
            return self._usage

    def close(self) -> None:
        if hasattr(self.client, "close"):
            self.client.close()

    def ask(self, requests: list[list[dict[str, str]]]) -> list[Reply]:
        """One reply per chat request, in order, ``endpoint.concurrency`` at a time."""
        if not requests:
            return []
        pool = ThreadPoolExecutor(max_workers=min(self.endpoint.concurrency, len(requests)),
                                  thread_name_prefix="judge")
        try:
            return list(pool.map(self._complete, requests))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _complete(self, messages: list[dict[str, str]]) -> Reply:
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
                    return self._count(Reply(None, "refused", error, Usage(sent, sent - 1)))
            else:
                return self._count(self._reply(response, sent))
            if sent > ep.max_retries:
                log.warning("judge request given up after %d tries: %s", sent, error)
                return self._count(Reply(None, missing, error, Usage(sent, sent - 1)))
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

    def _reply(self, response: Any, sent: int) -> Reply:
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content if choice and choice.message else None) or ""
        prompt = (response.usage.prompt_tokens or 0) if response.usage else 0
        completion = (response.usage.completion_tokens or 0) if response.usage else 0
        cost = (prompt * self.endpoint.price_prompt + completion * self.endpoint.price_completion) / 1e6
        return Reply(text, None, "", Usage(sent, sent - 1, prompt, completion, cost))

    def _count(self, reply: Reply) -> Reply:
        with self._lock:
            self._usage = self._usage + reply.usage
        return reply

    def _wait(self, retry: int, retry_after: float | None) -> float:
        """Seconds before retry number ``retry``: the server's Retry-After, else exponential with jitter."""
        if retry_after is not None:
            return min(retry_after, self.endpoint.max_backoff)
        ceiling = min(self.endpoint.max_backoff, self.endpoint.backoff * 2 ** (retry - 1))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)
