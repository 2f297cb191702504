"""Measurement: golden-answer runs, imported judgment sets, agreement with people, the report."""

from __future__ import annotations

import json
import time

import click

from travelbot import format
from travelbot.cli.base import echo_job, job_work, main, print_json, user_errors
from travelbot.errors import TravelbotError
from travelbot.evaluation.scorers import METRIC_SCORERS, SCORER_NAMES


def _settings(overrides: tuple[str, ...]) -> dict:
    settings = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise TravelbotError(f"--set needs KEY=VALUE, not {item!r}.")
        try:
            settings[key.strip()] = json.loads(value)
        except ValueError:
            settings[key.strip()] = value.strip()
    return settings


def _run_evaluation(config, job_id: int | None, as_json: bool) -> int:
    """Run the evaluation here (as job ``job_id``'s process when given, reporting to it); return the run id."""
    from travelbot.evaluation.run import evaluate
    from travelbot.jobs import record_progress

    started = time.perf_counter()
    last = [0.0]
    with job_work(job_id) as result:
        def progress(done: int, total: int, what: str) -> None:
            if not as_json:
                click.echo(f"· [{done}/{total}] {what}", err=True)
            now = time.monotonic()
            if job_id is not None and (now - last[0] > 1.0 or done >= total):
                last[0] = now
                record_progress(job_id, {"event": "progress", "run_id": result.get("run_id"), "done": done,
                                         "total": total, "what": what})

        def on_start(run_id: int) -> None:
            result["run_id"] = run_id
            if job_id is not None:
                record_progress(job_id, {"event": "run", "run_id": run_id})

        run = evaluate(config, progress=progress, on_start=on_start)
        result["missing"] = run.missing
    if not as_json:
        click.echo(f"run {run.id} finished in {time.perf_counter() - started:.1f} s", err=True)
    return run.id


@main.command("eval")
@click.option("--variants", default=None, help="Comma-separated variant names (default: every variant).")
@click.option("--scorers", "--metrics", "scorers", default="bleu,rouge,bertscore,semantic,length", show_default=True,
              help=f"Comma-separated: {', '.join(SCORER_NAMES)}.")
@click.option("--split", type=click.Choice(["dev", "test", "all"]), default="dev", show_default=True)
@click.option("--limit", type=click.IntRange(1, 100000), default=None, help="Only the first N questions.")
@click.option("--batch-size", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Questions answered together (1 = true per-answer latency).")
@click.option("--max-new-tokens", type=click.IntRange(1, 8192), default=None)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="A generation setting for every variant, e.g. temperature=0.7 (values are JSON).")
@click.option("--show", "show_run", type=int, default=None, help="Print the results of an earlier run instead.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write per-answer scores (.csv or .jsonl).")
@click.option("--background", is_flag=True, help="Queue the run as a job and return at once (`travelbot jobs`).")
@click.option("--job-id", type=int, default=None, hidden=True)
@click.option("--json", "as_json", is_flag=True, help="Summaries, answers, scores and verdicts as JSON.")
@user_errors
def evaluate_command(variants: str | None, scorers: str, split: str, limit: int | None, batch_size: int,
                     max_new_tokens: int | None, overrides: tuple[str, ...], show_run: int | None, out: str | None,
                     background: bool, job_id: int | None, as_json: bool) -> None:
    """Answer the golden questions with each variant and score the answers (cached; resumable)."""
    from pathlib import Path

    from travelbot.evaluation.results import run_results
    from travelbot.evaluation.run import EvalConfig, reconcile_runs, submit_evaluation
    from travelbot.models import get_registry

    reconcile_runs()  # a run whose process died reads as failed, not running forever
    if show_run is None:
        names = [v.strip() for v in variants.split(",") if v.strip()] if variants else list(get_registry().variants())
        settings = _settings(overrides)
        if max_new_tokens:
            settings["max_new_tokens"] = max_new_tokens
        config = EvalConfig(names, [m.strip() for m in scorers.split(",") if m.strip()], split, limit, settings,
                            batch_size)
        if background:
            echo_job(submit_evaluation(config), as_json)
            return
        show_run = _run_evaluation(config, job_id, as_json)
    results = run_results(show_run)
    if out:
        path = Path(out)
        path.write_text(results.to_csv() if path.suffix == ".csv" else results.to_jsonl(), encoding="utf-8")
    if as_json:
        print_json(results.to_dict())
        return
    click.echo(f"{'variant':<26} {'metric':<22} {'mean':>8}  {'95% interval':<19} {'n':>4} {'missing':>7}")
    for m in results.metrics:
        interval, mean = format.interval(m.lower, m.upper), format.estimate(m.mean)
        reasons = f"  ({', '.join(f'{k}: {v}' for k, v in m.missing_reasons.items())})" if m.missing else ""
        click.echo(f"{m.variant:<26} {m.metric:<22} {mean:>8}  {interval:<19} {m.n:>4} {m.missing:>7}{reasons}")
    for p in results.pairs:
        click.echo(f"pairwise {p.variant_a} vs {p.variant_b}: {p.wins_a}-{p.wins_b}-{p.ties} (A-B-tie), "
                   f"inconsistent {p.inconsistent}, missing {p.missing}, win rate A "
                   f"{p.win_rate_a if p.win_rate_a is not None else '—'}")
    usage = results.run.get("usage") or {}
    if usage:
        click.echo(f"judge: {format.judge_usage(usage)}")
    if results.run.get("backends"):
        click.echo("answered by: " + ", ".join(f"{v} on {b}" for v, b in results.run["backends"].items()))


@main.group()
def judgments() -> None:
    """Imported pairwise human judgments (PandaLM's test set, or the generic JSONL format)."""


@judgments.command("import")
@click.argument("path", type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["pandalm", "jsonl"]), required=True)
@click.option("--judge", "judges", multiple=True, metavar="NAME=PATH",
              help="PandaLM: a judge's verdict file (default: the gpt-3.5-turbo and pandalm-7b files beside PATH).")
@click.option("--name", "set_name", default=None, help="Name of the set (default: the format's name).")
@click.option("--json", "as_json", is_flag=True)
@user_errors
def judgments_import(path: str, fmt: str, judges: tuple[str, ...], set_name: str | None, as_json: bool) -> None:
    """Import human judgments into the store; bad rows are reported with a reason, the rest are kept."""
    from pathlib import Path

    from travelbot.analysis.judgments import import_judgments, load_jsonl_judgments, load_pandalm

    judge_files = {}
    for spec in judges:
        name, sep, file = spec.partition("=")
        if not sep or not name.strip() or not file.strip():
            raise TravelbotError(f"--judge takes NAME=PATH, not {spec!r}.")
        judge_files[name.strip()] = Path(file.strip())
    if fmt == "pandalm":
        items, report = load_pandalm(Path(path), judge_files or None)
    else:
        if judge_files:
            raise TravelbotError("--judge is for the pandalm format; put judges' verdicts in the JSONL rows.")
        items, report = load_jsonl_judgments(Path(path))
    name = set_name or fmt
    count = import_judgments(items, name, f"{fmt}:{Path(path).name}")
    if as_json:
        print_json({"set": name, "imported": count, **report.summary()})
        return
    judges_found = sorted({j for item in items for j in item.judges})
    click.echo(f"imported {count} items into set {name!r} (judges: {', '.join(judges_found) or 'none'}); "
               f"{report.refused} problems")
    for problem in report.problems[:20]:
        click.echo(f"  {problem}", err=True)


def _echo_rankings(rankings: dict) -> None:
    """Each automatic ranking's separability and agreement with confidence against people's board, explained."""
    from travelbot.analysis.separability import AGREEMENT_MEANS, SEPARABILITY_MEANS

    if rankings:
        click.echo(f"each automatic ranking of the variants against people's board:\n  {SEPARABILITY_MEANS}\n"
                   f"  {AGREEMENT_MEANS}")
    for name, ranking in rankings.items():
        d = ranking.to_dict()
        click.echo(f"  {name:<22} {ranking.kind:<9} {len(ranking.variants)} variants: separability "
                   f"{format.separability(d['separability'])}, people's "
                   f"{format.separability(d['people_separability'])}; agreement with confidence "
                   f"{format.agreement_with_confidence(d['agreement_with_confidence'])}")


@main.command()
@click.option("--source", default="store", show_default=True,
              help="'store' (arena votes and ratings vs stored scores) or an imported judgment set's name.")
@click.option("--metrics", default="",
              help=f"Metrics to use as judges, comma-separated from: {', '.join(METRIC_SCORERS)}.")
@click.option("--reference-from", default=None,
              help="Use this judge's reference answer for the metrics (default: the item's own reference).")
@click.option("--margin", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Score differences up to this count as a tie when a metric acts as a judge.")
@click.option("--split", default=None, help="Store only: golden questions of this split (dev or test).")
@click.option("--variants", default="", help="Store only: comma-separated variants (default: all).")
@click.option("--criterion", default="overall", show_default=True,
              help="Store only: the human rating criterion (relevance, helpfulness, correctness, coherence, "
                   "conciseness, overall).")
@click.option("--rounds", type=click.IntRange(200, 100000), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@user_errors
def agreement(source: str, metrics: str, reference_from: str | None, margin: float, split: str | None,
              variants: str, criterion: str, rounds: int, seed: int, as_json: bool) -> None:
    """How well each judge (and each metric used as a judge) agrees with the humans, with 95% intervals."""
    from travelbot.analysis.judge_agreement import set_agreement

    def fmt(figure: dict | None) -> str:
        return format.estimate_of(figure, digits=4)

    if source == "store":
        from travelbot.analysis.store_agreement import Scope, store_agreement

        chosen = [m.strip() for m in metrics.split(",") if m.strip()] or ["bleu", "rougeL", "bertscore_f1"]
        scope = Scope(split=split or None, variants=tuple(v.strip() for v in variants.split(",") if v.strip()),
                      criterion=criterion)
        found = store_agreement(chosen, scope=scope, margin=margin, rounds=rounds, seed=seed)
        if as_json:
            print_json(found.to_dict())
            return
        for model, a in found.judges.items():
            d = a.to_dict()
            click.echo(f"LLM judge {model} on the arena votes (any question, both orders): n={d['n']} accuracy "
                       f"{fmt(d['accuracy'])}  w/o ties {fmt(d['accuracy_without_ties'])}  kappa {fmt(d['kappa'])}")
        click.echo(f"arena votes on golden questions: {found.votes_considered}")
        for metric, a in found.votes.items():
            d = a.to_dict()
            click.echo(f"  {metric:<22} n={d['n']:<4} accuracy {fmt(d['accuracy'])}  w/o ties "
                       f"{fmt(d['accuracy_without_ties'])}  kappa {fmt(d['kappa'])}")
        click.echo(f"evaluation answers rated on {criterion}: {found.rated_answers}")
        for metric, figures in found.ratings.items():
            click.echo(f"  {metric:<22} " + "  ".join(f"{k} {fmt(e.to_dict())}" for k, e in figures.items()))
        if found.criteria:
            click.echo("people's rating on each criterion vs the judge's verdict on it:")
        for name, figures in found.criteria.items():
            click.echo(f"  {name:<13} vs {figures['judge_metric']:<18} " + "  ".join(
                f"{k} {fmt(e.to_dict())}" for k, e in figures["correlations"].items()))
        _echo_rankings(found.rankings)
        return
    from travelbot.analysis.judgments import import_bundled_set

    if import_bundled_set(source):  # a shipped set (PandaLM's) needs no import step
        click.echo(f"Imported the bundled judgment set {source!r} into this data home.", err=True)
    result = set_agreement(source, metrics=[m.strip() for m in metrics.split(",") if m.strip()],
                           reference_from=reference_from, margin=margin, rounds=rounds, seed=seed)
    if as_json:
        print_json(result.to_dict())
        return
    ceiling = result.humans["ceiling"]
    click.echo(f"set {result.set_name}: {result.items} items; human majority {result.humans['labels']}")
    click.echo(f"humans: leave-one-out {fmt(ceiling['leave_one_out'])}, Fleiss' kappa {fmt(ceiling['fleiss_kappa'])}, "
               f"Krippendorff's alpha {fmt(ceiling['krippendorff_alpha'])}")
    click.echo(f"{'judge':<22} {'kind':<6} {'n':>5}  {'accuracy':<26} {'acc. w/o ties':<26} {'macro F1':<26} "
               f"{'kappa':<26}")
    for row in result.rows:
        a = row.agreement.to_dict()
        click.echo(f"{row.name:<22} {row.kind:<6} {a['n']:>5}  {fmt(a['accuracy']):<26} "
                   f"{fmt(a['accuracy_without_ties']):<26} {fmt(a['f1']):<26} {fmt(a['kappa']):<26}")
    if caveat := result.metric_caveat():
        click.echo(caveat)
    for row in result.rows:
        if orders := row.notes.get("orders"):
            click.echo(f"{row.name}, asked in both orders: position consistency {format.figure(orders['position_consistency'])}; "
                       f"accuracy first order {fmt(orders['accuracy_first_order'])}, swapped "
                       f"{fmt(orders['accuracy_swapped_order'])}, where both orders agree "
                       f"{fmt(orders['accuracy_consistent_items'])}")
    _echo_rankings(result.rankings)
    if not result.rankings:
        from travelbot.analysis.judge_agreement import NO_RANKINGS

        click.echo(NO_RANKINGS)


@main.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the report.")
@click.option("--rounds", type=click.IntRange(200, 100000), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@user_errors
def report(out_dir: str, rounds: int, seed: int) -> None:
    """Write report.html (self-contained, charts embedded) and report.md: variants, metrics, humans, agreement."""
    from pathlib import Path

    from travelbot.analysis.report import write_report

    paths = write_report(Path(out_dir), rounds=rounds, seed=seed)
    click.echo(f"wrote {paths['html']} and {paths['markdown']}")


@main.command("verdict")
@click.option("--rounds", type=click.IntRange(200, 100000), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="The verdict and every figure behind it as JSON.")
@user_errors
def verdict_command(rounds: int, seed: int, as_json: bool) -> None:
    """Which variant to ship: people's preference, the study's four findings on this data, cost and quality."""
    from travelbot.analysis.verdict import verdict

    found = verdict(rounds=rounds, seed=seed)
    if as_json:
        print_json(found.to_dict())
        return
    click.echo(found.preference)
    for finding in found.findings:
        click.echo(f"- {finding.claim}: {finding.status.upper()} — {finding.evidence}")
    click.echo(f"Recommended: {found.recommendation}")
    for judge in found.judges:
        click.echo(f"Judge {judge.judge}: {judge.sentence} Position consistency {format.figure(judge.position_consistency)}; "
                   f"prefers the longer answer {format.figure(judge.judge_prefers_longer)} "
                   f"(people {format.figure(judge.people_prefer_longer)}).")
    click.echo(f"\n{'variant':<22} {'method':<6} {'people (Bradley–Terry)':<32} {'mean rating':<26} "
               f"{'judge overall':<24} {'MiniLM':<24} {'train s':>8} {'1st token s':>11}")
    for row in found.rows:
        click.echo(f"{row.variant:<22} {row.method:<6} {format.figure(row.people_rating, 0):<32} "
                   f"{format.figure(row.people_overall, 2):<26} {format.figure(row.judge.get('judge_overall'), 2):<24} "
                   f"{format.figure(row.metrics.get('semantic_golden')):<24} "
                   f"{(row.training or {}).get('seconds') or '—':>8} "
                   f"{format.estimate((row.serving or {}).get('first_token_s'), digits=2):>11}")
    for note in found.missing:
        click.echo(f"missing: {note}", err=True)
