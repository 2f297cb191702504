"""The ``travelbot`` command: one sub-command per feature, thin over the same functions as the UI."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from travelbot import __version__
from travelbot.errors import TravelbotError
from travelbot.evaluation.scorers import METRIC_SCORERS, SCORER_NAMES
from travelbot.training.methods import METHODS


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a TravelbotError as one sentence and exit with its code instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TravelbotError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group()
@click.version_option(__version__, prog_name="travelbot")
def main() -> None:
    """Compare fine-tuned travel chatbots and find out which metrics agree with people."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@user_errors
def variants(as_json: bool) -> None:
    """List the variants you can chat with (bases, configured variants, discovered adapters)."""
    from travelbot.models import backend_kind, get_registry

    registry = get_registry()
    found = registry.variants()
    if as_json:
        _print_json({"variants": [v.summary() | {"backend": backend_kind(v.base)} for v in found.values()],
                     "problems": registry.problems})
        return
    for variant in found.values():
        adapter = f"  adapter: {variant.adapter}" if variant.adapter else ""
        click.echo(f"{variant.name:<28} {variant.method:<6} base: {variant.base.name}{adapter}")
    for problem in registry.problems:
        click.echo(f"skipped: {problem}", err=True)


@main.command()
@click.argument("variant")
@click.argument("message")
@click.option("--max-new-tokens", type=click.IntRange(1, 8192), default=None, help="Longest answer in tokens.")
@click.option("--temperature", type=click.FloatRange(0, 5), default=None, help="0 for greedy decoding.")
@click.option("--seed", type=int, default=None, help="Seed for sampling, for repeatable answers.")
@click.option("--system", "system_prompt", default=None, help="Replace the variant's system prompt.")
@click.option("--json", "as_json", is_flag=True, help="Print answer, variant, tokens and seconds as JSON.")
@user_errors
def chat(
    variant: str,
    message: str,
    max_new_tokens: int | None,
    temperature: float | None,
    seed: int | None,
    system_prompt: str | None,
    as_json: bool,
) -> None:
    """Ask VARIANT one question; the answer streams to the terminal (and is logged in the store)."""
    from travelbot.chat import reply

    answer = reply(
        variant, message, system_prompt=system_prompt, kind="cli",
        max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
    )
    if as_json:
        answer.result()
        raft = answer.raft
        _print_json(
            {
                "answer": answer.answer,
                **({"raw": answer.text, "reasoning": raft.reasoning, "quotes": raft.quotes,
                    "sources": [p.passage_id for p in answer.passages]} if raft is not None else {}),
                "variant": answer.variant.name,
                "method": answer.variant.method,
                "base": answer.variant.base.name,
                "tokens": answer.stats.completion_tokens,
                "prompt_tokens": answer.stats.prompt_tokens,
                "seconds": round(answer.stats.seconds, 3),
                "tokens_per_second": round(answer.stats.tokens_per_second, 2),
                "finish_reason": answer.stats.finish_reason,
                "conversation_id": answer.conversation_id,
            }
        )
        return
    for chunk in answer:
        click.echo(chunk, nl=False)
    stats = answer.stats
    click.echo(f"\n[{answer.variant.name} · {stats.completion_tokens} tokens · {stats.tokens_per_second:.1f} tok/s]", err=True)


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1, TRAVELBOT_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 7860, TRAVELBOT_PORT).")
@user_errors
def serve(host: str | None, port: int | None) -> None:
    """Serve the dashboard in the browser."""
    from travelbot.ui import launch

    launch(host=host, port=port)


@main.group()
def bench() -> None:
    """Benchmarks that print figures."""


@bench.command("chat")
@click.option("--max-new-tokens", type=click.IntRange(8, 2048), default=128, show_default=True)
@click.option("--min-adapters", type=click.IntRange(0, 16), default=4, show_default=True,
              help="Add random adapters until this many adapter variants are loaded (for the memory figure).")
@click.option("--synthetic-rank", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option("--base", default=None, help="Base whose variants to measure (default: the first local one).")
@click.option("--same-answers", is_flag=True,
              help="Also compare greedy answers with the transformers back-end on the golden dev questions (minutes).")
@click.option("--questions", type=click.IntRange(1, 10**6), default=None, help="With --same-answers: only the first N.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@user_errors
def bench_chat_command(max_new_tokens: int, min_adapters: int, synthetic_rank: int, base: str | None,
                       same_answers: bool, questions: int | None, as_json: bool) -> None:
    """Decode tokens/s and time to first token per variant against llama.cpp itself; memory of base alone vs
    base + variants; optionally how often answers match the transformers back-end."""
    from travelbot.bench import bench_chat

    figures = bench_chat(max_new_tokens=max_new_tokens, min_adapters=min_adapters, synthetic_rank=synthetic_rank, base=base,
                         compare_answers=same_answers, questions=questions)
    if as_json:
        _print_json(figures)
        return
    reference = figures.get("reference", {}).get("decode_tokens_per_s")
    if reference:
        click.echo(f"{'llama.cpp itself (bare base)':<28} {reference:>7.1f} tok/s")
    for row in figures.get("variants", []):
        click.echo(f"{row['variant']:<28} {row['decode_tokens_per_s']:>7.1f} tok/s   first token {row['ttft_s']:.3f} s")
    if "memory_ratio" in figures:
        click.echo(f"memory: base {figures['rss_mb']['base']} MB, with variants {figures['rss_mb']['base_plus_variants']} MB "
                   f"({figures['memory_ratio']}x)")


@main.command()
@click.argument("method", type=click.Choice(METHODS))
@click.option("--base", default=None, help="Start from a base's weights.")
@click.option("--from", "from_variant", default=None,
              help="Continue from a variant (name, or a method label such as 'raft' for its newest variant).")
@click.option("--preset", default="cpu-demo", show_default=True, help="cpu-demo (minutes), cpu-demo-full (the shipped demo variants), gpu-small or gpu-7b.")
@click.option("--dataset", default=None, help="A `travelbot data build` folder or build id (default: the newest).")
@click.option("--reward-model", default=None, help="rlhf: a reward-model run folder (default: the newest).")
@click.option("--max-steps", type=click.IntRange(1, 10**7), default=None)
@click.option("--name", default=None, help="Run name (a folder under the data home's runs/).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override any setting, e.g. lora_r=16.")
@click.option("--job-id", type=int, default=None, hidden=True)
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@user_errors
def train(method: str, base: str | None, from_variant: str | None, preset: str, dataset: str | None,
          reward_model: str | None, max_steps: int | None, name: str | None, overrides: tuple[str, ...],
          job_id: int | None, as_json: bool) -> None:
    """Fine-tune a variant: qlora, raft, dpo, reward (a reward model) or rlhf (online RL against it)."""
    from travelbot.training import resolve_config
    from travelbot.training.run import run_training

    settings: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise TravelbotError(f"--set needs KEY=VALUE, not {item!r}.")
        settings[key.strip()] = value.strip()
    if max_steps is not None:
        settings["max_steps"] = max_steps
    config = resolve_config(method, preset=preset, base=base, from_variant=from_variant, dataset=dataset, name=name,
                            reward_model=reward_model, overrides=settings)
    # With --json stdout carries only the summary: the trainer's own log lines go to stderr.
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        summary = run_training(config, job_id=job_id)
    if as_json:
        _print_json(summary)
        return
    metrics = summary["metrics"]
    click.echo(f"{config.name}: {summary['status']} in {summary['seconds']} s; train loss {metrics.get('train_loss'):.4f}")
    if "behaviour" in metrics:
        b = metrics["behaviour"]
        click.echo(f"changed {b['changed']}/{b['questions']} golden dev answers; reference F1 "
                   f"{b['reference_f1_before']} -> {b['reference_f1_after']}")
    for note in summary["notes"]:
        click.echo(f"note: {note}", err=True)


@main.command("export-adapter")
@click.argument("run")
@click.option("--to", "destination", type=click.Path(file_okay=False), required=True, help="Folder to export into.")
@click.option("--name", default=None, help="Variant name in the new place (default: the run's).")
@click.option("--full-precision", is_flag=True, help="Keep float32 weights (default: float16, half the size).")
@click.option("--merge", is_flag=True, help="Write the base with the adapter merged in (a plain model folder).")
@click.option("--push", "repo_id", default=None, help="Also upload the result to this Hub repo (needs HF_TOKEN).")
@user_errors
def export_adapter_command(run: str, destination: str, name: str | None, full_precision: bool, merge: bool,
                           repo_id: str | None) -> None:
    """Copy a finished run's adapter (e.g. into assets/adapters/) as a self-describing variant."""
    from pathlib import Path

    from travelbot.training.export import export_adapter, merge_adapter, push_to_hub

    if merge:
        target = merge_adapter(run, Path(destination), name)
    else:
        target = export_adapter(run, Path(destination), name, half=not full_precision)
    click.echo(str(target))
    if repo_id:
        click.echo(push_to_hub(target, repo_id))


@main.group()
def data() -> None:
    """Travel data: corpus, golden answers, Reddit, retrieval and the datasets for each method."""


@data.command("build")
@click.option("--source", default="bundled", show_default=True, help="bundled, reddit, or a folder of .md/.txt/.pdf/.html.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Output folder (default: a new build under the data home).")
@click.option("--generator", default="template", show_default=True,
              help="Who writes questions for passages: 'template' or a variant name (embedded model or endpoint).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--heldout-fraction", type=click.FloatRange(0, 0.9), default=0.1, show_default=True)
@click.option("--raft-distractors", type=click.IntRange(0, 20), default=3, show_default=True)
@click.option("--raft-oracle-fraction", type=click.FloatRange(0, 1), default=0.8, show_default=True)
@click.option("--raft-passage-sentences", type=click.IntRange(0, 50), default=0, show_default=True,
              help="Trim each RAFT document to its n sentences nearest the question (0: whole passages).")
@click.option("--answer-sentences", type=click.IntRange(0, 50), default=0, show_default=True,
              help="Answers become the oracle passage's n sentences nearest the question (0: the whole passage).")
@click.option("--leakage-threshold", type=click.FloatRange(0.5, 1), default=0.9, show_default=True,
              help="Cosine similarity to a golden test question at which a training question is dropped.")
@click.option("--ungrounded-variant", default="smollm2-135m", show_default=True,
              help="Variant that writes the rejected (ungrounded) answers of grounded preference pairs; 'none' to skip.")
@click.option("--ungrounded-limit", type=click.IntRange(0, 100000), default=64, show_default=True)
@click.option("--reddit-file", type=click.Path(dir_okay=False), default=None, help="Raw Reddit JSONL (default: newest).")
@click.option("--votes", "votes_file", type=click.Path(dir_okay=False), default=None,
              help="FastChat battle rows (JSONL) to turn into preference pairs.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@user_errors
def data_build(as_json: bool, ungrounded_variant: str, **options: Any) -> None:
    """Build the SFT, RAFT and preference datasets with a manifest."""
    from travelbot.data.build import BuildConfig, build_datasets

    config = BuildConfig(ungrounded_variant=None if ungrounded_variant == "none" else ungrounded_variant, **options)
    manifest = build_datasets(config, progress=None if as_json else lambda m: click.echo(f"· {m}", err=True))
    if as_json:
        _print_json(manifest)
        return
    for name, splits in manifest["datasets"].items():
        click.echo(f"{name:<12} train {splits['train']['rows']:>5}  heldout {splits['heldout']['rows']:>4}")
    leak = manifest["leakage"]
    click.echo(f"leakage: dropped {leak['dropped_exact']} exact + {leak['dropped_similar']} similar "
               f"(cosine >= {leak['threshold']}) of {leak['checked']}")
    for split, figures in manifest.get("retrieval", {}).items():
        click.echo(f"retrieval recall@5 ({split}, n={figures['n']}): {figures['recall']}")
    click.echo(f"written to {manifest['out']} in {manifest['timings_s']['total']} s")


@data.command("reddit")
@click.option("--subreddit", "subreddits", multiple=True, help="Repeat for several (default: a list of travel subreddits).")
@click.option("--listing", type=click.Choice(["hot", "top", "new"]), default="top", show_default=True)
@click.option("--time-filter", type=click.Choice(["all", "year", "month", "week", "day", "hour"]), default="year",
              show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Posts per subreddit.")
@click.option("--comment-limit", type=click.IntRange(0, 10000), default=100, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="JSONL file (default: data home raw/).")
@click.option("--json", "as_json", is_flag=True)
@user_errors
def data_reddit(subreddits: tuple[str, ...], listing: str, time_filter: str, limit: int, comment_limit: int,
                out: str | None, as_json: bool) -> None:
    """Download travel posts and their comments from Reddit (needs REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET)."""
    from datetime import UTC, datetime
    from pathlib import Path

    from travelbot.config import get_settings
    from travelbot.data.reddit import DEFAULT_SUBREDDITS, RedditQuery, ingest

    query = RedditQuery(subreddits=tuple(subreddits) or DEFAULT_SUBREDDITS, listing=listing, time_filter=time_filter,
                        limit=limit, comment_limit=comment_limit)
    target = Path(out) if out else get_settings().data_dir / "raw" / f"reddit-{datetime.now(UTC):%Y%m%d-%H%M%S}.jsonl"
    report = ingest(query, target)
    summary = report.summary()
    if as_json:
        _print_json(summary)
    else:
        click.echo(f"{summary['posts']} posts and {summary['comments']} comments written to {target}; "
                   f"skipped {summary['skipped']}, duplicates {summary['duplicates']}")


@data.command("retrieve")
@click.argument("question")
@click.option("-k", type=click.IntRange(1, 50), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@user_errors
def data_retrieve(question: str, k: int, as_json: bool) -> None:
    """Show the corpus passages the retriever finds for QUESTION."""
    from travelbot.data.corpus import retrieve

    hits = retrieve(question, k)
    if as_json:
        _print_json([h.to_dict() for h in hits])
        return
    for hit in hits:
        click.echo(f"{hit.score:.3f}  {hit.passage_id:<40} {hit.title} — {hit.section}")


@data.command("recall")
@click.option("-k", type=click.IntRange(1, 50), default=5, show_default=True)
@click.option("--split", type=click.Choice(["dev", "test", "all"]), default="all", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@user_errors
def data_recall(k: int, split: str, as_json: bool) -> None:
    """Recall@k of the oracle passage over the golden questions."""
    from travelbot.data.corpus import all_passages, corpus_retriever, load_corpus
    from travelbot.data.golden import load_golden, recall_at_k

    documents, _ = load_corpus()
    questions, _ = load_golden(known_passages={p.passage_id for p in all_passages(documents)},
                               split=None if split == "all" else split)
    figures = recall_at_k(questions, corpus_retriever(), k)
    if as_json:
        _print_json(figures)
    else:
        click.echo(f"recall@{k} = {figures['recall']} (n={figures['n']}); by type: "
                   + ", ".join(f"{t} {v['recall']} (n={v['n']})" for t, v in figures["by_type"].items()))


@data.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True)
@user_errors
def data_add(paths: tuple[str, ...], as_json: bool) -> None:
    """Add files or folders (.md/.txt/.pdf/.html, documents or Reddit JSONL) as a data source."""
    from pathlib import Path

    from travelbot.data.sources import add_source

    report = add_source([Path(p) for p in paths])
    if as_json:
        _print_json(report)
        return
    click.echo(f"added {len(report['guides_added'])} guides and {report['reddit_records']} Reddit records; "
               f"refused {report['refused']}")
    for problem in report["problems"]:
        click.echo(f"  refused: {problem}", err=True)



@main.group()
def votes() -> None:
    """Arena votes as FastChat battle rows (JSONL): export and import."""


@votes.command("export")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--no-flagged", is_flag=True, help="Leave out votes flagged because an answer named a model or vendor.")
@user_errors
def votes_export(path: str, no_flagged: bool) -> None:
    """Write every vote to PATH as FastChat battle rows (model_a, model_b, winner, judge, conversation_a/b, tstamp)."""
    from pathlib import Path

    from travelbot.feedback.votes import export_votes

    count = export_votes(Path(path), include_flagged=not no_flagged)
    click.echo(f"{count} votes written to {path}")


@votes.command("judge")
@click.option("--limit", type=click.IntRange(1, 100000), default=None, help="Judge at most this many battles.")
@click.option("--json", "as_json", is_flag=True)
@user_errors
def votes_judge(limit: int | None, as_json: bool) -> None:
    """Ask the LLM judge (TRAVELBOT_JUDGE_MODEL) about every voted battle it has not judged, in both orders;
    `travelbot agreement --source store` then compares it with the votes."""
    from travelbot.feedback.battle_judge import judge_battles

    done = judge_battles(limit=limit)
    if as_json:
        _print_json(done.to_dict())
        return
    click.echo(f"{done.judge_model}: judged {done.judged} battles ({done.already} judged before, "
               f"{done.skipped_turns} of several turns left out, {done.failed} failed and will be asked again); "
               f"{done.usage.get('prompt_tokens', 0)} prompt + {done.usage.get('completion_tokens', 0)} "
               f"completion tokens, ${done.usage.get('cost_usd', 0):.4f}")


@votes.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@user_errors
def votes_import(path: str, as_json: bool) -> None:
    """Add FastChat battle rows from PATH to the store; bad rows are reported with a reason and skipped."""
    from pathlib import Path

    from travelbot.feedback.votes import import_votes

    report = import_votes(Path(path))
    if as_json:
        _print_json(report.summary())
        return
    click.echo(f"imported {report.loaded} votes, refused {report.refused}")
    for problem in report.problems[:20]:
        click.echo(f"  {problem}", err=True)


@main.command()
@click.option("--rounds", type=click.IntRange(200, 100000), default=1000, show_default=True,
              help="Bootstrap resamples for the 95% intervals.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--include-flagged", is_flag=True, help="Count votes flagged as not blind too.")
@click.option("--json", "as_json", is_flag=True, help="Ratings, pairs, matrices and rating summary as JSON.")
@user_errors
def leaderboard(rounds: int, seed: int, include_flagged: bool, as_json: bool) -> None:
    """Variants ranked by blind votes (Bradley–Terry with a weak prior, Elo-like scale, bootstrap 95% intervals;
    provisional below TRAVELBOT_LEADERBOARD_MIN_BATTLES battles; votes needed to separate the top two) and mean
    ratings."""
    from travelbot.feedback.standings import standings

    result = standings(rounds=rounds, seed=seed, include_flagged=include_flagged)
    if as_json:
        _print_json(result.to_dict())
        return
    board = result.board
    click.echo(f"{board.n_battles} votes, {board.rounds} bootstrap rounds (seed {board.seed})"
               + (f"; {result.flagged_votes} flagged votes left out" if result.flagged_votes and not include_flagged
                  else ""))
    if board.votes_to_separate_top_two:
        click.echo(f"top two: {board.votes_to_separate_top_two.explanation}")
    click.echo(f"{'rank':>4}  {'variant':<28} {'battles':>7}  rating [95% interval]")
    for r in board.ratings:
        click.echo(f"{r.rank:>4}  {r.variant:<28} {r.battles:>7}  {r.label()}")
    if any(r.provisional for r in board.ratings):
        click.echo(f"provisional: fewer than {board.min_battles} battles, the rating (≈) is a rough guess")
    summary = result.ratings
    if summary.scores:
        click.echo(f"\nratings: {summary.n_ratings} by {summary.n_raters} raters (mean, 95% interval, answers)")
        for s in summary.scores:
            click.echo(f"  {s.variant:<28} {s.criterion:<12} {s.mean:.2f} ({s.lower:.2f} – {s.upper:.2f}) n={s.n}")
        for a in summary.agreement:
            click.echo(f"  agreement {a.criterion:<12} Krippendorff's alpha {a.alpha:.3f} "
                       f"({a.n_items} answers, {a.n_raters} raters)")


@main.command()
@click.option("--voter", required=True, help="Your name; votes are recorded as cli:<name>.")
@click.option("--max-new-tokens", type=click.IntRange(1, 8192), default=None)
@user_errors
def arena(voter: str, max_new_tokens: int | None) -> None:
    """Battle in the terminal: two anonymous variants answer your questions, you vote, the names are revealed."""
    from dataclasses import replace

    from travelbot.config import get_settings, set_settings
    from travelbot.feedback import arena as battles
    from travelbot.feedback.voters import Voter, check_display_name

    if max_new_tokens:
        set_settings(replace(get_settings(), max_new_tokens=max_new_tokens))
    name = check_display_name(voter) or "anonymous"
    person = Voter(f"cli:{name}", name)
    battle = battles.start_battle(person)
    choices = {"a": "A is better", "b": "B is better", "t": "Tie", "x": "Both are bad"}
    for _ in range(get_settings().arena_max_turns):
        message = click.prompt("question (empty to vote)", default="", show_default=False)
        if not message.strip():
            break
        round_ = battles.ask(battle.id, message, person)
        for _ in round_:
            pass
        for side, text in zip("AB", round_.texts, strict=True):
            click.echo(f"\n--- Model {side} ---\n{text}")
        for side, error in round_.errors.items():
            click.echo(f"(Model {side} could not answer: {error})", err=True)
    choice = click.prompt("vote: [a] A is better, [b] B is better, [t] tie, [x] both are bad",
                          type=click.Choice(list(choices)))
    result = battles.record_vote(battle.id, choices[choice], person)
    click.echo(f"A was {result.model_a} ({result.method_a}); B was {result.model_b} ({result.method_b})"
               + (f" — flagged: {result.flag_reason}" if result.flagged else ""))


@main.command("eval")
@click.option("--variants", default=None, help="Comma-separated variant names (default: every variant).")
@click.option("--scorers", "--metrics", "scorers", default="bleu,rouge,bertscore,semantic,length", show_default=True,
              help=f"Comma-separated: {', '.join(SCORER_NAMES)}.")
@click.option("--split", type=click.Choice(["dev", "test", "all"]), default="dev", show_default=True)
@click.option("--limit", type=click.IntRange(1, 100000), default=None, help="Only the first N questions.")
@click.option("--batch-size", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Questions answered together (1 = true per-answer latency).")
@click.option("--max-new-tokens", type=click.IntRange(1, 8192), default=None)
@click.option("--show", "show_run", type=int, default=None, help="Print the results of an earlier run instead.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write per-answer scores (.csv or .jsonl).")
@click.option("--json", "as_json", is_flag=True, help="Summaries, answers, scores and verdicts as JSON.")
@user_errors
def evaluate_command(variants: str | None, scorers: str, split: str, limit: int | None, batch_size: int,
                     max_new_tokens: int | None, show_run: int | None, out: str | None, as_json: bool) -> None:
    """Answer the golden questions with each variant and score the answers (cached; resumable)."""
    import time
    from pathlib import Path

    from travelbot.evaluation.results import run_results
    from travelbot.evaluation.run import EvalConfig, evaluate, reconcile_runs
    from travelbot.models import get_registry

    reconcile_runs()  # a run whose process died reads as failed, not running forever
    if show_run is None:
        names = [v.strip() for v in variants.split(",") if v.strip()] if variants else list(get_registry().variants())
        config = EvalConfig(names, [m.strip() for m in scorers.split(",") if m.strip()], split, limit,
                            {"max_new_tokens": max_new_tokens} if max_new_tokens else {}, batch_size)
        started = time.perf_counter()
        progress = None if as_json else (lambda done, total, what: click.echo(f"· [{done}/{total}] {what}", err=True))
        run = evaluate(config, progress=progress)
        seconds = time.perf_counter() - started
        if not as_json:
            click.echo(f"run {run.id} finished in {seconds:.1f} s", err=True)
        show_run = run.id
    results = run_results(show_run)
    if out:
        path = Path(out)
        path.write_text(results.to_csv() if path.suffix == ".csv" else results.to_jsonl(), encoding="utf-8")
    if as_json:
        _print_json(results.to_dict())
        return
    click.echo(f"{'variant':<26} {'metric':<22} {'mean':>8}  {'95% interval':<19} {'n':>4} {'missing':>7}")
    for m in results.metrics:
        interval = f"{m.lower:.3f} – {m.upper:.3f}" if m.lower is not None else "—"
        mean = f"{m.mean:.3f}" if m.mean is not None else "—"
        reasons = f"  ({', '.join(f'{k}: {v}' for k, v in m.missing_reasons.items())})" if m.missing else ""
        click.echo(f"{m.variant:<26} {m.metric:<22} {mean:>8}  {interval:<19} {m.n:>4} {m.missing:>7}{reasons}")
    for p in results.pairs:
        click.echo(f"pairwise {p.variant_a} vs {p.variant_b}: {p.wins_a}-{p.wins_b}-{p.ties} (A-B-tie), "
                   f"inconsistent {p.inconsistent}, missing {p.missing}, win rate A "
                   f"{p.win_rate_a if p.win_rate_a is not None else '—'}")
    usage = results.run.get("usage") or {}
    if usage:
        click.echo(f"judge: {usage.get('requests', 0)} requests, {usage.get('retries', 0)} retries, "
                   f"{usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)} tokens, "
                   f"${usage.get('cost_usd', 0):.4f}")


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
        _print_json({"set": name, "imported": count, **report.summary()})
        return
    judges_found = sorted({j for item in items for j in item.judges})
    click.echo(f"imported {count} items into set {name!r} (judges: {', '.join(judges_found) or 'none'}); "
               f"{report.refused} problems")
    for problem in report.problems[:20]:
        click.echo(f"  {problem}", err=True)


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

    fmt = lambda e: "—" if e is None or e["value"] is None else (
        f"{e['value']:.4f} [{e['lower']:.3f}, {e['upper']:.3f}]" if e["lower"] is not None else f"{e['value']:.4f}")
    if source == "store":
        from travelbot.analysis.store_agreement import Scope, store_agreement

        chosen = [m.strip() for m in metrics.split(",") if m.strip()] or ["bleu", "rougeL", "bertscore_f1"]
        scope = Scope(split=split or None, variants=tuple(v.strip() for v in variants.split(",") if v.strip()),
                      criterion=criterion)
        found = store_agreement(chosen, scope=scope, margin=margin, rounds=rounds, seed=seed)
        if as_json:
            _print_json(found.to_dict())
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
        return
    result = set_agreement(source, metrics=[m.strip() for m in metrics.split(",") if m.strip()],
                           reference_from=reference_from, margin=margin, rounds=rounds, seed=seed)
    if as_json:
        _print_json(result.to_dict())
        return
    ceiling = result.humans["ceiling"]
    fmt = lambda e: "—" if e is None or e["value"] is None else (
        f"{e['value']:.4f} [{e['lower']:.3f}, {e['upper']:.3f}]" if e["lower"] is not None else f"{e['value']:.4f}")
    click.echo(f"set {result.set_name}: {result.items} items; human majority {result.humans['labels']}")
    click.echo(f"humans: leave-one-out {fmt(ceiling['leave_one_out'])}, Fleiss' kappa {fmt(ceiling['fleiss_kappa'])}, "
               f"Krippendorff's alpha {fmt(ceiling['krippendorff_alpha'])}")
    click.echo(f"{'judge':<22} {'kind':<6} {'n':>5}  {'accuracy':<26} {'acc. w/o ties':<26} {'macro F1':<26} "
               f"{'kappa':<26}")
    for row in result.rows:
        a = row.agreement.to_dict()
        click.echo(f"{row.name:<22} {row.kind:<6} {a['n']:>5}  {fmt(a['accuracy']):<26} "
                   f"{fmt(a['accuracy_without_ties']):<26} {fmt(a['f1']):<26} {fmt(a['kappa']):<26}")


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


@main.group()
def space() -> None:
    """Package and deploy travelbot as a Hugging Face Space."""


@space.command("build")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--replace", is_flag=True, help="Replace a non-empty OUT_DIR.")
@user_errors
def space_build(out_dir: str, replace: bool) -> None:
    """Assemble a ready-to-push Space folder (app.py, travelbot/, assets/, card, requirements) and check it."""
    from pathlib import Path

    from travelbot.space import build_space

    built = build_space(Path(out_dir), replace=replace)
    size = sum(p.stat().st_size for p in built.rglob("*") if p.is_file())
    click.echo(f"built {built} ({size / 2**20:.1f} MB); push it with `travelbot space deploy OWNER/NAME`")


@space.command("check")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@user_errors
def space_check(folder: str) -> None:
    """Check a Space folder: card fields, Gradio version, requirements."""
    from pathlib import Path

    from travelbot.space import check_space

    problems = check_space(Path(folder))
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{folder} is a valid travelbot Space")


@space.command("deploy")
@click.argument("repo_id")
@click.option("--folder", type=click.Path(exists=True, file_okay=False), default=None,
              help="A folder made by `space build` (default: build one now).")
@click.option("--private", is_flag=True, help="Create the Space private.")
@user_errors
def space_deploy(repo_id: str, folder: str | None, private: bool) -> None:
    """Create the Space REPO_ID (owner/name) if needed and upload travelbot to it (needs HF_TOKEN)."""
    from pathlib import Path

    from travelbot.space import deploy_space

    url = deploy_space(repo_id, folder=Path(folder) if folder else None, private=private)
    click.echo(f"deployed to {url}")


@space.command("mirror")
@user_errors
def space_mirror() -> None:
    """Copy votes and ratings to the dataset repo TRAVELBOT_MIRROR_REPO now (needs HF_TOKEN)."""
    from travelbot.hosting import mirror_feedback

    counts = mirror_feedback()
    click.echo(f"mirrored {counts['votes']} votes and {counts['ratings']} ratings")


if __name__ == "__main__":  # last, so every command above is registered
    main()
