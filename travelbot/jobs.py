"""Long jobs — training runs, evaluation runs, dataset builds — as child processes that outlive the web app:
one row in the store per job, a queue per device, progress, cancel of the process tree and reconcile after a
restart, so closing the browser or restarting the server never stops, loses or strands a job.

    job_id = submit("eval", "eval dev", ["eval", "--variants", "smollm2-135m", "--job-id", "{job_id}"])

The child is ``python -m travelbot <args> --job-id N``: it calls ``record_progress`` as it goes and ``finish_job``
at the end. ``reconcile`` notices children that died without finishing (killed, crashed, a reboot), marks them
failed with their output tail, and starts queued jobs; the UI calls it on every poll and the server at start.
Each service turns its own configuration into a command (``training.launch``, ``evaluation.run``,
``data.build``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from travelbot.config import Settings, get_settings
from travelbot.errors import TravelbotError
from travelbot.jsonl import json_safe
from travelbot.schema import JOB_KINDS, utc_now
from travelbot.store import get_store

log = logging.getLogger(__name__)

# How many jobs run at once per device: one job fills a GPU, and a CPU job (training, generating answers,
# embedding a corpus) already uses every core.
MAX_RUNNING = {"cpu": 1, "cuda": 1}
ACTIVE = ("queued", "running")
KIND_LABELS = {"train": "training", "eval": "evaluation", "data": "dataset build"}
UNEXPECTED_END = "The job's process ended unexpectedly"
OUTPUT_TAIL_LINES = 20
KILL_GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL on cancel
START_GRACE_SECONDS = 60.0  # a claimed job may have no pid yet while its spawner is starting it
PID_SLACK_SECONDS = 2.0  # a process created later than started_at + this is not the job's (the pid was reused)
MAX_NAME = 200

_lock = threading.Lock()
# Processes started by this process, by (database, job id), kept so that they are reaped when they end.
_children: dict[tuple[str, int], subprocess.Popen] = {}


# ---------------------------------------------------------------- submit and start


def submit(kind: str, name: str, args: Sequence[str], *, config: Mapping[str, Any] | None = None, device: str = "cpu",
           run_dir: Path | None = None, log_path: Path | None = None, environment: Mapping[str, str | None] | None = None,
           argv: Sequence[str] | None = None) -> int:
    """Queue a job and start it if its device is free; return the job id.

    ``args`` is the ``travelbot`` command line that does the work; ``{job_id}`` in it is filled in. ``environment``
    holds values the child gets as environment variables and nothing else sees (a key typed on a page; None
    unsets one): they wait in a file only this user can read, removed when the child starts. ``argv`` replaces
    the whole command (tests, other programs); ``{job_id}`` and ``{run_dir}`` in it are filled in.
    """
    if kind not in JOB_KINDS:
        raise TravelbotError(f"Unknown job kind {kind!r}; expected one of {', '.join(JOB_KINDS)}.")
    name = " ".join(str(name).split())[:MAX_NAME] or kind
    settings = get_settings()
    store = get_store()
    job_id = store.add_job(kind=kind, name=name, status="queued", device=device, config=json_safe(dict(config or {})),
                           run_dir=str(run_dir) if run_dir else None, log_path=str(log_path) if log_path else None,
                           created_at=utc_now())
    fill = {"{job_id}": str(job_id), "{run_dir}": str(run_dir or "")}
    command = [sys.executable, "-m", "travelbot", *args] if argv is None else list(argv)
    command = [_fill(str(a), fill) for a in command]
    output = (settings.home / "jobs" / f"job-{job_id}.log").resolve()
    if environment:
        _write_environment(_environment_path(output), environment)
    store.update_job(job_id, command=command, output_path=str(output))  # now dispatchers may claim it
    dispatch()
    return job_id


def _fill(text: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _environment_path(output: Path) -> Path:
    return output.with_suffix(".env.json")


def _write_environment(path: Path, environment: Mapping[str, str | None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(dict(environment), handle)


def _take_environment(job: dict) -> dict[str, str | None]:
    """The job's private environment values, read once: the file goes as the child starts (or is cancelled)."""
    if not job.get("output_path"):
        return {}
    path = _environment_path(Path(job["output_path"]))
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    finally:
        path.unlink(missing_ok=True)
    return {str(k): (None if v is None else str(v)) for k, v in values.items()} if isinstance(values, dict) else {}


def active_names(kind: str) -> set[str]:
    """The names of the queued or running jobs of a kind."""
    return {job["name"] for job in get_store().jobs(status=ACTIVE, kind=kind)}


def dispatch() -> list[int]:
    """Start queued jobs, oldest first, while their device has room (``MAX_RUNNING``); return the ids started."""
    store = get_store()
    started: list[int] = []
    with _lock:
        if not store.jobs(status="queued", limit=1):
            return started
        while (job := store.claim_job(MAX_RUNNING)) is not None:
            try:
                proc = _spawn(job)
            except (OSError, ValueError, subprocess.SubprocessError) as exc:
                store.update_job(job["id"], status="failed", finished_at=utc_now(),
                                 error=f"Could not start the job's process ({exc}); check the command and the disk.")
                continue
            job.update(pid=proc.pid, started_at=utc_now())
            if not store.update_job(job["id"], only_if="running", pid=job["pid"], started_at=job["started_at"]):
                _kill_tree(job)  # cancelled while we were starting it
                continue
            started.append(job["id"])
    return started


def _spawn(job: dict) -> subprocess.Popen:
    """Start the job's command in its own session (it survives us) with stdout+stderr in its output file."""
    output = Path(job["output_path"])
    output.parent.mkdir(parents=True, exist_ok=True)
    if job.get("run_dir"):
        Path(job["run_dir"]).parent.mkdir(parents=True, exist_ok=True)
    env = _child_env(get_settings(), _take_environment(job))
    with output.open("ab") as out:
        proc = subprocess.Popen(job["command"], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env)
    _children[_key(job["id"])] = proc
    return proc


def _key(job_id: int) -> tuple[str, int]:
    return get_settings().database_url, job_id


def _child_env(settings: Settings, private: dict[str, str | None]) -> dict[str, str]:
    """This process's settings as the child's environment, so it uses the same data home, database and models,
    with the job's private values."""
    env = {**settings.child_environment(private), "PYTHONUNBUFFERED": "1"}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # the job shares the cores with the web app: idle threads sleep
    return env


# ---------------------------------------------------------------- called by the job's process


def record_progress(job_id: int, event: dict) -> None:
    """Store the job's latest progress event; never raises (progress is best effort, the work goes on)."""
    try:
        get_store().update_job(int(job_id), only_if="running", last_progress=json_safe(event))
    except Exception:  # noqa: BLE001
        log.warning("Could not record the progress of job %s.", job_id, exc_info=True)


def finish_job(job_id: int, status: str, error: str | None = None, metrics: dict | None = None) -> None:
    """Record how a job ended ("succeeded" or "failed") and start the next queued job; never raises."""
    try:
        if status not in ("succeeded", "failed"):
            error, status = f"The job reported an unknown status {status!r}. {error or ''}".strip(), "failed"
        get_store().update_job(int(job_id), only_if="running", status=status, finished_at=utc_now(),
                               error=error, metrics=json_safe(metrics))
    except Exception:  # noqa: BLE001
        log.warning("Could not record the end of job %s.", job_id, exc_info=True)
    try:
        dispatch()
    except Exception:  # noqa: BLE001
        log.warning("Could not start the next queued job.", exc_info=True)


# ---------------------------------------------------------------- cancel and reconcile


def cancel_job(job_id: int) -> dict:
    """Cancel a queued job, or kill a running job's whole process tree; return the job."""
    store = get_store()
    job = get_job(job_id)
    if job["status"] == "queued" and store.update_job(job["id"], only_if="queued", status="cancelled",
                                                      finished_at=utc_now()):
        _take_environment(job)  # its private values are not kept for a job that will never run
        return get_job(job["id"])
    job = get_job(job["id"])
    # Marked first, so the dying job's finish_job (and reconcile) cannot overwrite "cancelled".
    if job["status"] == "running" and store.update_job(job["id"], only_if="running", status="cancelled",
                                                       finished_at=utc_now()):
        _kill_tree(job)
        dispatch()
        return get_job(job["id"])
    job = get_job(job["id"])
    raise TravelbotError(f"Job {job['id']} has already {_ended(job['status'])}; "
                         "only queued or running jobs can be cancelled.")


def _ended(status: str) -> str:
    return {"succeeded": "succeeded", "failed": "failed", "cancelled": "been cancelled"}.get(status, status)


def _process(job: dict) -> psutil.Process | None:
    """The job's live process, or None if it is gone, a zombie, or its pid now belongs to another process."""
    if not job.get("pid"):
        return None
    try:
        proc = psutil.Process(job["pid"])
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        started = job.get("started_at")
        if started is not None and proc.create_time() > started.timestamp() + PID_SLACK_SECONDS:
            return None
        return proc
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:  # exists but is not ours to inspect: it cannot be our child's process
        return None


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _reap(key: tuple[str, int]) -> int | None:
    """Collect our own child's exit status (so it is not left a zombie); None while it still runs."""
    child = _children.get(key)
    if child is None:
        return None
    code = child.poll()
    if code is not None:
        _children.pop(key, None)
    return code


def _wait_gone(job_id: int, procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    alive = procs
    while True:
        _reap(_key(job_id))
        alive = [p for p in alive if _alive(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def _kill_tree(job: dict) -> None:
    """SIGTERM the job's process group and every descendant, then SIGKILL what is left after a grace period."""
    proc = _process(job)
    if proc is None:
        _reap(_key(job["id"]))
        return
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        procs = [proc]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)  # the child leads its own session, so its group holds the whole tree
        except OSError:
            pass
        for p in procs:  # and descendants that moved to another group
            try:
                p.send_signal(sig)
            except psutil.Error:
                pass
        procs = _wait_gone(job["id"], procs, KILL_GRACE_SECONDS)
        if not procs:
            return
    log.warning("Job %s: processes %s survived SIGKILL.", job["id"], [p.pid for p in procs])


def _still_running(job: dict) -> bool:
    if _key(job["id"]) in _children:
        return _reap(_key(job["id"])) is None
    if not job.get("pid"):  # claimed but not started yet, or its spawner died in between
        started = job.get("started_at")
        return started is not None and (utc_now() - started).total_seconds() < START_GRACE_SECONDS
    return _process(job) is not None


def reconcile() -> list[int]:
    """Mark running jobs whose process is gone without calling finish_job as failed, then start queued jobs.

    Returns the ids whose record was corrected. A run whose log ends with an "end" event keeps the ending
    it logged (its finish_job call was lost); others fail with the last lines of their output. A job's own
    records (an evaluation run's row) are corrected by its service (``evaluation.run.reconcile_runs``).
    """
    store = get_store()
    corrected: list[int] = []
    for key in list(_children):  # children that ended (and reported so) are collected, not left zombies
        _reap(key)
    for job in store.jobs(status="running"):
        if _still_running(job):
            continue
        end = next((e for e in reversed(_job_events(job)) if e.get("event") == "end"), None)
        if end is not None and end.get("status") in ("succeeded", "failed"):
            values = {"status": end["status"], "error": end.get("error"), "metrics": json_safe(end.get("metrics"))}
        else:
            tail = "\n".join(output_tail(job, OUTPUT_TAIL_LINES))
            values = {"status": "failed", "error": f"{UNEXPECTED_END}; its last output lines:\n{tail}" if tail
                      else f"{UNEXPECTED_END} without any output."}
        if store.update_job(job["id"], only_if="running", finished_at=utc_now(), **values):
            corrected.append(job["id"])
    dispatch()
    return corrected


# ---------------------------------------------------------------- reading


def get_job(job_id: int | str) -> dict:
    """One job's row, or a TravelbotError if there is no such job."""
    try:
        number = int(str(job_id).strip().lstrip("#"))
    except ValueError:
        raise TravelbotError(f"Job ids are whole numbers, not {job_id!r}.") from None
    job = get_store().job(number)
    if job is None:
        raise TravelbotError(f"There is no job {number}; `travelbot jobs` lists them.")
    return job


def list_jobs(limit: int = 50, kind: str | None = None) -> list[dict]:
    """The most recent jobs (of one kind, when given), newest first."""
    return get_store().jobs(limit=limit, kind=kind)


def waiting_for(job: dict) -> dict | None:
    """For a queued job: the running job that holds its device, if one does."""
    if job["status"] != "queued":
        return None
    return next((other for other in get_store().jobs(status="running", oldest_first=True)
                 if other["device"] == job["device"]), None)


def read_log_events(path: Path) -> list[dict]:
    """A job's JSONL events; a torn last line (the trainer is mid-write) or any bad line is skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _job_events(job: dict) -> list[dict]:
    """The job's log events, ignoring a log left by an earlier run of the same name."""
    if job["status"] == "queued" or not job.get("log_path"):
        return []
    path = Path(job["log_path"])
    try:
        modified = path.stat().st_mtime
    except OSError:
        return []
    started = job.get("started_at")
    if started is not None and modified < started.timestamp() - PID_SLACK_SECONDS:
        return []
    events = read_log_events(path)
    starts = [i for i, e in enumerate(events) if e.get("event") == "start"]
    return events[starts[-1]:] if starts else events


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def output_tail(job: dict, lines: int = OUTPUT_TAIL_LINES) -> list[str]:
    """The last lines of the job's stdout+stderr."""
    if not job.get("output_path"):
        return []
    try:
        with open(job["output_path"], "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(handle.tell() - 64 * 1024, 0))
            data = handle.read()
    except OSError:
        return []
    # Progress bars redraw with carriage returns; keep what a terminal would show last, without colour codes.
    text = _ANSI.sub("", data.decode("utf-8", errors="replace")).replace("\r\n", "\n").rstrip("\n")
    shown = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n")] if text else []
    return shown[-lines:] if lines > 0 else []


def job_progress(job_id: int | str, tail: int = 50) -> dict:
    """The job's row plus ``events`` (parsed log) and ``output_tail`` (last ``tail`` output lines)."""
    job = get_job(job_id)
    return {**job, "events": _job_events(job), "output_tail": output_tail(job, tail)}


__all__ = ["KIND_LABELS", "MAX_RUNNING", "active_names", "cancel_job", "dispatch", "finish_job", "get_job",
           "job_progress", "list_jobs", "read_log_events", "reconcile", "record_progress", "submit", "waiting_for"]
