"""How figures read, the same in the CLI, the tabs and the report: an estimate with its interval, a judge's
usage, a dataset build's summary."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

NONE = "—"


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def interval(lower: float | None, upper: float | None, digits: int = 3) -> str:
    """``lower – upper``, or a dash when either end is unknown."""
    if _missing(lower) or _missing(upper):
        return NONE
    return f"{lower:.{digits}f} – {upper:.{digits}f}"


def estimate(value: float | None, lower: float | None = None, upper: float | None = None, digits: int = 3) -> str:
    """``value [lower, upper]``; the value alone when it has no interval; a dash when it is unknown."""
    if _missing(value):
        return NONE
    if _missing(lower) or _missing(upper):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{lower:.{digits}f}, {upper:.{digits}f}]"


def estimate_of(figure: Mapping[str, Any] | None, digits: int = 3) -> str:
    """:func:`estimate` of a ``{"value", "lower", "upper"}`` mapping (as the analysis results serialise them)."""
    if not figure:
        return NONE
    return estimate(figure.get("value"), figure.get("lower"), figure.get("upper"), digits)


def judge_usage(usage: Mapping[str, Any]) -> str:
    """What the judge cost: requests (retries), tokens (prompt + completion) and USD."""
    return (f"{usage.get('requests', 0)} requests, {usage.get('retries', 0)} retries, "
            f"{usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)} tokens, "
            f"${usage.get('cost_usd', 0):.4f}")


def build_summary(manifest: Mapping[str, Any]) -> list[str]:
    """A dataset build in lines: rows per dataset, the leakage check, retrieval recall on the golden set."""
    lines = [f"{name}: train {splits['train']['rows']}, held-out {splits['heldout']['rows']}"
             for name, splits in manifest.get("datasets", {}).items()]
    leak = manifest.get("leakage") or {}
    if leak:
        lines.append(f"leakage check: dropped {leak.get('dropped_exact')} exact and {leak.get('dropped_similar')} "
                     f"similar (cosine ≥ {leak.get('threshold')}) of {leak.get('checked')} questions")
    lines += [f"retrieval recall@5 on golden {split}: {figures['recall']} (n={figures['n']})"
              for split, figures in (manifest.get("retrieval") or {}).items()]
    return lines


def figure(value: Mapping[str, Any] | None, digits: int = 3) -> str:
    """:func:`estimate_of` followed by its n, as every agreement and verdict figure is shown."""
    if not value or _missing(value.get("value")):
        return NONE
    return f"{estimate_of(value, digits)} (n={value.get('n')})"


def separability(figure: Mapping[str, Any] | None) -> str:
    """A separability figure (``{"value", "separated", "n"}``) as ``0.800 (8 of 10 pairs)``; a dash with no pairs."""
    if not figure or _missing(figure.get("value")):
        return NONE
    return f"{figure['value']:.3f} ({figure['separated']} of {figure['n']} pairs)"


def agreement_with_confidence(figure: Mapping[str, Any] | None) -> str:
    """An agreement-with-confidence figure as ``+0.857 (+1 ×6, 0 ×1, −1 ×0 of 7 pairs)``; a dash when undefined."""
    if not figure or _missing(figure.get("value")):
        return NONE
    return (f"{figure['value']:+.3f} (+1 ×{figure['agree']}, 0 ×{figure['undecided']}, −1 ×{figure['disagree']} "
            f"of {figure['n']} pairs)")
