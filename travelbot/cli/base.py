"""The ``travelbot`` group itself and what every command shares: one-sentence errors, JSON output."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from travelbot import __version__
from travelbot.errors import TravelbotError


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


@contextlib.contextmanager
def job_work(job_id: int | None) -> Iterator[dict[str, Any]]:
    """Run the body as job ``job_id``'s process (``--job-id``, set by the jobs service): its ending goes into the
    job's row, with the dict the body fills as the job's result. Without a job id the body just runs.

    The service cancels with SIGTERM; it arrives as KeyboardInterrupt, so the work can record what it kept."""
    result: dict[str, Any] = {}
    if job_id is None:
        yield result
        return
    from travelbot.jobs import finish_job

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # The log's first line says what runs, so even a job killed before its own output has a readable tail
    # (on stderr: a --json command keeps stdout for its JSON).
    print(f"job {job_id} started (pid {os.getpid()}): travelbot {' '.join(sys.argv[1:])}", file=sys.stderr, flush=True)
    try:
        yield result
    except KeyboardInterrupt:
        finish_job(job_id, "failed", "Stopped before it finished (cancelled or interrupted).", result)
        raise
    except TravelbotError as exc:
        finish_job(job_id, "failed", str(exc), result)
        raise
    except Exception as exc:
        finish_job(job_id, "failed", f"{type(exc).__name__}: {exc}", result)
        raise
    finish_job(job_id, "succeeded", None, result)


def echo_job(job_id: int, as_json: bool) -> None:
    """Say where a job submitted with ``--background`` stands (the row as JSON with ``--json``)."""
    from travelbot.jobs import get_job

    job = get_job(job_id)
    if as_json:
        print_json({key: job[key] for key in ("id", "kind", "name", "status", "device", "output_path")})
        return
    click.echo(f"job {job['id']} {job['status']} on {job['device']}: {job['name']}\n"
               f"follow it with `travelbot jobs show {job['id']}`; stop it with `travelbot jobs cancel {job['id']}`")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group()
@click.version_option(__version__, prog_name="travelbot")
def main() -> None:
    """Compare fine-tuned travel chatbots and find out which metrics agree with people."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
