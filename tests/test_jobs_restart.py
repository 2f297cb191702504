"""A server restart during any kind of job — training, evaluation, dataset build — leaves the job finished or
marked failed with its output tail, never "running".

Each job is the real ``travelbot`` command, submitted by a separate process that then exits (the server that
went away); this test process plays the restarted server. The first job runs on and ends on its own; the
second (queued behind it, started by the first one's ending) is killed mid-way, as a reboot would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.test_jobs import jobs_home, wait_for, wait_status  # noqa: F401 - jobs_home: a data home of its own
from tests.training.conftest import dataset  # noqa: F401 - the small real dataset the training job reads
from travelbot.evaluation.results import runs
from travelbot.evaluation.run import STOPPED, reconcile_runs
from travelbot.jobs import UNEXPECTED_END, cancel_job, get_job, job_progress, reconcile
from travelbot.store import get_store

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SUBMIT = {
    "train": ("from travelbot.training.config import resolve_config\n"
              "from travelbot.training.launch import submit_training\n"
              "print(submit_training(resolve_config('qlora', preset='cpu-demo', base='smollm2-135m', name={name!r},"
              " dataset={dataset!r}, overrides={{'max_steps': 2, 'load_in_4bit': False, 'behaviour_questions': 0,"
              " 'max_length': 128}})))\n"),
    "eval": ("from travelbot.evaluation.run import EvalConfig, submit_evaluation\n"
             "print(submit_evaluation(EvalConfig(['smollm2-135m'], ['length', 'bleu'], limit={limit},"
             " settings={{'max_new_tokens': {tokens}}}, batch_size=1)))\n"),
    "data": ("from travelbot.data.build import BuildConfig, submit_build\n"
             "print(submit_build(BuildConfig(ungrounded_variant=None, seed={limit})))\n"),
}


def run_row(run_id: int) -> dict:
    return next(run for run in runs() if run["id"] == run_id)


def submit_from_another_process(home: Path, kind: str, **values: object) -> int:
    """Submit a job from a short-lived process, as a server that is then stopped would."""
    code = SUBMIT[kind].format(name=f"restart-{uuid.uuid4().hex[:6]}", **values)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True,
                          env={**os.environ, "TRAVELBOT_HOME": str(home)})
    return int(done.stdout.split()[-1])


@pytest.mark.parametrize("kind", ["train", "eval", "data"])
def test_a_restart_leaves_every_kind_of_job_finished_or_failed(kind: str, jobs_home: Path, dataset: Path) -> None:
    first = submit_from_another_process(jobs_home, kind, dataset=str(dataset), limit=1, tokens=24)
    second = submit_from_another_process(jobs_home, kind, dataset=str(dataset), limit=20, tokens=64)
    assert get_job(first)["status"] == "running" and get_job(second)["status"] == "queued"  # one CPU job at a time
    assert reconcile() == []  # the restarted server finds the first job alive: it is not its child

    done = wait_status(first, "succeeded", "failed", timeout=600, reconciling=True)
    assert done["status"] == "succeeded", f"{done['error']}\n" + "\n".join(job_progress(first)["output_tail"])
    result = done["metrics"]
    if kind == "train":
        assert (Path(done["run_dir"]) / "adapter").is_dir() and "train_loss" in result
    elif kind == "eval":
        run = run_row(result["run_id"])
        assert run["status"] == "succeeded" and result["missing"] == {}
    else:
        assert (Path(result["out"]) / "manifest.json").is_file()

    # The first job's ending started the second; it dies mid-way with the machine.
    running = wait_for(lambda: (job := get_job(second))["status"] == "running" and job["last_progress"] and job,
                       timeout=300, what="the second job to report progress")
    os.killpg(running["pid"], signal.SIGKILL)
    assert wait_for(lambda: reconcile() or None, what="reconcile to notice the killed job") == [second]
    failed = get_job(second)
    assert failed["status"] == "failed" and failed["finished_at"] is not None
    head, _, tail = failed["error"].partition("\n")
    assert head.startswith(UNEXPECTED_END) and tail.strip(), failed["error"]
    if kind == "eval" and (run_id := (failed["last_progress"] or {}).get("run_id")):
        assert reconcile_runs() == [run_id]
        run = run_row(run_id)
        assert run["status"] == "failed" and run["error"] == STOPPED


def test_cancelling_an_evaluation_job_marks_its_run_cancelled_and_keeps_its_answers(jobs_home: Path) -> None:
    job_id = submit_from_another_process(jobs_home, "eval", limit=20, tokens=64)
    running = wait_for(lambda: ((job := get_job(job_id))["last_progress"] or {}).get("done") and job,
                       timeout=300, what="the evaluation to answer its first question")
    cancelled = cancel_job(job_id)
    assert cancelled["status"] == "cancelled"
    run_id = running["last_progress"]["run_id"]
    run = wait_for(lambda: (row := run_row(run_id))["status"] != "running" and row, timeout=30,
                   what="the run's row to end:\n" + "\n".join(job_progress(job_id)["output_tail"]))
    assert run["status"] == "cancelled"  # SIGTERM arrived as KeyboardInterrupt: the run recorded its own end
    assert get_job(job_id)["status"] == "cancelled"  # the dying child's ending did not overwrite it
    assert get_store().count("eval_answers") >= running["last_progress"]["done"]  # a re-run reuses them
