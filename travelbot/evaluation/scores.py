"""What every scorer returns: a named, versioned value per answer, or the reason it is missing.

A score that could not be computed is never NaN and never zero: it is ``value=None`` with ``missing``
saying why ("parse failure", "timeout", "refused", "unavailable: ...", "error: ..."), so runs count
and show them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

MISSING_REASONS = ("parse failure", "timeout", "refused", "rate limited", "unavailable", "error")


@dataclass(frozen=True)
class Score:
    """One metric's value for one answer (``value`` None when ``missing`` says why)."""

    metric: str
    value: float | None
    missing: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. a judge's reasoning, BERTScore's model

    def __post_init__(self) -> None:
        if self.value is None and not self.missing:
            raise ValueError(f"score {self.metric!r} has no value and no reason why")
        if self.value is not None and (isinstance(self.value, bool) or not math.isfinite(self.value)):
            raise ValueError(f"score {self.metric!r} must be a finite number, not {self.value!r}")

    @classmethod
    def missing_because(cls, metric: str, reason: str, **detail: Any) -> Score:
        return cls(metric, None, reason, detail)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ScorerInfo:
    """A scorer's name and version (stored with every score, so a changed scorer is recomputed)."""

    name: str
    version: str
    metrics: tuple[str, ...]
    description: str = ""
