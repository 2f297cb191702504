"""Reading a judge's reply: the JSON object in it (bare, fenced or amid prose), yes/no verdicts, 1–10
scores and A/B/tie verdicts, tolerant of the ways real models phrase them. Pure functions."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

JUDGE_CRITERIA = ("conciseness", "relevance", "coherence", "helpfulness")

_YES = {"y", "yes", "true"}
_NO = {"n", "no", "false"}


def find_json(text: str, keys: Sequence[str] = ()) -> dict[str, Any] | None:
    """The first JSON object in a judge's text (bare, in a code fence, or amid prose), keys lower-cased.

    With ``keys``, the first object that has one of them (so a broken outer object does not yield an inner one).
    """
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            value = _lower_keys(value)
            if not keys or any(key in value for key in keys):
                return value
    return None


def _lower_keys(value: dict[str, Any]) -> dict[str, Any]:
    return {str(k).strip().lower(): _lower_keys(v) if isinstance(v, dict) else v for k, v in value.items()}


def _first(entry: dict[str, Any], *keys: str) -> Any:
    return next((entry[k] for k in keys if entry.get(k) not in (None, "")), None)


def parse_yes_no(value: Any) -> float | None:
    """1.0 for yes ("Y", "yes", "Yes, it is", true), 0.0 for no, None for anything else."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return float(value)
    word = re.match(r"[\W_]*([a-z]*)", value.lower()).group(1) if isinstance(value, str) else ""
    return 1.0 if word in _YES else 0.0 if word in _NO else None


def parse_score(value: Any) -> float | None:
    """A 1-10 score from 7, 7.5, "7", "7/10" or "7 out of 10"; None if absent or out of range."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:(?:/|out of)\s*10)?\s*", value, re.IGNORECASE)
        value = float(match.group(1)) if match else None
    if isinstance(value, (int, float)) and 1 <= value <= 10:
        return float(value)
    return None


def _criterion(data: dict[str, Any], name: str, read: Callable[[Any], float | None],
               keys: tuple[str, ...]) -> tuple[float | None, str]:
    entry = data.get(name)
    reasons = data.get("reasoning") if isinstance(data.get("reasoning"), dict) else {}
    reasoning = _first(data, f"{name}_reasoning") or reasons.get(name)
    if isinstance(entry, dict):
        reasoning = _first(entry, "reasoning", "reason", "explanation") or reasoning
        entry = _first(entry, *keys)
    return (read(entry) if entry is not None else None), str(reasoning or "")


def parse_criteria(text: str) -> tuple[dict[str, float | None], dict[str, str]] | None:
    """Per-criterion values (None where the judge omitted one) and reasoning; None if there is no JSON."""
    data = find_json(text, JUDGE_CRITERIA + ("overall",))
    if data is None:
        return None
    values, reasoning = {}, {}
    for name in JUDGE_CRITERIA:
        values[name], reasoning[name] = _criterion(data, name, parse_yes_no, ("verdict", "value", "answer"))
    values["overall"], reasoning["overall"] = _criterion(data, "overall", parse_score, ("score", "rating", "value"))
    if values["overall"] is None and not isinstance(data.get("overall"), dict):
        values["overall"] = parse_score(_first(data, "overall", "overall_score", "score", "rating"))
    return values, reasoning


def _ab(value: Any) -> str | None:
    word = re.sub(r"^(assistant|answer|model|response)\s+", "", str(value).strip().strip("[]\"'*. ").lower())
    return {"a": "A", "b": "B", "tie": "tie", "c": "tie", "draw": "tie", "equal": "tie"}.get(word)


def parse_pairwise(text: str) -> tuple[str | None, str]:
    """The verdict ("A", "B", "tie" or None) and reasoning; reads JSON or MT-Bench's [[A]]/[[B]]/[[C]]."""
    data = find_json(text, ("verdict", "winner", "better"))
    if data is not None:
        verdict = _ab(_first(data, "verdict", "winner", "better"))
        if verdict:
            return verdict, str(_first(data, "reasoning", "explanation", "reason") or "")
    tags = {_ab(tag) for tag in re.findall(r"\[\[\s*(A|B|C|tie)\s*\]\]", text, re.IGNORECASE)}
    return (tags.pop() if len(tags) == 1 else None), text.strip()
