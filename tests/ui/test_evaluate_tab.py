"""The Evaluate tab, served for real and driven through gradio_client: start a run, follow it, read it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.ui.conftest import served_tab
from travelbot import jobs
from travelbot.config import JudgeSettings, get_settings, set_settings
from travelbot.evaluation.results import runs
from travelbot.ui import evaluate_tab

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    previous = get_settings()
    set_settings(replace(previous, judge=JudgeSettings()))
    try:
        with served_tab(evaluate_tab.build) as client:
            yield client
    finally:
        set_settings(previous)


def finished_run(client, variants: list[str], scorers: list[str], limit: int) -> dict:
    """Start a run through the tab and wait for it to end; its row."""
    status = client.predict(variants=variants, split="dev", scorers=scorers, limit=limit, max_new_tokens=16,
                               judge_model="", judge_base_url="", judge_key="", api_name="/evaluate")
    assert status.startswith("Job ") and (" running: " in status or " queued: " in status), status
    job_id = int(status.split()[1])
    deadline = time.time() + 300
    while time.time() < deadline and jobs.get_job(job_id)["status"] in jobs.ACTIVE:
        time.sleep(1)
    job = jobs.get_job(job_id)
    assert job["status"] == "succeeded", job["error"]
    assert evaluate_tab.progress_html(job_id).startswith('<div id="eval-progress" data-status="succeeded">')
    return next(r for r in runs() if r["id"] == job["metrics"]["run_id"])


def test_run_follow_and_drill_down(client) -> None:
    run = finished_run(client, ["smollm2-135m", "smollm2-135m-precise"], ["bleu", "rouge", "length"], limit=2)
    run_id = run["id"]
    assert run["status"] == "succeeded" and run["progress"]["done"] == run["progress"]["total"]

    metrics, pairs, plot, question, csv_file, jsonl_file, note = client.predict(
        run_id, api_name="/evaluation_results")
    rows = {(r[0], r[1]): r for r in metrics["data"]}
    assert rows[("smollm2-135m", "bleu")][4] == 2 and rows[("smollm2-135m-precise", "rougeL")][4] == 2
    assert ("smollm2-135m", "latency_s") in rows and "95% bootstrap intervals" in note
    assert open(csv_file, encoding="utf-8").readline().startswith("run_id,variant")
    assert plot is not None and len(question["choices"]) == 2

    page = client.predict(run_id, question["value"], api_name="/evaluation_question")
    assert "**Golden answer.**" in page and "#### smollm2-135m (base)" in page and "bleu" in page


def test_errors_are_sentences(client) -> None:
    status = client.predict(variants=[], split="dev", scorers=["bleu"], limit=None, max_new_tokens=16,
                               judge_model="", judge_base_url="", judge_key="", api_name="/evaluate")
    assert "Choose at least one variant" in status
    status = client.predict(variants=["smollm2-135m"], split="dev", scorers=["judge"], limit=1, max_new_tokens=16,
                               judge_model="", judge_base_url="", judge_key="", api_name="/evaluate")
    assert "TRAVELBOT_JUDGE_MODEL" in status



def test_downloads_do_not_pile_up_in_the_temp_folder(client) -> None:
    import tempfile
    from pathlib import Path

    run_id = finished_run(client, ["smollm2-135m"], ["length"], limit=1)["id"]
    temp = Path(tempfile.gettempdir())

    def exports() -> set[Path]:
        return {*temp.glob("travelbot-run-*"), *temp.glob("travelbot-exports/*")}

    before = exports()
    for _ in range(3):
        *_, csv_file, jsonl_file, note = client.predict(run_id, api_name="/evaluation_results")
        assert note.startswith(f"Run {run_id}: succeeded")
        assert open(csv_file, encoding="utf-8").readline().startswith("run_id,variant")
    assert {p.name for p in exports() - before} <= {f"run-{run_id}.csv", f"run-{run_id}.jsonl"}
    assert (temp / "travelbot-exports" / f"run-{run_id}.csv").is_file()


def test_the_form_estimates_a_run_before_it_starts() -> None:
    from travelbot.ui.evaluate_tab import estimate

    assert estimate(["a", "b"], "dev", 0, 256).startswith("23 questions × 2 variants = 46 answers to generate")
    assert estimate(["a"], "dev", 5, 64).startswith("5 questions × 1 variant = 5 answers")
