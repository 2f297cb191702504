"""The Agreement tab, served for real and driven through gradio_client, on PandaLM's imported judgments."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr
import pytest

from tests.conftest import free_port
from travelbot.ui import agreement_tab

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    from gradio_client import Client

    with gr.Blocks() as app:
        agreement_tab.build(app)
    app.queue()
    app.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True)
    try:
        yield Client(app.local_url, verbose=False)
    finally:
        app.close()


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
