"""The study's GPT-4 judge: criteria grades and pairwise verdicts from any OpenAI-compatible endpoint.

    judge = Judge(JudgeEndpoint.from_settings(get_settings()))
    grades = judge.grade([GradeItem(question, answer, golden_answer)])
    verdicts = judge.compare([PairItem(question, answer_a, answer_b, golden_answer)])

Prompts are versioned text files in ``prompts/``, and the version travels with every verdict. A verdict
that could not be had is a missing score ("parse failure", "timeout", "refused", "rate limited",
"error: HTTP 500"), never a zero. Errors that would fail every request alike (a refused key, an
unknown model, no quota) raise one ``TravelbotError`` sentence instead. The endpoint itself (settings,
prices, retries, usage) is ``endpoint.py``; this module holds the prompts, the items and the verdicts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from importlib.resources import files
from typing import Any, Self

from travelbot.evaluation.endpoint import EndpointClient, JudgeEndpoint, Reply, Usage
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
def verdict_key(kind: str, prompt_version: str, model: str, **inputs: Any) -> str:
    """A stable cache key for one verdict: sha256 of the canonical JSON of everything that decides it."""
    payload = {"kind": kind, "prompt_version": prompt_version, "model": model, "inputs": inputs}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _has_reference(item: GradeItem | PairItem) -> bool:
    """Whether the reference-guided prompt applies (a blank golden answer counts as none)."""
    return bool(item.reference and item.reference.strip())


# ---------------------------------------------------------------------------------------------- records

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


# ---------------------------------------------------------------------------------------------- judge

class Judge:
    """Grades answers and compares pairs with the judge model; safe to share between threads."""

    def __init__(self, endpoint: JudgeEndpoint, client: Any = None) -> None:
        self.endpoint = endpoint
        self.requests = EndpointClient(endpoint, client)

    @property
    def usage(self) -> Usage:
        """Everything this judge has asked for so far."""
        return self.requests.usage

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
        self.requests.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------- criteria

    def grade(self, items: Sequence[GradeItem]) -> list[GradeResult]:
        """One ``GradeResult`` per item, in order; a failed item has missing scores, never fewer rows."""
        versions = [PROMPT_VERSIONS["criteria", _has_reference(item)] for item in items]
        replies = self.requests.ask([
            render_prompt(version, question=item.question, answer=item.answer, reference=item.reference or "")
            for version, item in zip(versions, items)])
        return [self._grade_result(version, reply) for version, reply in zip(versions, replies)]

    def _grade_result(self, version: str, reply: Reply) -> GradeResult:
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
        replies = self.requests.ask(requests)
        return [self._pair_result(version, replies[2 * i], replies[2 * i + 1]) for i, version in enumerate(versions)]

    def _pair_result(self, version: str, first: Reply, second: Reply) -> PairResult:
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
