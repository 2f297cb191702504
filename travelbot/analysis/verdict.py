"""The verdict: which fine-tuning method to ship, at what cost, with what confidence — from the user's own store.

One row per variant (people, LLM judge, metrics, training and serving cost) and, above it, sentences: who
people prefer and by how much (or how many votes would tell), the study's four findings restated on this
data (supported / contradicted / undetermined, each with its figure and the rule that decided it), and one
recommended variant on the cost–quality front. Every figure carries its interval and n; a sentence without
the data it needs says what is missing.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from travelbot.analysis import repository
from travelbot.config import get_settings
from travelbot.format import estimate
from travelbot.jsonl import json_safe
from travelbot.stats import mean_interval, ppi_mean, wilson_interval
from travelbot.store import Store, get_store

LEXICAL = ("bleu", "rouge1", "rouge2", "rougeL", "meteor")
METRIC_NAMES = (*LEXICAL, "bertscore_precision", "bertscore_recall", "bertscore_f1", "semantic_golden")  # not baselines
SHOWN_METRICS = ("bleu", "rougeL", "bertscore_f1", "semantic_golden")
JUDGE_CRITERIA = ("judge_relevance", "judge_accuracy", "judge_completeness", "judge_clarity", "judge_overall")
SURE = 0.95  # a preference (bootstrap probability) or an interval at this level decides a finding
MIN_AGREEMENT_ITEMS = 20  # fewer battles than this leave an agreement finding undetermined


@dataclass
class VariantRow:
    variant: str
    method: str
    base: str
    people_rating: dict[str, Any] | None = None  # Bradley–Terry rating, interval, battles, provisional
    people_overall: dict[str, Any] | None = None  # mean overall rating (1-5) with interval and n answers
    people_overall_ppi: dict[str, Any] | None = None  # the same, prediction-powered by the judge's overall score
    judge: dict[str, dict[str, Any]] = field(default_factory=dict)  # criterion -> mean with interval
    judge_win_rate: dict[str, Any] | None = None  # pairwise judge on golden answers, ties half (Wilson)
    people_win_rate: dict[str, Any] | None = None  # share of its battles people gave it, ties half (Wilson)
    people_win_rate_ppi: dict[str, Any] | None = None  # the same, prediction-powered by the judge's verdicts
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # metric -> mean with interval
    training: dict[str, Any] | None = None  # from the adapter's run.json
    serving: dict[str, Any] | None = None  # from stored chat turns


@dataclass
class Finding:
    claim: str
    status: str  # supported | contradicted | undetermined
    evidence: str
    rule: str


@dataclass
class Verdict:
    rows: list[VariantRow]
    preference: str
    findings: list[Finding]
    recommendation: str
    recommended: str | None
    missing: list[str]
    votes: int
    ratings: int
    judges: list[Any] = field(default_factory=list)  # calibration.JudgeCalibration per judge model

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))


# ---------------------------------------------------------------------------------------- the rows


def _figure(value: float, lower: float, upper: float, n: int, **extra: Any) -> dict[str, Any]:
    return {"value": value, "lower": lower, "upper": upper, "n": n, **extra}


def _means(values: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, numbers in values.items():
        mean, lower, upper, n = mean_interval(numbers)
        out[name] = _figure(mean, lower, upper, n)
    return out


def _trained_as(adapter: Path) -> str | None:
    try:
        return json.loads((adapter / "travelbot.json").read_text(encoding="utf-8")).get("trained_as")
    except (OSError, ValueError, AttributeError):
        return None


def _training(adapter: Path | None, trained_as: dict[str | None, str]) -> dict[str, Any] | None:
    """What training the variant cost, from the run record exported with its adapter (its start named as the
    variant it became, when it is one)."""
    if adapter is None or not (adapter / "run.json").is_file():
        return None
    try:
        run = json.loads((adapter / "run.json").read_text(encoding="utf-8"))
        config = json.loads((adapter / "training_config.json").read_text(encoding="utf-8")) \
            if (adapter / "training_config.json").is_file() else {}
    except (OSError, ValueError):
        return None
    metrics = run.get("metrics") or {}
    device = "cpu" if str(run.get("preset", "")).startswith("cpu") else "cuda"
    seconds = run.get("seconds")
    return {"seconds": seconds, "device": device, "preset": run.get("preset"), "run": run.get("name"),
            "start": trained_as.get(run.get("start_variant"), run.get("start_variant")), "steps": config.get("max_steps"),
            "tokens": metrics.get("tokens_seen") or metrics.get("num_tokens"),
            "gpu_hours": round(seconds / 3600, 3) if device == "cuda" and isinstance(seconds, (int, float)) else None}


def _serving(store: Store, limit: int = 20_000) -> dict[str, dict[str, Any]]:
    """Per variant: median seconds to the first token and median tokens per second over stored chat turns."""
    first: dict[str, list[float]] = defaultdict(list)
    speed: dict[str, list[float]] = defaultdict(list)
    for turn in store.turns(limit=limit):
        if turn.error:
            continue
        if turn.first_token_seconds is not None:
            first[turn.variant].append(turn.first_token_seconds)
        decoding = turn.seconds - (turn.first_token_seconds or 0.0)
        if turn.completion_tokens > 1 and decoding > 0:
            speed[turn.variant].append((turn.completion_tokens - 1) / decoding)
    return {v: {"first_token_s": statistics.median(first[v]) if first[v] else None,
                "tokens_per_s": statistics.median(speed[v]) if speed[v] else None,
                "turns": max(len(first[v]), len(speed[v]))} for v in set(first) | set(speed)}


def _benchmarked() -> dict[str, dict[str, Any]]:
    """Per variant, from the newest ``travelbot bench chat`` (when one ran): its decode speed and first token
    against llama.cpp, and the serving process's memory with every variant of its base loaded."""
    from travelbot.bench import chat_figures_path

    try:
        figures = json.loads(chat_figures_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    memory = (figures.get("rss_mb") or {}).get("base_plus_variants")
    return {row["variant"]: {"bench_decode_tokens_per_s": row.get("decode_tokens_per_s"),
                             "bench_first_token_s": row.get("ttft_s"), "memory_mb": memory}
            for row in figures.get("variants", []) if isinstance(row, dict) and "variant" in row}


def _judge_win_rates(store: Store) -> dict[str, dict[str, Any]]:
    wins: dict[str, float] = defaultdict(float)
    judged: dict[str, int] = defaultdict(int)
    for a, b, winner in repository.pairwise_outcomes(store):
        for side, variant in (("A", a), ("B", b)):
            judged[variant] += 1
            wins[variant] += 1.0 if winner == side else 0.5 if winner == "tie" else 0.0
    out = {}
    for variant, n in judged.items():
        lower, upper = wilson_interval(wins[variant], n)
        out[variant] = _figure(wins[variant] / n, lower, upper, n)
    return out


def _ratings_with_ppi(store: Store) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Per variant: people's mean overall rating of its evaluation answers, and the prediction-powered mean that
    adds the judge's overall score on every answer of the variant (people's labels correct the judge's bias)."""
    from travelbot.analysis.store_agreement import rated_eval_answers

    rated = rated_eval_answers(store)
    judged = {answer_id: value for answer_id, _, value in repository.metric_scores(store, "judge_overall", None)
              if value is not None}
    keys = repository.answer_keys(store, ids=set(rated) | set(judged))
    people: dict[str, dict[str, Any]] = {}
    powered: dict[str, dict[str, Any]] = {}
    for variant in sorted({v for v, _ in keys.values()}):
        labelled = [i for i in rated if keys.get(i, ("",))[0] == variant]
        if not labelled:
            continue
        mean, lower, upper, n = mean_interval([rated[i] for i in labelled])
        people[variant] = _figure(mean, lower, upper, n)
        both = [i for i in labelled if i in judged]
        others = [i for i, (v, _) in keys.items() if v == variant and i in judged and i not in rated]
        if len(both) >= 2 and others:
            result = ppi_mean([rated[i] for i in both], [judged[i] for i in both], [judged[i] for i in others])
            powered[variant] = _figure(result["estimate"], result["lower"], result["upper"], result["n"],
                                       judge_only=result["N"], classical=[result["classical_lower"],
                                                                          result["classical_upper"]],
                                       worth=result["effective_n"], weight=result["lambda"])
    return people, powered


def _outcome(winner: str, side: str) -> float:
    """A battle's outcome for the variant on ``side`` ("A" or "B"): 1 won, 0.5 tie, 0 lost."""
    return 1.0 if winner == side else 0.5 if winner == "tie" else 0.0


def _win_rates_with_ppi(store: Store) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Per variant: the share of its voted battles people gave it, and the prediction-powered share that adds
    the judge's verdicts — on the voted battles it judged (to measure its error) and on every pairwise
    comparison of golden answers (assumed to be drawn like the battles: use golden-question battles)."""
    from travelbot.analysis.store_agreement import WINNER_LABELS
    from travelbot.feedback.battle_judge import judge_labels
    from travelbot.feedback.voter_quality import store_battles

    verdicts = next(iter(sorted(judge_labels(store).items())), (None, {}))[1]  # one judge: the first by name
    people: dict[str, list[float]] = defaultdict(list)
    pairs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in store_battles(store)[0]:
        winner = WINNER_LABELS[row["winner"]]
        for side, variant in (("A", row["model_a"]), ("B", row["model_b"])):
            people[variant].append(_outcome(winner, side))
            if row["question_id"] in verdicts:
                pairs[variant].append((_outcome(winner, side), _outcome(verdicts[row["question_id"]], side)))
    judged_only: dict[str, list[float]] = defaultdict(list)
    for a, b, winner in repository.pairwise_outcomes(store):
        judged_only[a].append(_outcome(winner, "A"))
        judged_only[b].append(_outcome(winner, "B"))
    shares, powered = {}, {}
    for variant, outcomes in people.items():
        lower, upper = wilson_interval(sum(outcomes), len(outcomes))
        shares[variant] = _figure(sum(outcomes) / len(outcomes), lower, upper, len(outcomes))
        labelled = pairs.get(variant, [])
        if len(labelled) >= 2 and judged_only.get(variant):
            result = ppi_mean([y for y, _ in labelled], [f for _, f in labelled], judged_only[variant])
            powered[variant] = _figure(result["estimate"], result["lower"], result["upper"], result["n"],
                                       judge_only=result["N"], worth=result["effective_n"], weight=result["lambda"])
    return shares, powered


def variant_rows(store: Store, board: Any, rating_summary: Any) -> list[VariantRow]:
    from travelbot.models import get_registry

    registry = get_registry()
    variants = registry.variants()
    metric_values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    current = {name: variant.revision for name, variant in variants.items()}  # answers of today's adapters only
    for variant, metric, value in repository.variant_metric_values(store, [*SHOWN_METRICS, *JUDGE_CRITERIA],
                                                                    revisions=current):
        metric_values[variant][metric].append(value)
    trained_as = {_trained_as(v.adapter): name for name, v in variants.items() if v.adapter is not None}
    people_overall, powered = _ratings_with_ppi(store)
    win_rates, powered_win_rates = _win_rates_with_ppi(store)
    judge_rates = _judge_win_rates(store)
    serving = _serving(store)
    for name, figures in _benchmarked().items():
        serving[name] = {"first_token_s": None, "tokens_per_s": None, "turns": 0, **serving.get(name, {}), **figures}
    ratings = {r.variant: r for r in board.ratings}
    rows = []
    for name, variant in variants.items():
        rating = ratings.get(name)
        values = metric_values.get(name, {})
        rows.append(VariantRow(
            variant=name, method=variant.method, base=variant.base.name,
            people_rating=None if rating is None else _figure(rating.rating, rating.lower, rating.upper,
                                                              rating.battles, provisional=rating.provisional),
            people_overall=people_overall.get(name), people_overall_ppi=powered.get(name),
            judge=_means({k: v for k, v in values.items() if k in JUDGE_CRITERIA}),
            judge_win_rate=judge_rates.get(name), people_win_rate=win_rates.get(name),
            people_win_rate_ppi=powered_win_rates.get(name),
            metrics=_means({k: v for k, v in values.items() if k in SHOWN_METRICS}),
            training=_training(variant.adapter, trained_as), serving=serving.get(name)))
    return rows


# ---------------------------------------------------------------------------------------- the sentences


def _prefer(board: Any, better: str, worse: str) -> tuple[float | None, str]:
    """P(people rate ``better`` above ``worse``) from the bootstrap, and a sentence with the rating gap."""
    if better not in board.variants or worse not in board.variants:
        return None, f"no votes on {better if better not in board.variants else worse} yet"
    i, j = board.variants.index(better), board.variants.index(worse)
    p = board.superiority[i][j] if board.superiority else None
    if p is None:
        return None, f"{better} and {worse} were never both rated"
    ratings = {r.variant: r for r in board.ratings}
    gap = ratings[better].rating - ratings[worse].rating
    return p, (f"{better} {'above' if gap >= 0 else 'below'} {worse} by {abs(gap):.0f} rating points, probability "
               f"{p:.3f} that people rate it higher (bootstrap over {board.n_battles} votes)")


def _newest(rows: list[VariantRow], method: str) -> str | None:
    """The variant of a method the finding is about: the one people voted on most, else the last listed."""
    rows = [r for r in rows if r.method == method]
    voted = [r for r in rows if r.people_rating]
    if voted:
        return max(voted, key=lambda r: r.people_rating["n"]).variant
    return rows[-1].variant if rows else None


def _finding_between(board: Any, rows: list[VariantRow], claim: str, better_method: str, worse: str | None,
                     ) -> Finding:
    rule = (f"supported when the bootstrap probability that people rate it higher is at least {SURE}, "
            f"contradicted when it is at most {1 - SURE:.2f}, undetermined between")
    better = _newest(rows, better_method)
    if better is None or worse is None:
        return Finding(claim, "undetermined", f"there is no {better_method if better is None else 'start'} variant "
                       "to compare", rule)
    p, sentence = _prefer(board, better, worse)
    if p is None:
        return Finding(claim, "undetermined", f"{sentence}: vote in the Arena on battles between them", rule)
    status = "supported" if p >= SURE else "contradicted" if p <= 1 - SURE else "undetermined"
    return Finding(claim, status, sentence, rule)


def _agreement_findings(agreement: Any) -> list[Finding]:
    lexical = {m: a for m, a in agreement.votes.items() if m in LEXICAL and a.n}
    rule = (f"accuracy without ties against people's votes on golden-question battles (Wilson 95%), with at least "
            f"{MIN_AGREEMENT_ITEMS} battles: lexical metrics disagree when every interval includes or lies below "
            "chance (0.5), and agree when one lies above it")
    claim = "Lexical metrics (BLEU, ROUGE) disagree with people"
    if not lexical or max(a.accuracy_without_ties.n for a in lexical.values()) < MIN_AGREEMENT_ITEMS:
        n = max((a.accuracy_without_ties.n for a in lexical.values()), default=0)
        lexical_finding = Finding(claim, "undetermined", f"{n} decided votes on golden questions with metric scores "
                                  f"(need {MIN_AGREEMENT_ITEMS}): use “Battle on a golden question” in the Arena and "
                                  "evaluate those variants with BLEU and ROUGE", rule)
    else:
        text = "; ".join(f"{m} {estimate(a.accuracy_without_ties.value, a.accuracy_without_ties.lower, a.accuracy_without_ties.upper)} "
                         f"(n={a.accuracy_without_ties.n})" for m, a in lexical.items())
        above = [m for m, a in lexical.items() if a.accuracy_without_ties.lower > 0.5]
        lexical_finding = Finding(claim, "contradicted" if above else "supported", text, rule)

    judge_claim = "The LLM judge agrees with people better than the metrics do"
    judge_rule = ("supported when the judge's accuracy interval (without ties) lies above every metric's point "
                  "accuracy, contradicted when it lies below the best metric's, undetermined otherwise")
    judges = {m: a for m, a in agreement.judges.items() if a.accuracy_without_ties.n}
    metrics = {m: a for m, a in agreement.votes.items() if a.accuracy_without_ties.n and m in METRIC_NAMES}
    if not judges or not metrics:
        missing = "no LLM judge verdicts on the votes (set TRAVELBOT_JUDGE_MODEL)" if not judges else \
            "no metric scores on voted golden-question battles"
        return [lexical_finding, Finding(judge_claim, "undetermined", missing, judge_rule)]
    model, judge = max(judges.items(), key=lambda kv: kv[1].accuracy_without_ties.n)
    best_metric, best = max(metrics.items(), key=lambda kv: kv[1].accuracy_without_ties.value)
    j, b = judge.accuracy_without_ties, best.accuracy_without_ties
    status = "supported" if j.lower > max(a.accuracy_without_ties.value for a in metrics.values()) else (
        "contradicted" if j.upper < b.value else "undetermined")
    evidence = (f"{model} {estimate(j.value, j.lower, j.upper)} (n={j.n}) against the best metric, {best_metric}, "
                f"{estimate(b.value, b.lower, b.upper)} (n={b.n})")
    return [lexical_finding, Finding(judge_claim, status, evidence, judge_rule)]


def _preference(board: Any) -> str:
    if not board.ratings:
        return "No votes yet: people's preference needs battles in the Arena."
    if len(board.ratings) < 2:
        return f"Only {board.ratings[0].variant} has votes so far; battles between two variants are needed."
    separation = board.votes_to_separate_top_two
    leader, runner_up = separation.leader, separation.runner_up
    p, _ = _prefer(board, leader, runner_up)
    if separation.separated:
        return (f"People prefer {leader} over {runner_up} (probability {p:.3f} from the bootstrap), by "
                f"{separation.difference:.0f} rating points [{separation.lower:.0f}, {separation.upper:.0f}].")
    return (f"{leader} and {runner_up} cannot be separated yet ({leader} ahead by {separation.difference:.0f} "
            f"points [{separation.lower:.0f}, {separation.upper:.0f}], probability {p:.3f}): about "
            f"{separation.votes:,} more votes on this pair would separate a difference of "
            f"{separation.assumed_difference:.0f} points.")


def _cost(row: VariantRow) -> tuple[float, float]:
    latency = (row.serving or {}).get("first_token_s")
    training = (row.training or {}).get("seconds") or 0.0
    return (latency if latency is not None else math.inf, training)


def recommend(rows: list[VariantRow], board: Any = None) -> tuple[str | None, str]:
    """Among the variants people cannot tell from the best-rated one, the cheapest to serve (then to train); the
    reason in a sentence. "Cannot tell" is the bootstrap's probability that the best is rated above it staying
    under 0.95 (with no board: their intervals overlap)."""
    rated = [r for r in rows if r.people_rating]
    if not rated:
        return None, "No recommendation yet: it needs people's votes (Arena)."
    best = max(rated, key=lambda r: r.people_rating["value"])

    def close_to_best(row: VariantRow) -> bool:
        if row is best:
            return True
        if board is not None and board.superiority and row.variant in board.variants:
            i, j = board.variants.index(best.variant), board.variants.index(row.variant)
            p = board.superiority[i][j]
            return p is not None and p < SURE
        return row.people_rating["upper"] >= best.people_rating["lower"]

    tied = [r for r in rated if close_to_best(r)]
    best_text = estimate(best.people_rating["value"], best.people_rating["lower"], best.people_rating["upper"], 0)
    if len(tied) == 1:
        return best.variant, f"{best.variant}: people rate it above every other variant ({best_text})."
    cheapest = min(tied, key=lambda r: (*_cost(r), -r.people_rating["value"]))
    latency = _cost(cheapest)[0]
    cost = f"first token in {latency:.2f} s" if math.isfinite(latency) else "no measured latency"
    cost += f", training {(cheapest.training or {}).get('seconds') or 0:.0f} s"
    others = ", ".join(r.variant for r in tied if r is not best)
    provisional = [r.variant for r in tied if r.people_rating.get("provisional")]
    if provisional:  # too few votes to trade quality for cost: the leader, with what would change it
        alternative = (f"; the cheapest of them is {cheapest.variant} ({cost})" if cheapest is not best else "")
        return best.variant, (f"{best.variant}, provisionally: it leads ({best_text}), but people cannot yet tell it "
                              f"from {others} (bootstrap probability below {SURE} that it is better){alternative}. "
                              f"{', '.join(provisional)} {'has' if len(provisional) == 1 else 'have'} fewer battles "
                              "than the leaderboard's minimum: vote more before deciding.")
    return cheapest.variant, (f"{cheapest.variant}: people cannot tell it from the best-rated {best.variant} "
                              f"({len(tied)} variants within reach, bootstrap probability below {SURE}), and it is "
                              f"the cheapest of those ({cost}).")


def pareto_front(rows: list[VariantRow], cost: str = "latency") -> list[str]:
    """Variants no other beats on people's rating and on a cost at once: first-token latency, or training time."""
    index = 0 if cost == "latency" else 1
    points = [(r.variant, r.people_rating["value"], _cost(r)[index]) for r in rows if r.people_rating]
    return [name for name, rating, latency in points
            if not any(o_rating >= rating and o_latency <= latency and (o_rating, o_latency) != (rating, latency)
                       for _, o_rating, o_latency in points)]


def _missing(rows: list[VariantRow], votes: int, ratings: int, agreement: Any) -> list[str]:
    notes = []
    if votes == 0:
        notes.append("No votes: people's ratings, the preference and the findings on RAFT and RLHF need Arena battles.")
    if ratings == 0:
        notes.append("No ratings: people's mean rating (and its prediction-powered interval) needs the Rate tab.")
    if not any(r.metrics for r in rows):
        notes.append("No evaluation scores: run an evaluation (Evaluate tab, or `travelbot eval`).")
    if not any(r.judge for r in rows):
        notes.append("No LLM judge scores: set TRAVELBOT_JUDGE_MODEL and run the judge scorer.")
    if not agreement.votes_considered:
        notes.append("No votes on golden questions: the metric-agreement findings need “Battle on a golden question”.")
    return notes


def verdict(store: Store | None = None, *, rounds: int = 1000, seed: int = 0) -> Verdict:
    """The verdict on this store's data (see the module docstring)."""
    from travelbot.analysis.calibration import judge_calibration
    from travelbot.analysis.store_agreement import store_agreement
    from travelbot.feedback.standings import standings

    store = store or get_store()
    result = standings(store, rounds=rounds, seed=seed, min_battles=get_settings().leaderboard_min_battles)
    board = result.board
    rows = variant_rows(store, board, result.ratings)
    agreement = store_agreement(("bleu", "rouge1", "rougeL", "bertscore_f1", "semantic_golden"), store,
                                rounds=rounds, seed=seed)
    qlora, raft = _newest(rows, "qlora"), _newest(rows, "raft")
    findings = [
        _finding_between(board, rows, "RAFT beats QLoRA", "raft", qlora),
        _finding_between(board, rows, "RLHF improves on its start (RAFT)", "rlhf", raft),
        _finding_between(board, rows, "DPO improves on its start (RAFT)", "dpo", raft),
        *_agreement_findings(agreement),
    ]
    recommended, reason = recommend(rows, board)
    return Verdict(rows, _preference(board), findings, reason, recommended,
                   _missing(rows, board.n_battles, result.ratings.n_ratings, agreement), board.n_battles,
                   result.ratings.n_ratings, judge_calibration(store, rounds=rounds, seed=seed))


__all__ = ["Finding", "VariantRow", "Verdict", "pareto_front", "recommend", "verdict"]
