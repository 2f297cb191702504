"""How well each judge and each reference-based metric agrees with humans on an imported judgment set.

    travelbot agreement --source pandalm --metrics bleu,rougeL,bertscore_f1 --reference-from gpt-3.5-turbo

The human label of an item is the majority of its annotators (no majority: tie). A judge's verdicts
are compared as they are (an unparseable verdict was imported as a tie, as PandaLM counts it). A metric
acts as a judge by scoring both responses against a reference answer (the item's own, or the one a
judge wrote) and preferring the higher score; scores closer than ``margin`` make a tie.

Where the items name the two models they compare (PandaLM's do), the set also ranks those models: people's
Bradley–Terry board from the majority labels, and each judge's, metric's and the length baseline's from its
verdicts on the same items, with Arena-Hard's separability and agreement with confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from travelbot.analysis.agreement import (
    PairwiseAgreement,
    human_ceiling,
    label_from_scores,
    length_preference,
    majority,
    pairwise_agreement,
)
from travelbot.analysis.judgments import JudgmentItem, load_set
from travelbot.analysis.separability import RankingAgreement, ranking_agreement, verdict_board
from travelbot.errors import InvalidInputError
from travelbot.evaluation.scorers import METRIC_SCORERS
from travelbot.stats import wilson_interval
from travelbot.store import Store

# metric name -> the scorer in travelbot.evaluation.metrics that computes it


@dataclass
class JudgeRow:
    """One judge's (or metric's) agreement with the humans."""

    name: str
    kind: str  # "judge" or "metric"
    agreement: PairwiseAgreement
    longer_preferred: Any = None  # Estimate: share of decided items where it chose the longer response
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "agreement": self.agreement.to_dict(),
                "longer_preferred": self.longer_preferred.to_dict() if self.longer_preferred else None,
                "notes": self.notes}


@dataclass
class SetAgreement:
    set_name: str
    items: int
    humans: dict[str, Any]  # label counts and the human ceiling
    rows: list[JudgeRow]
    rankings: dict[str, RankingAgreement] = field(default_factory=dict)  # row name -> its board vs people's

    def metric_caveat(self) -> str:
        """What the metric rows measure, when they are scored against a judge's reference answers ("" otherwise):
        without it a metric beating the judges reads as the opposite of what it is."""
        metrics = [row for row in self.rows if row.kind == "metric"]
        judge = next((row.notes["reference"] for row in metrics if row.notes.get("reference") not in (None, "item")), None)
        if judge is None:
            return ""
        counts = sorted({row.agreement.n for row in metrics})
        n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
        return (f"The metric rows score each response against the reference answer {judge} wrote while judging: "
                f"they measure closeness to that judge's own answer, not to a golden one, and cover {n} of "
                f"{self.items} items (the others lack a reference or a text response), so they are not on the same "
                "items as the judge rows.")

    def to_dict(self) -> dict[str, Any]:
        return {"set": self.set_name, "items": self.items, "humans": self.humans,
                "rows": [row.to_dict() for row in self.rows],
                "rankings": {name: r.to_dict() for name, r in self.rankings.items()}}


def both_orders(humans: Sequence[str | None], first: Sequence[str | None], swapped: Sequence[str | None], *,
                rounds: int = 1000, seed: int = 0) -> dict[str, Any]:
    """A judge asked in both presentation orders, as LLMBar and MT-Bench report it: its position consistency
    (share of items where both orders agree, Wilson 95%), and its accuracy in each order and on the items where
    the orders agree."""
    both = [(a, b) for a, b in zip(first, swapped, strict=True) if a is not None and b is not None]
    agree = sum(a == b for a, b in both)
    lower, upper = wilson_interval(agree, len(both)) if both else (float("nan"), float("nan"))
    consistent = [i for i, (a, b) in enumerate(zip(first, swapped, strict=True)) if a is not None and a == b]
    accuracy = lambda h, j: pairwise_agreement(h, j, rounds=rounds, seed=seed).accuracy.to_dict()
    return {"position_consistency": {"value": agree / len(both) if both else None, "lower": lower, "upper": upper,
                                     "n": len(both)},
            "accuracy_first_order": accuracy(humans, first), "accuracy_swapped_order": accuracy(humans, swapped),
            "accuracy_consistent_items": accuracy([humans[i] for i in consistent], [first[i] for i in consistent])}


NO_RANKINGS = ("No rankings of the compared models: this set's items do not name the two models each compares "
               "(model_a and model_b; PandaLM's cmp_key). Import it again if it was imported before travelbot kept "
               "them.")
LENGTH_BASELINE = "longer response"  # the heuristic every judge and metric should beat, as AlpacaEval reports it


def longer_label(length_a: int | None, length_b: int | None) -> str | None:
    """The length baseline's verdict: the longer response wins, equal length is a tie, no text is no verdict."""
    if length_a is None or length_b is None:
        return None
    return "A" if length_a > length_b else "B" if length_b > length_a else "tie"


def _lengths(items: Sequence[JudgmentItem]) -> tuple[list[int | None], list[int | None]]:
    words = lambda text: None if text is None else len(text.split())
    return [words(i.response_a) for i in items], [words(i.response_b) for i in items]


def metric_labels(items: Sequence[JudgmentItem], metric: str, reference_from: str | None,
                  margin: float = 0.0) -> tuple[list[str | None], dict[str, int]]:
    """The metric's verdict per item (None where it could not score both responses), and why some are missing."""
    from travelbot.evaluation.metrics import MetricItem, score_answers

    scorer = METRIC_SCORERS.get(metric)
    if scorer is None:
        raise InvalidInputError(f"Unknown metric {metric!r}; choose from {', '.join(METRIC_SCORERS)}.")
    references = [(i.judges.get(reference_from, {}).get("reference") if reference_from else None) or i.reference
                  for i in items]
    batch = [MetricItem(i.prompt, r or "", ref) for i, ref in zip(items, references, strict=True)
             for r in (i.response_a, i.response_b)]
    scores = score_answers(batch, [scorer])
    labels, missing = [], {}
    for index, item in enumerate(items):
        pair = []
        for side, response in enumerate((item.response_a, item.response_b)):
            score = next(s for s in scores[2 * index + side] if s.metric == metric)
            if response is None:
                missing["response is not text"] = missing.get("response is not text", 0) + 1
                pair.append(None)
            elif score.value is None:
                missing[score.missing] = missing.get(score.missing, 0) + 1
                pair.append(None)
            else:
                pair.append(score.value)
        labels.append(label_from_scores(pair[0], pair[1], margin) if None not in pair else None)
    return labels, missing


def set_rankings(items: Sequence[JudgmentItem], humans: Sequence[str | None],
                 verdicts: Sequence[tuple[str, str, Sequence[str | None]]], *, rounds: int = 1000,
                 seed: int = 0) -> dict[str, RankingAgreement]:
    """Each ``(name, kind, labels)``'s board of the models the items compare against people's board from the
    majority labels; empty when the items do not name their models."""
    def board(labels: Sequence[str | None]) -> dict:
        return verdict_board([(i.model_a, i.model_b, label) for i, label in zip(items, labels, strict=True)
                              if i.model_a and i.model_b], rounds=rounds, seed=seed)

    people = board(humans)
    return {name: ranking_agreement(name, board(labels), people, kind=kind)
            for name, kind, labels in verdicts} if people else {}


def set_agreement(set_name: str, *, metrics: Sequence[str] = (), reference_from: str | None = None,
                  margin: float = 0.0, rounds: int = 1000, seed: int = 0, store: Store | None = None) -> SetAgreement:
    """Every judge of the set, and each requested metric used as a judge, against the humans' majority."""
    items = load_set(set_name, store)
    humans = [majority(list(i.labels.values())) for i in items]
    len_a, len_b = _lengths(items)
    rows, verdicts = [], []
    for judge in sorted({name for i in items for name in i.judges}):
        labels = [i.judges.get(judge, {}).get("label") for i in items]
        verdicts.append((judge, "judge", labels))
        unparseable = sum(bool(i.judges.get(judge, {}).get("unparseable")) for i in items)
        notes: dict[str, Any] = {"unparseable_counted_as_tie": unparseable}
        swapped = [i.judges.get(judge, {}).get("swapped") for i in items]
        if any(s is not None for s in swapped):
            notes["orders"] = both_orders(humans, labels, swapped, rounds=rounds, seed=seed)
        rows.append(JudgeRow(judge, "judge", pairwise_agreement(humans, labels, rounds=rounds, seed=seed),
                             length_preference(labels, len_a, len_b), notes))
    for metric in metrics:
        labels, missing = metric_labels(items, metric, reference_from, margin)
        verdicts.append((metric, "metric", labels))
        rows.append(JudgeRow(metric, "metric", pairwise_agreement(humans, labels, rounds=rounds, seed=seed),
                             length_preference(labels, len_a, len_b),
                             {"reference": reference_from or "item", "margin": margin, "missing": missing}))
    chars = lambda text: None if text is None else len(text)  # AlpacaEval's baseline counts characters
    longer = [longer_label(chars(i.response_a), chars(i.response_b)) for i in items]
    rows.append(JudgeRow(LENGTH_BASELINE, "baseline", pairwise_agreement(humans, longer, rounds=rounds, seed=seed),
                         length_preference(longer, len_a, len_b), {"rule": "prefer the longer response (characters)"}))
    verdicts.append((LENGTH_BASELINE, "baseline", longer))
    counts = {label: humans.count(label) for label in ("A", "B", "tie")}
    ceiling = human_ceiling([i.labels for i in items], rounds=rounds, seed=seed)
    return SetAgreement(set_name, len(items), {"labels": counts, "ceiling": ceiling.to_dict()}, rows,
                        set_rankings(items, humans, verdicts, rounds=rounds, seed=seed))
