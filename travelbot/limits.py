"""Limits that keep one visitor, or one burst of visitors, from taking the whole server: how many answers
are generated at once (``TRAVELBOT_MAX_GENERATIONS``) and how many questions one visitor may send a
minute (``TRAVELBOT_REQUESTS_PER_MINUTE``)."""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Iterator

from travelbot.config import Settings, get_settings
from travelbot.errors import InvalidInputError

SLOT_WAIT_SECONDS = 60.0  # how long an answer waits for a free slot before it is refused

_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}
_requests: dict[str, collections.deque[float]] = {}


@contextlib.contextmanager
def generation_slot(settings: Settings | None = None, wait: float = SLOT_WAIT_SECONDS) -> Iterator[None]:
    """Hold one of the process's ``max_generations`` slots while an answer is generated."""
    limit = (settings or get_settings()).max_generations
    with _lock:
        slots = _slots.setdefault(limit, threading.BoundedSemaphore(limit))
    if not slots.acquire(timeout=wait):
        raise InvalidInputError(f"The server is already answering {limit} questions at once; try again in a minute.")
    try:
        yield
    finally:
        slots.release()


def check_rate(visitor: str, settings: Settings | None = None, now: float | None = None) -> None:
    """Count one question from ``visitor``; refuse it when they sent ``requests_per_minute`` in the last minute.

    A server that only this machine can reach (loopback, not hosted) has no visitors to limit.
    """
    settings = settings or get_settings()
    limit = settings.requests_per_minute
    if limit <= 0 or (settings.loopback and not settings.hosted):
        return
    now = time.monotonic() if now is None else now
    with _lock:
        sent = _requests.setdefault(visitor, collections.deque())
        while sent and sent[0] <= now - 60:
            sent.popleft()
        if len(sent) >= limit:
            wait = max(1, int(sent[0] + 60 - now) + 1)
            raise InvalidInputError(f"You have sent {limit} questions in the last minute, the most this server takes; "
                                 f"wait {wait} seconds and send again.")
        sent.append(now)
        if len(_requests) > 10_000:  # forget visitors who went quiet
            for key in [k for k, v in _requests.items() if not v or v[-1] <= now - 60]:
                del _requests[key]
