"""The Verdict tab in a real browser: the decision, the four findings with their evidence, the chart."""

from __future__ import annotations

import pytest

from tests.browser.conftest import expect, open_tab, shoot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_the_verdict_states_each_finding_and_what_it_needs(page):
    open_tab(page, "Verdict")
    note = page.locator("#verdict")
    expect(note).to_contain_text("Recommended:", timeout=120_000)
    for claim in ("RAFT beats QLoRA", "RLHF improves on its start (RAFT)", "DPO improves on its start (RAFT)",
                  "Lexical metrics (BLEU, ROUGE) disagree with people",
                  "The LLM judge agrees with people better than the metrics do"):
        expect(note).to_contain_text(claim)
    expect(note.get_by_role("table")).to_have_count(1)
    table = page.locator(".block", has=page.get_by_text("Per variant", exact=True)).last
    expect(table.get_by_role("gridcell", name="smollm2-raft", exact=True)).to_have_count(1)
    expect(page.locator(".js-plotly-plot:visible")).to_have_count(1)
    shoot(page, "verdict")
