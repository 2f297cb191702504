"""Training runs submitted as jobs: the real ``travelbot train`` child, one step, reporting to its job row."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.test_jobs import wait_status
from travelbot.config import Settings, get_settings, set_settings
from travelbot.jobs import cancel_job, get_job, job_progress
from travelbot.store import get_store
from travelbot.training.config import resolve_config
from travelbot.training.launch import device_for, submit_training


def test_cpu_presets_queue_on_the_cpu_and_gpu_presets_on_the_gpu() -> None:
    assert device_for(resolve_config("qlora", preset="cpu-demo", base="smollm2-135m")) == "cpu"
    assert device_for(resolve_config("qlora", preset="gpu-small", base="smollm2-135m")) == "cuda"


@pytest.mark.slow
@pytest.mark.timeout(900)  # one real training step in a child process, with model loading
def test_the_real_trainer_runs_one_step(home: Path, dataset: Path) -> None:
    pytest.importorskip("travelbot.training.run", reason="the trainer module travelbot.training.run has not landed yet")
    previous = get_settings()
    set_settings(Settings(home=home))
    try:
        real = resolve_config("qlora", preset="cpu-demo", base="smollm2-135m", name=f"job-{uuid.uuid4().hex[:8]}",
                              dataset=str(dataset), overrides={"max_steps": 1, "load_in_4bit": False,
                                                               "behaviour_questions": 0, "max_length": 128})
        job_id = submit_training(real)
        assert get_job(job_id)["command"][1:] == [
            "-m", "travelbot", "train", "qlora", "--preset", "cpu-demo", "--name", real.name, "--base", "smollm2-135m",
            "--dataset", str(dataset), "--set", "behaviour_questions=0", "--set", "load_in_4bit=false",
            "--set", "max_length=128", "--set", "max_steps=1", "--job-id", str(job_id)]
        done = wait_status(job_id, "succeeded", "failed", "cancelled", timeout=3500, reconciling=True)
        progress = job_progress(job_id)
        assert done["status"] == "succeeded", f"{done['error']}\n" + "\n".join(progress["output_tail"])
        assert [e["event"] for e in progress["events"]][0] == "start"
        assert progress["events"][-1]["event"] == "end"
        assert any(e["event"] == "log" for e in progress["events"]) and done["last_progress"] is not None
        assert (Path(done["run_dir"]) / "adapter").is_dir()
        metrics = json.loads((Path(done["run_dir"]) / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["tokens_seen"] > 0  # what the run cost in tokens, for the verdict
    finally:
        for job in get_store().jobs(status=("queued", "running")):
            cancel_job(job["id"])
        set_settings(previous)
