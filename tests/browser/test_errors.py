"""Mistakes people make in the page are answered with a sentence, never a traceback."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import choose_variants, expect, open_tab

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SENTENCE = re.compile(r"^⚠️ [A-Z][^\n]*[.!?]$")


def no_traceback(page) -> None:
    assert "Traceback" not in page.content()
    assert not page.locator(".toast-body.error:visible").count(), "an error toast popped up"


def test_an_empty_or_too_long_chat_message_gets_a_sentence(page):
    status = page.locator("#chat-status")
    textbox = page.get_by_placeholder("Ask a travel question…")
    send = page.get_by_role("button", name="Send", exact=True)

    textbox.fill("   ")
    send.click()
    expect(status).to_contain_text("message is empty")
    assert SENTENCE.match(status.inner_text().strip()), status.inner_text()
    no_traceback(page)

    # One more than the limit: the box keeps exactly what the server accepts and says a longer paste is cut.
    textbox.fill("x" * 4001)
    expect(textbox).to_have_value("x" * 4000)
    expect(textbox).to_have_attribute("placeholder", re.compile("up to 4,000 characters; a longer paste is cut there"))
    expect(page.get_by_role("log").locator("[data-testid=bot]")).to_have_count(0)
    no_traceback(page)


def test_comparing_one_variant_and_an_empty_arena_question_get_sentences(page):
    open_tab(page, "Chat", "Side by side")
    choose_variants(page, "Variants to compare (2–4)", ["smollm2-135m"])
    page.get_by_placeholder("One travel question for every variant…").fill("Is Rome expensive?")
    page.get_by_role("button", name="Compare", exact=True).click()
    status = page.locator("#compare-status")
    expect(status).to_contain_text("Pick between 2 and 4 variants to compare.")
    assert SENTENCE.match(status.inner_text().strip()), status.inner_text()
    no_traceback(page)

    open_tab(page, "Arena")
    page.get_by_role("button", name="Send", exact=True).click()
    status = page.locator("#arena-status")
    expect(status).to_contain_text("⚠️")
    assert SENTENCE.match(status.inner_text().strip()), status.inner_text()
    for label in ("A is better", "B is better"):
        expect(page.get_by_role("button", name=label, exact=True)).to_be_disabled()
    no_traceback(page)
