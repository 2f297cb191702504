"""The Agreement tab, served for real and driven through gradio_client, on PandaLM's imported judgments."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ui.conftest import served_tab
from travelbot.ui import agreement_tab

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with served_tab(agreement_tab.build) as client:
        yield client


def test_judges_and_metrics_on_an_imported_set(client, pandalm_dir) -> None:
    from travelbot.analysis.judgments import import_judgments, load_pandalm

    items, _ = load_pandalm(pandalm_dir)
    import_judgments(items[:120], "pandalm-ui", "test")
    note, table, chart = client.predict("pandalm-ui", ["rougeL"], "gpt-3.5-turbo", 0, api_name="/agreement")
    assert "Set **pandalm-ui**: 120 items" in note and "Fleiss' kappa" in note
    names = [row[0] for row in table["data"]]
    assert names == ["gpt-3.5-turbo", "pandalm-7b", "rougeL"]
    assert all("[" in row[3] for row in table["data"])  # every accuracy carries its interval
    assert chart is not None


def test_store_source_and_errors(client) -> None:
    note, table, _ = client.predict("store", ["bleu"], "", 0, api_name="/agreement")
    assert "arena votes on golden questions" in note and table["data"][0][0] == "bleu"
    note, _, _ = client.predict("no-such-set", ["bleu"], "", 0, api_name="/agreement")
    assert "No judgment set named 'no-such-set'" in note
