"""Travel data: build datasets, ingest Reddit, retrieve passages, add guides."""

from __future__ import annotations

from typing import Any

import click

from travelbot.cli.base import echo_job, job_work, main, print_json, user_errors
from travelbot.data.raft import DOCUMENT_ORDERS
from travelbot.format import build_summary


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
@click.option("--raft-order", type=click.Choice(DOCUMENT_ORDERS), default="retrieval", show_default=True,
              help="RAFT documents in the retriever's ranking (as chat serves them) or shuffled (the RAFT paper).")
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
@click.option("--reddit-min-score", type=int, default=3, show_default=True, help="Reddit answers need this score.")
@click.option("--reddit-min-margin", type=int, default=5, show_default=True,
              help="A Reddit preference pair needs this score gap between its two answers.")
@click.option("--votes", "votes_file", type=click.Path(dir_okay=False), default=None,
              help="FastChat battle rows (JSONL) to turn into preference pairs.")
@click.option("--background", is_flag=True, help="Queue the build as a job and return at once (`travelbot jobs`).")
@click.option("--job-id", type=int, default=None, hidden=True)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@user_errors
def data_build(as_json: bool, ungrounded_variant: str, background: bool, job_id: int | None, **options: Any) -> None:
    """Build the SFT, RAFT and preference datasets with a manifest."""
    from travelbot.data.build import BuildConfig, build_datasets, submit_build
    from travelbot.jobs import record_progress

    config = BuildConfig(ungrounded_variant=None if ungrounded_variant == "none" else ungrounded_variant, **options)
    if background:
        echo_job(submit_build(config), as_json)
        return
    steps = [0]

    def progress(message: str) -> None:
        if not as_json:
            click.echo(f"· {message}", err=True)
        if job_id is not None:
            steps[0] += 1
            record_progress(job_id, {"event": "log", "step": steps[0], "message": message})

    with job_work(job_id) as result:
        manifest = build_datasets(config, progress=progress)
        result.update(build_id=manifest["build_id"], out=manifest["out"], seconds=manifest["timings_s"]["total"])
    if as_json:
        print_json(manifest)
        return
    for line in build_summary(manifest):
        click.echo(line)
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
        print_json(summary)
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
        print_json([h.to_dict() for h in hits])
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
        print_json(figures)
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
        print_json(report)
        return
    click.echo(f"added {len(report['guides_added'])} guides and {report['reddit_records']} Reddit records; "
               f"refused {report['refused']}")
    for problem in report["problems"]:
        click.echo(f"  refused: {problem}", err=True)
