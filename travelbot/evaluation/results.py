"""What an evaluation run found: per variant and metric the mean with a 95% interval, n and how many
scores are missing; pairwise judge win rates; per-question drill-down; long-format export rows."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from travelbot.evaluation import repository
from travelbot.stats import mean_interval, wilson_interval
from travelbot.errors import InvalidInputError
from travelbot.store import Store, get_store


@dataclass
class MetricSummary:
    variant: str
    metric: str
    mean: float | None
    lower: float | None
    upper: float | None
    n: int
    missing: int
    missing_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class PairSummary:
    variant_a: str
    variant_b: str
    judged: int
    wins_a: int
    wins_b: int
    ties: int
    inconsistent: int  # the two orders disagreed (counted as ties)
    missing: int
    win_rate_a: float | None  # ties count half
    lower: float | None
    upper: float | None


@dataclass
class RunResults:
    run: dict[str, Any]
    metrics: list[MetricSummary]
    pairs: list[PairSummary]
    answers: list[dict[str, Any]]  # each answer with its scores (metric -> value or missing reason)
    verdicts: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        run = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in self.run.items()}
        return {"run": run, "metrics": [asdict(m) for m in self.metrics], "pairs": [asdict(p) for p in self.pairs],
                "answers": self.answers, "verdicts": self.verdicts}

    def variants(self) -> list[str]:
        return list(self.run["variants"])

    def latencies(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = defaultdict(list)
        for answer in self.answers:
            if not answer["error"]:
                out[answer["variant"]].append(answer["seconds"])
        return dict(out)

    def long_rows(self) -> list[dict[str, Any]]:
        """One row per answer and metric (value or missing reason) — for CSV/JSONL downloads."""
        rows = []
        for answer in self.answers:
            base = {k: answer[k] for k in ("variant", "question_id", "question", "golden", "answer", "seconds",
                                           "prompt_tokens", "completion_tokens")}
            for metric, score in answer["scores"].items():
                rows.append({"run_id": self.run["id"], **base, "metric": metric, "value": score["value"],
                             "missing": score["missing"]})
        return rows

    def to_csv(self) -> str:
        rows = self.long_rows()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["run_id"])
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()

    def to_jsonl(self) -> str:
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in self.long_rows())


def latest_run_id(store: Store | None = None) -> int | None:
    return repository.newest_run_id(store or get_store())


def seconds_per_token(store: Store | None = None, recent: int = 200) -> float | None:
    """Generation seconds per answer token over the most recent stored answers (None before any), for estimates."""
    rows = repository.answer_costs(store or get_store(), recent)
    tokens = sum(completion_tokens for _, completion_tokens in rows)
    return sum(seconds for seconds, _ in rows) / tokens if tokens else None


def runs(store: Store | None = None, limit: int = 50) -> list[dict[str, Any]]:
    return repository.run_rows(store or get_store(), limit)


def run_results(run_id: int | None = None, store: Store | None = None, *, seed: int = 0,
                summarise: bool = True) -> RunResults:
    """Summaries of a run (the newest when ``run_id`` is None); ``summarise=False`` skips the interval and
    pairwise tables when only the answers and verdicts are needed (the per-question drill-down)."""
    store = store or get_store()
    run_id = run_id if run_id is not None else latest_run_id(store)
    stored = repository.run_rows_with_answers(store, run_id)
    if stored is None:
        raise InvalidInputError("There is no such evaluation run; run one first (travelbot eval or the Evaluate tab).")
    run, answer_rows, verdict_rows = stored.run, stored.answers, stored.verdicts
    chosen = set(run["scorers"])
    latest: dict[int, dict[str, Any]] = defaultdict(dict)
    for row in stored.scores:  # the newest version of each metric counts
        if row["scorer"] in chosen:
            latest[row["answer_id"]][row["metric"]] = row
    answers = []
    for a in answer_rows:
        scores = {metric: {"value": r["value"], "missing": r["missing"], "detail": r["detail"]}
                  for metric, r in latest[a["id"]].items()}
        answers.append({k: a[k] for k in ("id", "variant", "method", "question_id", "question", "golden", "answer",
                                          "contexts", "seconds", "batch_size", "prompt_tokens",
                                          "completion_tokens", "finish_reason", "error")} | {"scores": scores})
    metrics = _metric_summaries(answers, run["variants"], seed) if summarise else []
    pairs = _pair_summaries(verdict_rows) if summarise else []
    return RunResults(run, metrics, pairs, answers, [_verdict(v) for v in verdict_rows])


def _metric_summaries(answers: list[dict[str, Any]], variants: list[str], seed: int) -> list[MetricSummary]:
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    missing: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    metrics: list[str] = []
    for answer in answers:
        for metric, score in answer["scores"].items():
            if metric not in metrics:
                metrics.append(metric)
            key = (answer["variant"], metric)
            if score["value"] is None:
                missing[key][score["missing"]] += 1
            else:
                values[key].append(score["value"])
        key = (answer["variant"], "latency_s")
        if not answer["error"]:
            values[key].append(answer["seconds"])
    out = []
    for variant in variants:
        for metric in [*metrics, "latency_s"]:
            key = (variant, metric)
            if key not in values and key not in missing:
                continue
            mean, lower, upper, n = mean_interval(values.get(key, []), seed=seed)
            out.append(MetricSummary(variant, metric, _finite(mean), _finite(lower), _finite(upper), n,
                                     sum(missing[key].values()), dict(missing[key])))
    return out


def _finite(x: float | None) -> float | None:
    """Rounded, or None for an undefined (nan) value."""
    return None if x is None or math.isnan(x) else round(float(x), 4)


def _pair_summaries(rows: list[Any]) -> list[PairSummary]:
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row["variant_a"], row["variant_b"])].append(row)
    out = []
    for (a, b), group in sorted(groups.items()):
        judged = [r for r in group if r["winner"] is not None]
        wins_a = sum(r["winner"] == "A" for r in judged)
        wins_b = sum(r["winner"] == "B" for r in judged)
        ties = len(judged) - wins_a - wins_b
        rate = (wins_a + ties / 2) / len(judged) if judged else None
        lower, upper = wilson_interval(wins_a + ties / 2, len(judged)) if judged else (None, None)
        out.append(PairSummary(a, b, len(judged), wins_a, wins_b, ties,
                               sum(r["consistent"] is False for r in judged), len(group) - len(judged),
                               None if rate is None else round(rate, 4),
                               None if lower is None else round(lower, 4), None if upper is None else round(upper, 4)))
    return out


def _verdict(row: Any) -> dict[str, Any]:
    return {k: row[k] for k in ("question_id", "answer_a", "answer_b", "variant_a", "variant_b", "judge_model",
                                "prompt_version", "winner", "missing", "consistent", "detail")}
