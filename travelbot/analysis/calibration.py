"""Calibrate the LLM judge to this team: on the arena battles that both people and the judge decided, how often
the judge agrees with the people, how often its two presentation orders agree (position consistency), and
whether it prefers longer answers more than the people do — beside the same figures on PandaLM's annotated
set, so a reader sees whether their judge behaves as published judges do.

The rule for standing in for people is stated with the figures: the judge's agreement with the voters (ties
included) must reach people's agreement with each other less ``STAND_IN_MARGIN`` at the lower end of its 95%
interval, over at least ``STAND_IN_MIN`` battles. People's agreement with each other is leave-one-out agreement
on pairs two or more people judged; arena battles have one voter each, so it comes from PandaLM's annotators
when that set is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from travelbot.analysis.agreement import Estimate, length_preference, pairwise_agreement
from travelbot.format import estimate
from travelbot.stats import wilson_interval
from travelbot.store import Store, get_store

STAND_IN_MARGIN = 0.05
STAND_IN_MIN = 30
REFERENCE_SET = "pandalm"


def _text(conversation: list[dict[str, str]]) -> str:
    return "\n".join(m["content"] for m in conversation if m["role"] == "assistant")


def _est(e: Estimate) -> dict[str, Any]:
    return e.to_dict()


@dataclass
class JudgeCalibration:
    judge: str
    n: int  # battles both people and the judge decided
    agreement: dict[str, Any]  # accuracy (ties included) with its interval
    agreement_without_ties: dict[str, Any]
    position_consistency: dict[str, Any] | None  # share of battles whose two orders agreed (Wilson)
    judge_prefers_longer: dict[str, Any]
    people_prefer_longer: dict[str, Any]
    stands_in: bool
    sentence: str
    reference: dict[str, Any] = field(default_factory=dict)  # the same figures on PandaLM, when imported


def _reference(rounds: int, seed: int, store: Store) -> dict[str, Any]:
    from travelbot.analysis.judge_agreement import set_agreement
    from travelbot.analysis.judgments import judgment_sets

    if REFERENCE_SET not in judgment_sets(store):
        return {}
    found = set_agreement(REFERENCE_SET, rounds=rounds, seed=seed, store=store)
    return {"set": REFERENCE_SET, "items": found.items,
            "people_agree": found.humans["ceiling"]["leave_one_out"],
            "judges": {row.name: {"accuracy": row.agreement.accuracy.to_dict(),
                                  "prefers_longer": row.longer_preferred.to_dict() if row.longer_preferred else None}
                       for row in found.rows if row.kind == "judge"}}


def judge_calibration(store: Store | None = None, *, rounds: int = 1000, seed: int = 0) -> list[JudgeCalibration]:
    """One calibration per judge model that has verdicts on voted battles (see the module docstring)."""
    from travelbot.analysis.store_agreement import WINNER_LABELS
    from travelbot.feedback import repository
    from travelbot.feedback.battle_judge import judge_labels
    from travelbot.feedback.voter_quality import store_battles

    store = store or get_store()
    people: dict[str, str] = {}
    lengths: dict[str, tuple[int, int]] = {}
    for row in store_battles(store)[0]:
        people[row["question_id"]] = WINNER_LABELS[row["winner"]]
        lengths[row["question_id"]] = (len(_text(row["conversation_a"])), len(_text(row["conversation_b"])))
    consistency: dict[str, list[bool]] = {}
    for model, consistent in repository.battle_judgment_consistency(store):
        consistency.setdefault(model, []).append(consistent)
    found = judge_labels(store)
    reference = _reference(rounds, seed, store) if found else {}
    out = []
    for model, labels in sorted(found.items()):
        shared = sorted(set(labels) & set(people))
        if not shared:
            continue
        humans, judged = [people[b] for b in shared], [labels[b] for b in shared]
        len_a, len_b = [lengths[b][0] for b in shared], [lengths[b][1] for b in shared]
        agreement = pairwise_agreement(humans, judged, rounds=rounds, seed=seed)
        orders = consistency.get(model, [])
        position = None
        if orders:
            lower, upper = wilson_interval(sum(orders), len(orders))
            position = {"value": sum(orders) / len(orders), "lower": lower, "upper": upper, "n": len(orders)}
        ceiling = (reference.get("people_agree") or {}).get("value")
        accuracy = agreement.accuracy
        stands_in = bool(ceiling is not None and agreement.n >= STAND_IN_MIN
                         and accuracy.lower >= ceiling - STAND_IN_MARGIN)
        measured = (f"it agrees with these voters {estimate(accuracy.value, accuracy.lower, accuracy.upper)} "
                    f"(n={agreement.n})")
        if ceiling is None:
            sentence = (f"{measured}; people's agreement with each other is unknown here (import PandaLM's set: "
                        "`travelbot judgments import`), so whether it can stand in for people is undetermined.")
        elif stands_in:
            sentence = (f"The judge can stand in for people on this data: {measured}; people agree with each other "
                        f"{ceiling:.3f} (PandaLM's annotators).")
        else:
            need = f"at least {STAND_IN_MIN} judged votes and " if agreement.n < STAND_IN_MIN else ""
            sentence = (f"The judge cannot stand in for people yet: {measured}; people agree with each other "
                        f"{ceiling:.3f} (PandaLM's annotators), and standing in needs {need}a lower bound of at "
                        f"least {ceiling - STAND_IN_MARGIN:.3f}.")
        out.append(JudgeCalibration(
            model, agreement.n, _est(accuracy), _est(agreement.accuracy_without_ties), position,
            _est(length_preference(judged, len_a, len_b)), _est(length_preference(humans, len_a, len_b)),
            stands_in, sentence, reference))
    return out
