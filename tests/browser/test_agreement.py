"""Agreement in a real browser: the store's charts after an evaluation, and an imported judgment set."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import choose, expect, open_tab
from tests.conftest import find_pandalm

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SMALL_SET = "pandalm-small"


def nobody_voted_or_rated(server_home) -> bool:
    from travelbot.store import Store

    store = Store(f"sqlite:///{(server_home / 'travelbot.db').resolve()}")
    try:
        return not (store.count("votes") or store.count("ratings"))
    finally:
        store.close()


def test_a_fresh_home_opens_on_real_human_judgments(server_home, page):
    if not nobody_voted_or_rated(server_home):
        pytest.skip("people already voted or rated on this server, so the tab opens on the store")
    open_tab(page, "Agreement")
    note = page.locator("#agreement-note")
    expect(note).to_contain_text("PandaLM's test set: 999 instruction–response pairs", timeout=120_000)
    expect(note).to_contain_text("Set pandalm: 999 items")
    table = page.locator(".block", has=page.get_by_text("Agreement with the human majority", exact=True)).last
    for judge in ("gpt-3.5-turbo", "pandalm-7b", "bleu", "rougeL"):
        expect(table.get_by_role("gridcell", name=judge, exact=True)).to_have_count(1)


def test_the_store_views_draw_their_charts(small_evaluation, server_home, page):
    opens_on = "pandalm" if nobody_voted_or_rated(server_home) else "store"
    open_tab(page, "Agreement")
    charts = page.locator(".js-plotly-plot:visible")
    # Opening the tab draws the scatter and the heatmap (and, on a home nobody voted in yet, the headline
    # chart of PandaLM's set); Compute on the store draws the headline chart of the store's votes.
    expect(page.get_by_label("Human data", exact=True)).to_have_value(opens_on, timeout=30_000)
    choose(page, "Human data", "store")
    page.get_by_role("button", name="Compute", exact=True).click()
    expect(page.locator("#agreement-note")).to_contain_text("arena votes on golden questions", timeout=60_000)
    expect(charts).to_have_count(3)
    for label in ("Agreement with humans", "Metric–metric correlation", "Metric vs mean rating"):
        block = page.locator(".block", has=page.get_by_text(label, exact=True)).last
        expect(block.locator(".js-plotly-plot")).to_have_count(1)
        expect(block.locator(".main-svg").first).to_be_visible()


@pytest.fixture
def small_judgment_set(server_home):
    """The first 40 items of PandaLM's human-annotated test set, imported into the served app's store."""
    folder = find_pandalm()
    if folder is None:
        pytest.skip("the PandaLM test set (shared/benchmarks/pandalm) is not on this machine")
    from travelbot.analysis.judgments import import_judgments, load_pandalm
    from travelbot.store import Store

    items, _ = load_pandalm(folder)
    store = Store(f"sqlite:///{(server_home / 'travelbot.db').resolve()}")
    try:
        import_judgments(items[:40], SMALL_SET, "pandalm:testset-v1.json (first 40)", store)
    finally:
        store.close()
    return SMALL_SET


def test_an_imported_judgment_set_shows_the_judges_table(small_judgment_set, page):
    open_tab(page, "Agreement")  # opening the tab re-reads the imported sets
    choose(page, "Human data", small_judgment_set)
    page.get_by_label("Reference answers from judge (imported sets)").fill("gpt-3.5-turbo")
    page.get_by_role("button", name="Compute", exact=True).click()
    note = page.locator("#agreement-note")
    expect(note).to_contain_text(f"Set {small_judgment_set}: 40 items", timeout=120_000)
    table = page.locator(".block", has=page.get_by_text("Agreement with the human majority", exact=True)).last
    for judge, kind in (("gpt-3.5-turbo", "judge"), ("pandalm-7b", "judge"), ("bleu", "metric"), ("rougeL", "metric")):
        row = table.get_by_role("row").filter(has=page.get_by_role("gridcell", name=judge, exact=True))
        expect(row.get_by_role("gridcell").nth(1)).to_have_text(kind)
        expect(row.get_by_role("gridcell").nth(3)).to_have_text(re.compile(r"^\s*0\.\d{3} \[0\.\d{3}, [01]\.\d{3}\]\s*$"))
    chart = page.locator(".block", has=page.get_by_text("Agreement with humans", exact=True)).last
    expect(chart.locator(".js-plotly-plot")).to_have_count(1)
    assert "⚠️" not in note.inner_text()
