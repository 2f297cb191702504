"""Arena statistics against known truth, by simulation; prints JSON.

    python bench/arena_stats.py [--repeats 40] [--coverage-repeats 300]

- ``pairing``: battles simulated from five variants with known ratings; after every 25 votes, is the top
  two's lead separated (the board's 95% interval of the difference excludes 0)? Votes needed, per repeat,
  for the active rule (``feedback.pairing``) and for uniform drawing, from the same strengths and seeds;
  the median and the ratio active / uniform.
- ``style_control``: coverage of the 95% intervals of the style-controlled (centred) ratings and of the
  length coefficient, over repeats with a known length effect (target 93–97%), and how far the raw and
  the controlled ratings of the verbose variant land from its true rating.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from travelbot.feedback.leaderboard import leaderboard  # noqa: E402
from travelbot.feedback.pairing import active_weights  # noqa: E402
from travelbot.feedback.simulation import Truth, battle, simulate  # noqa: E402
from travelbot.feedback.style import style_control  # noqa: E402

PAIRING_TRUTH = Truth({"v1": 1100, "v2": 1060, "v3": 950, "v4": 900, "v5": 850})
STYLE_TRUTH = Truth({"concise-strong": 1100, "plain": 1050, "middle": 1000, "verbose-weak": 850},
                    {"concise-strong": 30, "plain": 40, "middle": 50, "verbose-weak": 110}, length_beta=2.0)


def votes_to_separate(rule: str, seed: int, limit: int, step: int = 25) -> int | None:
    rng = np.random.default_rng(seed)
    names = sorted(PAIRING_TRUTH.ratings)
    pairs = [frozenset((a, b)) for i, a in enumerate(names) for b in names[i + 1:]]
    true_top = set(sorted(names, key=lambda n: -PAIRING_TRUTH.ratings[n])[:2])
    battles: list[dict] = []
    while len(battles) < limit:
        for _ in range(step):
            weights = active_weights(pairs, battles) if rule == "active" else None
            pair = pairs[rng.choice(len(pairs), p=np.asarray(weights) / sum(weights))] if weights else \
                pairs[rng.integers(len(pairs))]
            a, b = sorted(pair)
            battles.append(battle(PAIRING_TRUTH, a, b, rng, question=f"q{len(battles)}"))
        board = leaderboard(battles, rounds=200, seed=seed)
        gap = board.votes_to_separate_top_two
        if gap is not None and gap.separated and {gap.leader, gap.runner_up} == true_top:
            return len(battles)
    return None


def pairing(repeats: int, limit: int) -> dict:
    needed = {rule: [votes_to_separate(rule, seed, limit) for seed in range(repeats)] for rule in ("uniform", "active")}
    summary = {}
    for rule, values in needed.items():
        done = [v for v in values if v is not None]
        summary[rule] = {"median_votes": statistics.median(done) if done else None, "separated": len(done),
                         "repeats": repeats, "limit": limit}
    paired = [a / u for a, u in zip(needed["active"], needed["uniform"], strict=True) if a and u]
    summary["active_over_uniform_median_ratio"] = statistics.median(paired) if paired else None
    summary["truth"] = PAIRING_TRUTH.ratings
    return summary


def style_coverage(repeats: int, n: int) -> dict:
    names = sorted(STYLE_TRUTH.ratings)
    true = {name: r - statistics.mean(STYLE_TRUTH.ratings.values()) + 1000 for name, r in STYLE_TRUTH.ratings.items()}
    covered_diff = covered_beta = total_diff = 0
    raw_error, controlled_error = [], []
    for seed in range(repeats):
        result = style_control(simulate(STYLE_TRUTH, n, np.random.default_rng(10_000 + seed)))
        by = {r.variant: r for r in result.ratings}
        for name in names:  # each (centred) rating's interval against its true centred rating
            total_diff += 1
            covered_diff += by[name].lower <= true[name] <= by[name].upper
        length = result.coefficients[0]
        covered_beta += length.lower <= STYLE_TRUTH.length_beta * length.sd <= length.upper
        raw_error.append(by["verbose-weak"].raw - true["verbose-weak"])
        controlled_error.append(by["verbose-weak"].rating - true["verbose-weak"])
    return {"repeats": repeats, "battles": n, "length_beta_coverage": covered_beta / repeats,
            "rating_coverage": covered_diff / total_diff,
            "verbose_weak_mean_error_raw": statistics.mean(raw_error),
            "verbose_weak_mean_error_controlled": statistics.mean(controlled_error)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--limit", type=int, default=1500)
    parser.add_argument("--coverage-repeats", type=int, default=300)
    parser.add_argument("--battles", type=int, default=600)
    args = parser.parse_args()
    started = time.monotonic()
    figures = {"style_control": style_coverage(args.coverage_repeats, args.battles),
               "pairing": pairing(args.repeats, args.limit)}
    figures["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
