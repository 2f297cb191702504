"""The voter test and the question cap, checked on battles simulated from known strengths."""

from __future__ import annotations

import numpy as np

from travelbot.feedback.simulation import Truth, battle
from travelbot.feedback.voter_quality import check_voters, counted_battles

TRUTH = Truth({"a": 1150, "b": 1050, "c": 950, "d": 850})
NAMES = sorted(TRUTH.ratings)


def votes(rng: np.random.Generator, voter: str, n: int, contrarian: bool = False) -> list[dict]:
    rows = []
    for _ in range(n):
        i, j = rng.choice(len(NAMES), 2, replace=False)
        row = battle(TRUTH, NAMES[i], NAMES[j], rng)
        if contrarian:  # always the weaker side
            row["winner"] = "model_a" if TRUTH.ratings[NAMES[i]] < TRUTH.ratings[NAMES[j]] else "model_b"
        rows.append({**row, "voter_id": voter, "voter_name": voter})
    return rows


def test_honest_voters_are_rarely_flagged_and_contrarians_are_caught():
    honest_flagged = caught = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        rows = [row for v in range(40) for row in votes(rng, f"honest-{v}", 20)]
        rows += [row for v in range(2) for row in votes(rng, f"contrarian-{v}", 20, contrarian=True)]
        checks = {c.voter_id: c for c in check_voters(rows)}
        honest_flagged += sum(c.flagged for name, c in checks.items() if name.startswith("honest"))
        caught += sum(c.flagged for name, c in checks.items() if name.startswith("contrarian"))
    assert honest_flagged / (12 * 40) <= 0.05  # the test's alpha; measured 0.2% or less
    assert caught / (12 * 2) >= 0.9


def test_few_votes_are_not_tested_and_the_evidence_reads():
    rng = np.random.default_rng(1)
    rows = [row for v in range(20) for row in votes(rng, f"h{v}", 20)] + votes(rng, "new", 4, contrarian=True)
    rows += votes(rng, "contrarian", 30, contrarian=True)
    checks = {c.voter_id: c for c in check_voters(rows)}
    assert not checks["new"].flagged and checks["new"].p_value == 1.0 and "not tested below 5" in checks["new"].evidence
    suspect = checks["contrarian"]
    assert suspect.flagged and suspect.p_value < 0.05 and suspect.unlikely_votes >= 20
    assert suspect.evidence.startswith(f"{suspect.unlikely_votes} of 30 votes went against most other votes")
    assert list(checks) == [c.voter_id for c in check_voters(rows)]  # most suspect first
    assert check_voters(rows)[0].voter_id == "contrarian"


def test_counted_battles_leave_out_flagged_votes_flagged_voters_and_repeats():
    rng = np.random.default_rng(2)
    rows = [row for v in range(20) for row in votes(rng, f"h{v}", 20)] + votes(rng, "contrarian", 30, contrarian=True)
    rows[0] = {**rows[0], "flagged": True}
    kept, left_out, checks = counted_battles(rows)  # every simulated battle asks the same question
    assert left_out == {"flagged_vote": 1, "flagged_voter": 30, "repeated_question": len(rows) - 31 - 20}
    assert len(kept) == 20 and any(c.flagged for c in checks)
    kept, left_out, _ = counted_battles(rows, include_flagged=True, question_cap=0)
    assert len(kept) == len(rows) and left_out == {}
    kept, left_out, _ = counted_battles(rows, question_cap=1000)
    assert len(kept) == len(rows) - 31 and set(left_out) == {"flagged_vote", "flagged_voter"}
    kept, left_out, _ = counted_battles(rows, uncapped=frozenset({"where should i stay?"}))
    assert len(kept) == len(rows) - 31 and "repeated_question" not in left_out  # a golden question is never capped
