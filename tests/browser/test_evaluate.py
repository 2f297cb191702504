"""Evaluate in a real browser: a small run over golden questions, followed to its results table."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import expect, open_tab

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_a_small_run_finishes_and_shows_its_results(small_evaluation, page):
    assert re.fullmatch(r"Job \d+ (running|queued): dev · 1 variant · smollm2-135m\.", small_evaluation["status"])
    assert re.search(r"Job \d+ · run \d+: succeeded", small_evaluation["progress"]), small_evaluation["progress"]
    assert ", 2 answers." in small_evaluation["note"], small_evaluation["note"]
    table = small_evaluation["table"]
    assert "smollm2-135m" in table and "smollm2-135m-precise" not in table
    for metric in ("bleu", "rouge1", "rougeL"):
        assert re.search(rf"\b{metric}\b", table), f"{metric} is missing from the results:\n{table}"
    assert "bertscore" not in table

    # Opening the tab later shows the newest run again, with the question drill-down.
    open_tab(page, "Evaluate")
    run_id = re.search(r"· run (\d+)", small_evaluation["progress"]).group(1)
    expect(page.get_by_label("Run", exact=True)).to_have_value(re.compile(rf"^run {run_id} · succeeded · dev"))
    metrics = page.locator(".block", has=page.get_by_text("Per variant and metric", exact=True)).last
    expect(metrics).to_contain_text("rougeL")
    expect(page.locator(".js-plotly-plot:visible")).to_have_count(1)  # seconds per answer
    expect(page.locator("#eval-drill-down")).to_contain_text("Golden answer.")
