"""Rate in a real browser: score one anonymous answer, and the form moves on to the next."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import ask, expect, open_tab

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def scale(page, question: str):
    """The 1–5 radio buttons under one criterion's question."""
    return page.locator(".rate-scale:visible").filter(has=page.get_by_text(question, exact=True))


def test_a_rating_is_accepted_and_the_form_moves_on(page):
    ask(page, "How do I get from the airport to the city centre in Rome?")  # something to rate
    open_tab(page, "Rate")
    submit = page.get_by_role("button", name="Submit rating", exact=True)
    expect(submit).to_be_enabled(timeout=60_000)  # opening the tab loads an answer to rate
    question, answer, status = page.locator("#rate-question"), page.locator("#rate-answer"), page.locator("#rate-status")
    expect(question.locator("textarea")).not_to_have_value("")
    expect(status).to_contain_text("You have rated 0 answers")
    shown = question.locator("textarea").input_value(), answer.locator("textarea").input_value()
    assert shown[1].strip(), "the answer to rate is empty"
    assert "tok/s" not in shown[1], "the answer to rate shows which variant wrote it"

    scale(page, "Relevance — does it address the question asked?").get_by_role("radio", name="4").check()
    scale(page, "Overall").get_by_role("radio", name="3").check()
    page.get_by_label("Comment (optional)").fill("Clear enough, a little short.")
    submit.click()

    # Accepted: the count went up and a fresh, blank form is shown (or nothing is left to rate).
    expect(status).to_have_text(re.compile(r"You have rated 1 answer\.|Nothing left to rate"))
    expect(page.get_by_label("Comment (optional)")).to_have_value("")
    for radio in scale(page, "Overall").get_by_role("radio").all():
        expect(radio).not_to_be_checked()
    assert "⚠️" not in status.inner_text()
