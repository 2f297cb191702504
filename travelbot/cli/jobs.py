"""Long jobs (training, evaluation runs, dataset builds): list them, follow one, cancel one."""

from __future__ import annotations

import click

from travelbot.cli.base import main, print_json, user_errors

COLUMNS = ("id", "kind", "status", "device", "created_at", "started_at", "finished_at", "name")


def _row(job: dict) -> dict:
    return {**{key: job[key] for key in COLUMNS}, "progress": job.get("last_progress"), "result": job.get("metrics"),
            "error": job.get("error"), "output_path": job.get("output_path")}


@main.group(invoke_without_command=True)
@click.option("--kind", type=click.Choice(["train", "eval", "data"]), default=None, help="Only jobs of this kind.")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="The jobs as JSON.")
@click.pass_context
@user_errors
def jobs(ctx: click.Context, kind: str | None, limit: int, as_json: bool) -> None:
    """List training runs, evaluation runs and dataset builds run as jobs, newest first.

    Jobs whose process is gone are marked failed first (with their last output lines), and queued jobs start
    when their device is free."""
    if ctx.invoked_subcommand is not None:
        return
    from travelbot.jobs import list_jobs, reconcile

    reconcile()
    found = list_jobs(limit, kind=kind)
    if as_json:
        print_json([_row(job) for job in found])
        return
    if not found:
        click.echo("No jobs yet: `travelbot train …`, `travelbot eval … --background` and "
                   "`travelbot data build --background` start them, as do the Train, Evaluate and Data tabs.")
        return
    click.echo(f"{'id':>5}  {'kind':<5} {'status':<10} {'device':<6} {'started':<19}  name")
    for job in found:
        started = f"{job['started_at']:%Y-%m-%d %H:%M:%S}" if job["started_at"] else ""
        click.echo(f"{job['id']:>5}  {job['kind']:<5} {job['status']:<10} {job['device']:<6} {started:<19}  {job['name']}")


@jobs.command("show")
@click.argument("job_id")
@click.option("--tail", type=click.IntRange(0, 10000), default=20, show_default=True, help="Output lines to show.")
@click.option("--json", "as_json", is_flag=True)
@user_errors
def jobs_show(job_id: str, tail: int, as_json: bool) -> None:
    """One job: its status, progress, result or error, and the last lines of its output."""
    from travelbot.jobs import job_progress, reconcile

    reconcile()
    job = job_progress(job_id, tail=tail)
    if as_json:
        print_json({**_row(job), "command": job.get("command"), "output_tail": job["output_tail"]})
        return
    click.echo(f"job {job['id']} ({job['kind']}) {job['status']} on {job['device']}: {job['name']}")
    for label, value in (("progress", job.get("last_progress")), ("result", job.get("metrics")),
                         ("error", job.get("error"))):
        if value:
            click.echo(f"{label}: {value}")
    if job["output_tail"]:
        click.echo("output:\n" + "\n".join(job["output_tail"]))


@jobs.command("cancel")
@click.argument("job_id")
@user_errors
def jobs_cancel(job_id: str) -> None:
    """Cancel a queued job, or stop a running one (its whole process tree); what it computed is kept."""
    from travelbot.jobs import cancel_job

    job = cancel_job(job_id)
    click.echo(f"job {job['id']} ({job['kind']}) cancelled: {job['name']}")
