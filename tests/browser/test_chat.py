"""Chat in a real browser: one variant streaming its answer, and several variants side by side."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import (
    FOOTER,
    GENERATION_MS,
    choose,
    choose_variants,
    expect,
    open_tab,
    record_texts,
    recorded_texts,
    shoot,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_an_answer_streams_in_and_ends_with_method_base_and_speed(page):
    choose(page, "Variant", re.compile(r"^smollm2-qlora · qlora"))
    # Choosing a variant describes it (and starts a new conversation): wait for that before asking.
    expect(page.get_by_text("smollm2-qlora — method qlora, base smollm2-135m")).to_be_visible()
    record_texts(page, "[role=log] [data-testid=bot]")
    page.get_by_placeholder("Ask a travel question…").fill("What should I pack for a week in Lisbon in May?")
    page.get_by_role("button", name="Send", exact=True).click()

    answer = page.get_by_role("log").locator("[data-testid=bot]").last
    footer = answer.locator("sub")
    expect(footer).to_contain_text("tok/s", timeout=GENERATION_MS)
    assert FOOTER.fullmatch(footer.inner_text().split(" · stopped")[0]), footer.inner_text()
    assert footer.inner_text().startswith("qlora · base smollm2-135m · ")
    texts = recorded_texts(page)
    partial = [t for t in texts if "tok/s" not in t and t != "…"]
    assert len(set(partial)) >= 3, f"expected the answer to grow in several steps, saw {texts}"
    final = answer.inner_text()
    assert final.split("qlora · base")[0].strip(), "the answer has no text above its footer"
    expect(page.get_by_placeholder("Ask a travel question…")).to_have_value("")
    expect(page.locator("#chat-status")).to_have_text("")
    assert shoot(page, "chat-answer").stat().st_size > 20_000


def test_side_by_side_shows_two_answers(page):
    open_tab(page, "Chat", "Side by side")
    choose_variants(page, "Variants to compare (2–4)", ["smollm2-135m", "smollm2-135m-precise"])
    page.get_by_placeholder("One travel question for every variant…").fill("Is Rome expensive?")
    page.get_by_role("button", name="Compare", exact=True).click()

    # The panel's class is on the Markdown block and on the text inside it: the outer ones are the panels.
    panels = page.locator(".compare-panel:not(.compare-panel .compare-panel):visible")
    expect(panels).to_have_count(2, timeout=GENERATION_MS)
    for panel, name in zip((panels.nth(0), panels.nth(1)), ("smollm2-135m", "smollm2-135m-precise"), strict=True):
        expect(panel.locator("sub")).to_contain_text("tok/s", timeout=GENERATION_MS)
        expect(panel.get_by_role("heading")).to_have_text(name)
        body = panel.inner_text().split(name, 1)[1].split("base · base")[0]
        assert body.strip(), f"{name} gave no answer text: {panel.inner_text()!r}"
    expect(page.locator("#compare-status")).to_have_text("")
