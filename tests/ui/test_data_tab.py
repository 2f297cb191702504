"""The Data tab's dataset build, served for real and driven through gradio_client: the build is a job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.conftest import served_tab
from travelbot import jobs
from travelbot.config import Settings, get_settings, set_settings
from travelbot.data.build import list_builds
from travelbot.store import get_store
from travelbot.ui import data_tab

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    previous = get_settings()
    set_settings(Settings(home=tmp_path_factory.mktemp("data-tab")))
    try:
        with served_tab(data_tab.build) as client:
            yield client
    finally:
        for job in get_store().jobs(status=jobs.ACTIVE):
            jobs.cancel_job(job["id"])
        get_store().close()
        set_settings(previous)


def test_a_build_runs_as_a_job_and_its_steps_show(client) -> None:
    started = client.predict(source="bundled", generator="template", ungrounded_limit=0, seed=3,
                             api_name="/build_datasets")
    assert started.startswith("Build job ") and started.endswith("; its progress is below."), started
    job_id = int(started.split()[2])
    job = jobs.get_job(job_id)
    assert job["kind"] == "data" and job["config"]["seed"] == 3
    assert job["command"][3:] == ["data", "build", "--seed", "3", "--ungrounded-limit", "0", "--job-id", str(job_id)]
    deadline = time.monotonic() + 500
    while jobs.get_job(job_id)["status"] in jobs.ACTIVE:
        assert time.monotonic() < deadline, data_tab.build_status()
        time.sleep(1)
    status = data_tab.build_status()
    assert jobs.get_job(job_id)["status"] == "succeeded", status
    built = jobs.get_job(job_id)["metrics"]["build_id"]
    assert f"✅ Built **{built}**" in status and "- Loading the source" in status
    assert [b["build_id"] for b in list_builds()][0] == built and Path(jobs.get_job(job_id)["metrics"]["out"]).is_dir()


def test_bad_settings_are_a_sentence_and_queue_nothing(client, tmp_path: Path) -> None:
    before = len(jobs.list_jobs(kind="data"))
    missing = client.predict(source=str(tmp_path / "no-such-folder"), generator="template", ungrounded_limit=0, seed=0,
                             api_name="/build_datasets")
    assert missing.startswith("⚠️") and "is not a folder" in missing, missing
    negative = client.predict(source="bundled", generator="template", ungrounded_limit=-1, seed=0,
                              api_name="/build_datasets")
    assert negative.startswith("⚠️") and "whole numbers, 0 or more" in negative, negative
    assert len(jobs.list_jobs(kind="data")) == before
