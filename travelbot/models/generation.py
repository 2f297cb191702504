"""One generation interface for every back-end: ``generate(variant, messages, **settings)``.

A call returns a :class:`Generation`: iterate it for text chunks as they are decoded; after the
last chunk its ``stats`` hold token counts and timings. Back-ends (in-process transformers, any
OpenAI-compatible endpoint, llama.cpp) implement :class:`Backend.stream`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Protocol

from travelbot.errors import InvalidInputError

if TYPE_CHECKING:
    from travelbot.models.registry import Variant

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings; ``temperature == 0`` means greedy decoding."""

    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 50
    repetition_penalty: float = 1.1
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_new_tokens <= 8192:
            raise InvalidInputError("max_new_tokens must be between 1 and 8192.")
        if not 0 <= self.temperature <= 5:
            raise InvalidInputError("temperature must be between 0 and 5.")
        if not 0 < self.top_p <= 1:
            raise InvalidInputError("top_p must be above 0 and at most 1.")
        if self.top_k < 0:
            raise InvalidInputError("top_k must be 0 (off) or a positive number.")
        if not 0.5 <= self.repetition_penalty <= 2:
            raise InvalidInputError("repetition_penalty must be between 0.5 and 2.")

    def updated(self, **overrides: Any) -> "GenerationSettings":
        """These settings with the given fields replaced; ``None`` values and unknown keys are errors."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise InvalidInputError(f"Unknown generation setting(s): {', '.join(sorted(unknown))}.")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None or k == "seed"})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GenerationStats:
    """What one generation cost."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    first_token_seconds: float | None = None
    finish_reason: str = ""

    @property
    def tokens_per_second(self) -> float:
        """Decode speed: tokens after the first over the time after the first token."""
        if self.completion_tokens <= 1 or self.first_token_seconds is None:
            return 0.0
        decode_time = self.seconds - self.first_token_seconds
        return (self.completion_tokens - 1) / decode_time if decode_time > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tokens_per_second": round(self.tokens_per_second, 2)}


class Backend(Protocol):
    """Something that can stream a variant's answer, and answer several conversations at once."""

    def stream(
        self, variant: "Variant", messages: list[Message], settings: GenerationSettings, stats: GenerationStats
    ) -> Iterator[str]:
        """Yield text chunks; fill ``stats`` (token counts, finish reason) as it goes."""
        ...

    def complete_batch(
        self, variant: "Variant", conversations: list[list[Message]], settings: GenerationSettings
    ) -> list[tuple[str, GenerationStats]]:
        """Each conversation's whole answer and its statistics (dataset building, evaluation): in one batch
        where the back-end can (``seconds`` then each answer's equal share), else :func:`one_by_one`."""
        ...


def one_by_one(
    backend: Backend, variant: "Variant", conversations: list[list[Message]], settings: GenerationSettings
) -> list[tuple[str, GenerationStats]]:
    """``complete_batch`` for a back-end that answers one conversation at a time (each with its own timings)."""
    results = []
    for messages in conversations:
        stats = GenerationStats()
        generation = Generation(variant, messages, settings, backend.stream(variant, messages, settings, stats), stats)
        results.append((generation.result().strip(), generation.stats))
    return results


@dataclass
class Generation:
    """An answer being generated: iterate for text chunks; ``text`` and ``stats`` afterwards."""

    variant: "Variant"
    messages: list[Message]
    settings: GenerationSettings
    _chunks: Iterator[str]
    stats: GenerationStats = field(default_factory=GenerationStats)
    text: str = ""
    done: bool = False

    def __iter__(self) -> Iterator[str]:
        start = time.perf_counter()
        for chunk in self._chunks:
            if self.stats.first_token_seconds is None:
                self.stats.first_token_seconds = time.perf_counter() - start
            self.text += chunk
            yield chunk
        self.stats.seconds = time.perf_counter() - start
        self.done = True

    def result(self) -> str:
        """Run to the end and return the whole answer."""
        for _ in self:
            pass
        return self.text
