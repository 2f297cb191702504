"""What every scorer returns: a named, versioned value per answer, or the reason it is missing.

A score that could not be computed is never NaN and never zero: it is ``value=None`` with ``missing``
saying why ("parse failure", "timeout", "refused", "unavailable: ...", "error: ..."), so runs count
and show them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


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
    """One scorer, declared once beside its code; every list of scorers (``travelbot eval --metrics`` and its
    check, the Evaluate tab, metrics standing in as judges in Agreement) derives from these declarations
    (``travelbot.evaluation.scorers``). The version is stored with every score, so a changed scorer is recomputed.
    """

    name: str  # what `travelbot eval --metrics` takes
    version: str
    metrics: tuple[str, ...]  # the metrics it stores per answer
    description: str = ""
    label: str = ""  # how the Evaluate tab names it
    kind: str = "reference"  # "reference": computed here against the golden answer; "llm": asks a judge endpoint
    scale: str = ""  # the range of its values
    packages: tuple[tuple[str, str, str], ...] = ()  # (module, distribution, install command) it imports
    light: bool = False  # in the Evaluate tab's default light run (well under a second per answer)
    judges: tuple[str, ...] = ()  # its metrics that can judge a pair of answers in Agreement (higher = better)
