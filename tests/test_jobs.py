"""Jobs as real child processes over a real SQLite store in a temporary data home.

Most children are ``standin_trainer.py`` (the trainer's JSONL log and job callbacks without a model); the
restart tests at the end run the real commands of every kind: training, evaluation and a dataset build.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.training import standin_trainer as standin
from travelbot import jobs
from travelbot.config import Settings, get_settings, set_settings
from travelbot.errors import TravelbotError
from travelbot.jobs import (
    cancel_job,
    dispatch,
    finish_job,
    get_job,
    job_progress,
    list_jobs,
    read_log_events,
    reconcile,
    record_progress,
)
from travelbot.store import get_store
from travelbot.training.config import resolve_config
from travelbot.training.launch import submit_training as submit_job


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_status(job_id: int, *statuses: str, timeout: float = 20.0, reconciling: bool = False) -> dict:
    def check() -> dict | None:
        if reconciling:
            reconcile()
        job = get_job(job_id)
        return job if job["status"] in statuses else None

    return wait_for(check, timeout, f"job {job_id} to be {'/'.join(statuses)} (it is {get_job(job_id)['status']})")


def gone(pid: int) -> bool:
    """Ended: no such process, or a zombie waiting for a parent that does not reap (PID 1 in a container)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def config(name: str, preset: str = "cpu-demo"):
    return resolve_config("qlora", preset=preset, name=name)


@pytest.fixture
def jobs_home(tmp_path: Path) -> Iterator[Path]:
    """A data home of its own; jobs left running are cancelled (killed) afterwards."""
    previous = get_settings()
    set_settings(Settings(home=tmp_path))
    yield tmp_path
    for job in get_store().jobs(status=("queued", "running")):
        try:
            cancel_job(job["id"])
        except TravelbotError:
            pass
    get_store().close()
    set_settings(previous)


def test_a_job_runs_to_success_with_progress_and_log(jobs_home: Path) -> None:
    job_id = submit_job(config("first"), argv=standin.argv(3, 0.2))
    job = get_job(job_id)
    assert job["status"] == "running" and job["pid"] and job["device"] == "cpu"
    assert job["command"][:2] == [sys.executable, str(standin.PATH)] and str(job_id) in job["command"]
    assert job["run_dir"] == str((jobs_home / "runs" / "first").resolve())
    assert job["config"]["name"] == "first" and job["config"]["preset"] == "cpu-demo"

    seen = wait_for(lambda: get_job(job_id)["last_progress"], what="a progress row")
    assert seen["event"] == "log" and seen["max_steps"] == 3
    done = wait_status(job_id, "succeeded")
    assert done["finished_at"] >= done["started_at"] >= done["created_at"]
    assert done["last_progress"]["step"] == 3 and done["error"] is None
    assert done["metrics"]["train_loss"] == pytest.approx(2.0 / 3)
    assert (Path(done["run_dir"]) / "adapter").is_dir()

    progress = job_progress(job_id)
    assert [e["event"] for e in progress["events"]] == ["start", "log", "log", "log", "end"]
    assert [e["loss"] for e in progress["events"][1:4]] == [2.0, 1.0, 0.6667]
    assert progress["output_tail"] == ["step 1/3 loss 2.0", "step 2/3 loss 1.0", "step 3/3 loss 0.6667", "done"]
    assert job_progress(str(job_id), tail=1)["output_tail"] == ["done"]
    assert [j["id"] for j in list_jobs()] == [job_id]
    assert reconcile() == [] and get_job(job_id)["status"] == "succeeded"


def test_jobs_on_one_device_run_one_at_a_time(jobs_home: Path) -> None:
    first = submit_job(config("a"), argv=standin.argv(4, 0.25))
    second = submit_job(config("b"), argv=standin.argv(2, 0.05))
    assert get_job(first)["status"] == "running"
    assert get_job(second)["status"] == "queued" and get_job(second)["pid"] is None
    assert dispatch() == [] and reconcile() == []
    assert get_job(second)["status"] == "queued"
    assert job_progress(second)["events"] == []

    # Nobody here calls dispatch or reconcile: the first job's finish_job starts the second.
    done = wait_status(second, "succeeded")
    before = get_job(first)
    assert before["status"] == "succeeded" and done["started_at"] >= before["finished_at"]
    assert [j["id"] for j in list_jobs()] == [second, first]
    assert [j["id"] for j in list_jobs(limit=1)] == [second]


def test_a_gpu_job_does_not_wait_for_a_cpu_job(jobs_home: Path) -> None:
    cpu = submit_job(config("on-cpu"), argv=standin.argv(3, 0.2))
    gpu = submit_job(config("on-gpu", preset="gpu-small"), argv=standin.argv(1, 0.0))
    assert (get_job(cpu)["device"], get_job(gpu)["device"]) == ("cpu", "cuda")
    assert get_job(gpu)["status"] == "running"
    wait_status(gpu, "succeeded")
    wait_status(cpu, "succeeded")


def test_a_queued_job_keeps_the_real_trainer_command_and_can_be_cancelled(jobs_home: Path) -> None:
    running = submit_job(config("busy"), argv=standin.argv(100, 0.2))
    real = resolve_config("qlora", preset="cpu-demo", base="smollm2-135m", name="real-later",
                          overrides={"max_steps": 1, "load_in_4bit": False})
    queued = submit_job(real)
    job = get_job(queued)
    assert job["status"] == "queued"
    assert job["command"] == [sys.executable, "-m", "travelbot", "train", "qlora", "--preset", "cpu-demo",
                              "--name", "real-later", "--base", "smollm2-135m", "--set", "load_in_4bit=false",
                              "--set", "max_steps=1", "--job-id", str(queued)]
    assert cancel_job(queued)["status"] == "cancelled"
    with pytest.raises(TravelbotError, match="already been cancelled"):
        cancel_job(queued)
    assert cancel_job(running)["status"] == "cancelled"
    assert get_job(queued)["pid"] is None  # never started


def test_cancel_kills_the_whole_process_tree(jobs_home: Path) -> None:
    job_id = submit_job(config("doomed"), argv=standin.argv(100, 0.2, "--grandchild"))
    job = get_job(job_id)
    pid_file = Path(job["run_dir"]) / "grandchild.pid"
    grandchild = int(wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), what="the grandchild"))
    assert not gone(job["pid"]) and not gone(grandchild)

    began = time.monotonic()
    cancelled = cancel_job(job_id)
    assert time.monotonic() - began < jobs.KILL_GRACE_SECONDS  # SIGTERM was enough
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"] is not None
    assert gone(job["pid"]) and gone(grandchild)
    assert reconcile() == [] and get_job(job_id)["status"] == "cancelled"


def test_a_killed_job_is_failed_by_reconcile_and_the_queue_moves_on(jobs_home: Path) -> None:
    victim = submit_job(config("victim"), argv=standin.argv(100, 0.1))
    waiting = submit_job(config("waiting"), argv=standin.argv(1, 0.0))
    wait_for(lambda: (get_job(victim)["last_progress"] or {}).get("step", 0) >= 2, what="two steps")
    os.kill(get_job(victim)["pid"], signal.SIGKILL)

    failed = wait_for(lambda: reconcile() or None, what="reconcile to notice")
    assert failed == [victim]
    job = get_job(victim)
    assert job["status"] == "failed" and job["finished_at"] is not None
    assert job["error"].startswith("The job's process ended unexpectedly")
    assert "step 1/100 loss 2.0\nstep 2/100 loss 1.0" in job["error"]
    assert get_job(waiting)["status"] in ("running", "succeeded")  # reconcile dispatched it
    wait_status(waiting, "succeeded")


def test_a_job_survives_the_process_that_started_it(jobs_home: Path) -> None:
    code = ("import sys\nfrom travelbot.training.config import resolve_config\n"
            "from travelbot.jobs import get_job\nfrom travelbot.training.launch import submit_training as submit_job\n"
            "job_id = submit_job(resolve_config('qlora', preset='cpu-demo', name='orphan'), argv=sys.argv[1:])\n"
            "print(job_id, get_job(job_id)['pid'])\n")
    spawner = subprocess.run([sys.executable, "-c", code, *standin.argv(8, 0.25)], capture_output=True, text=True,
                             env={**os.environ, "TRAVELBOT_HOME": str(jobs_home)}, timeout=60, check=True)
    job_id, pid = map(int, spawner.stdout.split())
    assert get_job(job_id)["status"] == "running" and not gone(pid)
    assert psutil.Process(pid).ppid() != os.getpid()
    assert reconcile() == []  # alive, recognised by pid and start time although it is not our child
    done = wait_status(job_id, "succeeded", reconciling=True)
    assert done["last_progress"]["step"] == 8


def _running_row(jobs_home: Path, **values: Any) -> int:
    """A job row as a dispatcher left it (the process itself is made up by the test)."""
    name = f"made-up-{uuid.uuid4().hex[:6]}"
    run_dir = jobs_home / "runs" / name
    row = {"kind": "train", "name": name, "status": "running", "device": "cpu",
           "config": {}, "command": ["true"], "run_dir": str(run_dir), "log_path": str(run_dir / "trainer_log.jsonl"),
           "output_path": str(jobs_home / "jobs" / f"{name}.log"), "created_at": datetime.now(UTC),
           "started_at": datetime.now(UTC), **values}
    return get_store().add_job(**row)


def test_reconcile_tells_a_reused_pid_from_the_job(jobs_home: Path) -> None:
    me = psutil.Process()
    long_before = datetime.fromtimestamp(me.create_time(), UTC) - timedelta(hours=1)
    job_id = _running_row(jobs_home, pid=os.getpid(), started_at=long_before)  # our pid, but born later
    output = Path(get_job(job_id)["output_path"])
    output.parent.mkdir(parents=True)
    output.write_text("".join(f"line {i}\n" for i in range(30)) + "Traceback: boom\r", encoding="utf-8")
    recent = _running_row(jobs_home, pid=os.getpid(), started_at=datetime.fromtimestamp(me.create_time(), UTC))

    assert reconcile() == [job_id]
    job = get_job(job_id)
    assert job["status"] == "failed"
    lines = job["error"].splitlines()
    assert lines[0] == "The job's process ended unexpectedly; its last output lines:"
    assert lines[1:] == [f"line {i}" for i in range(11, 30)] + ["Traceback: boom"]
    assert get_job(recent)["status"] == "running"  # our process really did start then
    get_store().update_job(recent, status="failed")


def test_reconcile_keeps_an_ending_the_trainer_logged_and_fails_a_job_never_started(jobs_home: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job_id = _running_row(jobs_home, pid=dead.pid, started_at=datetime.now(UTC) - timedelta(seconds=1))
    log = Path(get_job(job_id)["log_path"])
    log.parent.mkdir(parents=True)
    log.write_text(json.dumps({"event": "start"}) + "\n" + json.dumps(
        {"event": "end", "status": "succeeded", "error": None, "metrics": {"train_loss": 0.5}}) + "\n")
    never = _running_row(jobs_home, pid=None, started_at=datetime.now(UTC) - timedelta(minutes=5))
    just_claimed = _running_row(jobs_home, pid=None)

    assert sorted(reconcile()) == sorted([job_id, never])
    assert get_job(job_id)["status"] == "succeeded" and get_job(job_id)["metrics"] == {"train_loss": 0.5}
    assert get_job(never)["error"] == "The job's process ended unexpectedly without any output."
    assert get_job(just_claimed)["status"] == "running"
    get_store().update_job(just_claimed, status="failed")


def test_a_torn_last_log_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "trainer_log.jsonl"
    path.write_text('{"event": "start"}\n{"event": "log", "step": 1, "loss": 1.5}\nnot json\n{"event": "log", "st')
    assert read_log_events(path) == [{"event": "start"}, {"event": "log", "step": 1, "loss": 1.5}]
    assert read_log_events(tmp_path / "missing.jsonl") == []


def test_people_get_sentences_for_bad_job_ids_and_names(jobs_home: Path) -> None:
    for call in (get_job, cancel_job, job_progress):
        with pytest.raises(TravelbotError, match="There is no job 424242"):
            call(424242)
    with pytest.raises(TravelbotError, match="whole numbers"):
        get_job("seven")

    job_id = submit_job(config("twice"), argv=standin.argv(100, 0.2))
    assert get_job(f"#{job_id}")["id"] == get_job(f" {job_id} ")["id"] == job_id  # as the UI may send it
    with pytest.raises(TravelbotError, match="already queued or running"):
        submit_job(config("twice"), argv=standin.argv(1, 0.0))
    cancel_job(job_id)
    quick = submit_job(config("quick"), argv=standin.argv(1, 0.0))
    wait_status(quick, "succeeded")
    with pytest.raises(TravelbotError, match=f"Job {quick} has already succeeded"):
        cancel_job(quick)

    # The trainer's callbacks never raise: unknown ids are ignored, finished jobs are not overwritten.
    record_progress(424242, {"event": "log", "step": 1})
    finish_job(424242, "succeeded")
    finish_job(quick, "failed", error="late")
    record_progress(quick, {"event": "log", "step": 99, "loss": float("nan")})
    job = get_job(quick)
    assert job["status"] == "succeeded" and job["error"] is None and job["last_progress"]["step"] == 1


def test_the_trainer_callbacks_swallow_store_errors(tmp_path: Path) -> None:
    previous = get_settings()
    set_settings(Settings(home=tmp_path, db_url="nosuchdatabase://nowhere"))
    try:
        record_progress(1, {"event": "log", "step": 1})
        finish_job(1, "succeeded", metrics={"loss": 1.0})
    finally:
        set_settings(previous)


def test_private_environment_reaches_only_the_child(jobs_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server")
    show = ("import json, os; print(json.dumps({'typed': os.environ.get('X_TYPED_KEY') == 'sk-' + 'typed',"
            " 'server': os.environ.get('OPENAI_API_KEY')}))")
    job_id = jobs.submit("eval", "env", ["unused"], argv=[sys.executable, "-c", show],
                         environment={"X_TYPED_KEY": "sk-typed", "OPENAI_API_KEY": None})
    wait_status(job_id, "failed", reconciling=True)  # it never reports an ending: reconcile fails it
    job = job_progress(job_id)
    assert json.loads(job["output_tail"][-1]) == {"typed": True, "server": None}
    assert "sk-typed" not in json.dumps(job, default=str)  # not in the row, the command or the progress
    assert not list((jobs_home / "jobs").glob("*.env.json"))  # the file that carried it is gone

    busy = submit_job(config("busy-env"), argv=standin.argv(100, 0.2))
    queued = jobs.submit("eval", "never runs", ["unused"], argv=[sys.executable, "-c", show],
                         environment={"X_TYPED_KEY": "sk-typed"})
    assert len(list((jobs_home / "jobs").glob("*.env.json"))) == 1
    cancel_job(queued)
    assert not list((jobs_home / "jobs").glob("*.env.json"))  # a cancelled job's private values go with it
    cancel_job(busy)


def test_unknown_kinds_are_refused(jobs_home: Path) -> None:
    with pytest.raises(TravelbotError, match="Unknown job kind 'deploy'"):
        jobs.submit("deploy", "x", ["unused"])
