"""The Arena in a real browser: a blind battle, the vote, and the reveal of who was who."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.browser.conftest import ARENA_PAIR, GENERATION_MS, close_page, expect, open_app, open_tab

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# Keeps a copy of everything the server streams to the page (Gradio's queue answers arrive over fetch).
TAP_STREAMS = """
(() => {
    window.__streamed = [];
    const original = window.fetch;
    window.fetch = async (...args) => {
        const response = await original(...args);
        const url = String(args[0] && args[0].url || args[0]);
        if (url.includes("/queue/data") && response.body) {
            const reader = response.clone().body.getReader();
            const decoder = new TextDecoder();
            (async () => {
                for (;;) {
                    const {done, value} = await reader.read();
                    if (done) break;
                    window.__streamed.push(decoder.decode(value, {stream: true}));
                }
            })();
        }
        return response;
    };
})();
"""
REVEAL = re.compile(r"A was ([\w.-]+)(?: \(\w+\))? · B was ([\w.-]+)")


@pytest.fixture
def arena_page(browser, app_url, request):
    page = open_app(browser, app_url, init_script=TAP_STREAMS)
    yield page
    close_page(page, request)


def mentions(text: str, names: list[str]) -> Counter:
    """How often each name occurs as a whole name (``smollm2-135m`` is not counted inside ``smollm2-135m-precise``)."""
    return Counter({name: len(re.findall(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)) for name in names})


def test_a_battle_is_blind_until_the_vote(arena_page, registered_variants):
    page = arena_page
    names = registered_variants()
    assert set(ARENA_PAIR) <= set(names)
    open_tab(page, "Arena")
    arena = page.locator("[role=tabpanel]").filter(has=page.locator("#arena-a")).last
    votes = [page.get_by_role("button", name=label, exact=True)
             for label in ("A is better", "B is better", "Tie", "Both are bad")]
    for button in votes:
        expect(button).to_be_disabled()
    before = mentions(page.content(), names)
    streamed_before = page.evaluate("() => window.__streamed.length")

    page.get_by_placeholder("Ask both models a travel question…").fill("Is the Japan Rail Pass worth it for ten days?")
    page.get_by_role("button", name="Send", exact=True).click()
    for button in votes:
        expect(button).to_be_enabled(timeout=GENERATION_MS)
    for side, label in (("#arena-a", "Model A"), ("#arena-b", "Model B")):
        expect(page.locator(side)).to_contain_text(label)
        answer = page.locator(f"{side} [data-testid=bot]").last
        assert answer.inner_text().strip() not in ("", "…"), f"{label} has no answer"
    expect(page.locator("#arena-status")).to_contain_text("Vote, or ask a follow-up")

    # Nothing on the page or on the wire says which variants are fighting. (The page's own configuration
    # lists every variant for the other tabs' menus from the start: the battle must add no mention.)
    body = page.locator("body").inner_text()
    assert not +mentions(body, names), f"a variant is named on the page before the vote: {+mentions(body, names)}"
    assert not +mentions(arena.inner_html(), names), "the Arena tab names a variant before the vote"
    assert mentions(page.content(), names) == before, "the battle added a variant's name to the page"
    streamed = "".join(page.evaluate("(start) => window.__streamed.slice(start)", streamed_before))
    assert "Japan Rail Pass" in streamed, "the tap on the server's stream saw nothing"
    assert not +mentions(streamed, names), f"the server streamed a variant's name: {+mentions(streamed, names)}"

    page.get_by_role("button", name="A is better", exact=True).click()
    reveal = page.locator("#arena-reveal")
    expect(reveal).to_contain_text("Thank you — you said A was better")
    found = REVEAL.search(reveal.inner_text())
    assert found, reveal.inner_text()
    assert sorted(found.groups()) == sorted(ARENA_PAIR)
    for button in votes:
        expect(button).to_be_disabled()
    body = page.locator("body").inner_text()
    assert all(mentions(body, list(ARENA_PAIR)).values()), "the reveal does not name both variants"
    assert +(mentions(page.content(), names) - before), "the names appear in the page after the vote"
