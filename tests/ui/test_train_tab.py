"""The Train tab, served for real and driven through gradio_client; the trainer is the stand-in script."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest

from tests.conftest import free_port
from tests.training import standin_trainer as standin
from travelbot.config import Settings, get_settings, set_settings
from travelbot.errors import TravelbotError
from travelbot.store import get_store
from travelbot import jobs
from travelbot.training import launch
from travelbot.ui import train_tab

FORM = {"method": "qlora", "start": "default", "dataset": "newest", "preset": "cpu-demo", "name": "",
        "max_steps": 3, "learning_rate": 0.0003, "lora_r": 8, "per_device_train_batch_size": 4,
        "load_in_4bit": False, "advanced": ""}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, Path]]:
    """The tab alone in a Blocks app on a free port, with a data home of its own and the stand-in trainer."""
    from gradio_client import Client

    home = tmp_path_factory.mktemp("train-tab")
    previous, submit = get_settings(), launch.submit_training
    set_settings(Settings(home=home))
    patch = pytest.MonkeyPatch()  # the Start button's jobs run the stand-in trainer instead of TRL
    patch.setattr(train_tab, "submit_training", lambda config: submit(config, argv=standin.argv(
        config.max_steps, 0.1, *(["--fail"] if config.name.startswith("failing") else []))))
    with gr.Blocks() as app, gr.Tab("Train"):
        train_tab.build(app)
    app.queue()
    app.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True)
    try:
        yield Client(app.local_url, verbose=False), home
    finally:
        app.close()
        for job in get_store().jobs(status=("queued", "running")):
            try:
                jobs.cancel_job(job["id"])
            except TravelbotError:
                pass
        get_store().close()
        patch.undo()
        set_settings(previous)


def wait_status(job_id: int, status: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = jobs.get_job(job_id)
        if job["status"] == status:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not become {status}; it is {jobs.get_job(job_id)['status']}")


def test_start_training_through_the_api_runs_a_job(served) -> None:
    client, home = served
    note = client.predict(**{**FORM, "name": "from-the-ui"}, api_name="/start_training")
    assert note.startswith("Started job ") and "(from-the-ui) on the CPU" in note
    job_id = int(note.split()[2])
    job = jobs.get_job(job_id)
    assert job["name"] == "from-the-ui" and job["config"]["max_steps"] == 3
    assert job["command"][1] == str(standin.PATH)
    done = wait_status(job_id, "succeeded")
    assert done["last_progress"]["step"] == 3 and Path(done["run_dir"]).parent == (home / "runs").resolve()

    second = client.predict(**{**FORM, "name": "second", "max_steps": 1}, api_name="/start_training")
    assert second.startswith("Started job ")
    wait_status(int(second.split()[2]), "succeeded")
    assert [j["name"] for j in jobs.list_jobs()][:2] == ["second", "from-the-ui"]


def test_start_and_cancel_answer_with_sentences(served) -> None:
    client, _ = served
    bad_line = client.predict(**{**FORM, "advanced": "warmup_ratio 0.1"}, api_name="/start_training")
    assert bad_line == "⚠️ Write each advanced setting as key=value on its own line; line 1 is 'warmup_ratio 0.1'."
    unknown = client.predict(**{**FORM, "advanced": "colour=blue"}, api_name="/start_training")
    assert unknown == "⚠️ Unknown training setting(s): colour."
    bad_name = client.predict(**{**FORM, "name": "a b"}, api_name="/start_training")
    assert bad_name.startswith("⚠️ Run name 'a b'")
    assert client.predict(job="4242", api_name="/cancel_training").startswith("⚠️ There is no job 4242")
    assert client.predict(job="", api_name="/cancel_training") == "⚠️ Pick a job to cancel first."

    started = client.predict(**{**FORM, "name": "long", "max_steps": 500}, api_name="/start_training")
    queued = client.predict(**{**FORM, "name": "behind", "max_steps": 1}, api_name="/start_training")
    assert started.startswith("Started job ") and queued.startswith("Queued job ")
    long_id, behind_id = int(started.split()[2]), int(queued.split()[2])
    assert client.predict(job=str(behind_id), api_name="/cancel_training") == f"Cancelled job {behind_id} (behind)."
    assert client.predict(job=str(long_id), api_name="/cancel_training") == f"Cancelled job {long_id} (long)."
    assert jobs.get_job(long_id)["status"] == jobs.get_job(behind_id)["status"] == "cancelled"
    again = client.predict(job=str(long_id), api_name="/cancel_training")
    assert again == f"⚠️ Job {long_id} has already been cancelled; only queued or running jobs can be cancelled."


def test_the_form_previews_the_equivalent_command(served) -> None:
    form = [FORM[k] for k in FORM]
    preview = train_tab.preview_command(*form[:4], "demo", 5, 0.0003, 8, 4, False, "warmup_ratio=0.1")
    assert ("travelbot train qlora --preset cpu-demo --name demo --base smollm2-135m --set load_in_4bit=false "
            "--set max_steps=5 --set warmup_ratio=0.1") in preview
    from_variant = train_tab.preview_command("dpo", "variant:my-raft", "newest", "cpu-demo", "d", None, None, None,
                                             None, None, "")
    assert "travelbot train dpo --preset cpu-demo --name d --from my-raft" in from_variant
    with_build = train_tab.preview_command("raft", "smollm2-135m", "20260101-bundled-1", "cpu-demo", "r", None, None,
                                           None, None, None, "")
    assert "--name r --base smollm2-135m --dataset 20260101-bundled-1" in with_build
    assert train_tab.preview_command("qlora", "base:smollm2-135m", "newest", "cpu-demo", "x", 0, None, None, None,
                                     None, "") == "⚠️ Out-of-range training setting(s): max_steps."
    assert train_tab.preset_values("qlora", "cpu-demo") == (12, 0.0003, 8, 4, True)


def test_the_jobs_panel_shows_progress_loss_and_failures(served) -> None:
    note = train_tab.start_training(**{**FORM, "name": "watched", "max_steps": 4})
    job_id = int(note.split()[2])
    wait_status(job_id, "succeeded")
    table, pick, bar, stats, plot, failure, output, seen = train_tab.refresh(None, {})
    assert table[0][:5] == [job_id, "watched", "qlora", "succeeded", "4/4"]
    assert pick.value == str(job_id)
    assert "succeeded · step 4/4 · 100%" in bar and "loss 0.5000" in stats and "eval loss 0.5500" in stats
    assert [trace.name for trace in plot.data] == ["train loss", "eval loss"]
    assert list(plot.data[0].x) == [1, 2, 3, 4] and list(plot.data[1].x) == [2, 4]
    assert failure == "" and output.endswith("done")
    again = train_tab.refresh(str(job_id), seen)  # nothing changed: the table and plot are not sent again
    assert not isinstance(again[0], list) and not hasattr(again[4], "data")

    failing = train_tab.start_training(**{**FORM, "name": "failing", "max_steps": 1})
    failed_id = int(failing.split()[2])
    wait_status(failed_id, "failed")
    *_, bar, _, _, failure, output, _ = train_tab.refresh(str(failed_id), {})
    assert "failed · step 1/1" in bar
    assert failure.startswith("⚠️ The stand-in failed on purpose.")
    assert failure.endswith("Last output lines:\n```\nstep 1/1 loss 2.0\nfailing on purpose\n```")


def test_an_eval_only_log_event_does_not_blank_the_training_figures() -> None:
    events = [{"event": "start", "max_steps": 1},
              {"event": "log", "step": 1, "max_steps": 1, "loss": 4.1, "learning_rate": 3e-4, "tokens_per_second": 10.2},
              {"event": "log", "step": 1, "max_steps": 1, "loss": None, "eval_loss": 3.8, "learning_rate": None}]
    last = train_tab.latest_values(events)
    assert (last["loss"], last["eval_loss"], last["learning_rate"]) == (4.1, 3.8, 3e-4)
    job = {"id": 1, "name": "n", "config": {"method": "qlora", "preset": "cpu-demo"}, "device": "cpu", "status": "running"}
    assert "loss 4.1000 · eval loss 3.8000 · lr 3.00e-04 · 10 tokens/s" in train_tab.progress_stats(job, last)


def test_the_bar_names_the_phase_and_took_is_the_whole_job(tmp_path) -> None:
    from datetime import UTC, datetime, timedelta

    events = [{"event": "start"}, {"event": "phase", "phase": "building the dataset (first run only)",
                                   "detail": "Writing RAFT"}]
    assert train_tab.current_phase(events) == "building the dataset (first run only): Writing RAFT"
    running = {"id": 1, "status": "running", "name": "r", "config": {"method": "qlora", "preset": "cpu-demo"}, "device": "cpu"}
    assert "building the dataset (first run only): Writing RAFT" in train_tab.progress_bar(running, {}, "building "
                                                                                           "the dataset (first run "
                                                                                           "only): Writing RAFT")
    assert train_tab.current_phase([*events, {"event": "log", "step": 1, "loss": 2.0}]) is None
    start = datetime(2026, 1, 1, tzinfo=UTC)
    done = {**running, "status": "succeeded", "started_at": start, "finished_at": start + timedelta(seconds=199)}
    assert "took 3 min 19 s" in train_tab.progress_stats(done, {"elapsed_seconds": 19})


def test_the_output_tail_is_plain_text(tmp_path) -> None:
    log = tmp_path / "out.log"
    log.write_bytes(b"\x1b[32mloading\x1b[0m\n 50%|\x1b[1m##\x1b[0m| 1/2\r100%|####| 2/2\n")
    assert jobs.output_tail({"output_path": str(log)}) == ["loading", "100%|####| 2/2"]
