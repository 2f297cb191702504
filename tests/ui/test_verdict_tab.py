"""The Verdict tab, served for real and driven through gradio_client, on a store of simulated battles."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.analysis.test_verdict import simulated_battles
from tests.ui.conftest import served_tab
from travelbot.config import Settings, get_settings, set_settings
from travelbot.feedback.votes import import_votes
from travelbot.store import get_store
from travelbot.ui import verdict_tab

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    previous = get_settings()
    home = tmp_path_factory.mktemp("verdict-tab")
    set_settings(replace(Settings(home=home), assets_dir=previous.assets_dir))
    try:
        with served_tab(verdict_tab.build) as client:
            yield client
    finally:
        get_store().close()
        set_settings(previous)


def test_an_empty_store_says_what_is_missing_then_votes_give_a_verdict(client, tmp_path: Path) -> None:
    note, rows, chart = client.predict(api_name="/verdict")
    assert "No votes yet" in note and "What is missing" in note and "| undetermined |" in note
    assert len(rows["data"]) >= 5 and all(r[2] == "—" for r in rows["data"])

    import_votes(simulated_battles(tmp_path / "battles.jsonl", 600), get_store())
    note, rows, chart = client.predict(api_name="/verdict")
    assert "People prefer smollm2-rlhf over" in note and "| **supported** |" in note
    assert "**Recommended:** smollm2-rlhf" in note
    by_variant = {r[0]: r for r in rows["data"]}
    assert by_variant["smollm2-raft"][2].endswith(")") and "[" in by_variant["smollm2-raft"][2]
    assert "s on cpu" in by_variant["smollm2-raft"][11]
    assert chart is not None
