"""The dashboard on a phone-sized screen: the header, the tabs and the chat fit and work."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ask, close_page, expect, open_app, shoot

pytestmark = [pytest.mark.slow, pytest.mark.browser]

WIDTH, HEIGHT = 390, 844


@pytest.fixture
def phone(browser, app_url, request):
    page = open_app(browser, app_url, width=WIDTH, height=HEIGHT)
    yield page
    close_page(page, request)


def overflow(page) -> int:
    """How many pixels the page is wider than the screen (0 when nothing sticks out sideways)."""
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def test_a_phone_can_read_the_header_switch_tabs_and_chat(phone):
    page = phone
    header = page.locator("#header")
    expect(header).to_be_in_viewport()
    expect(header.get_by_role("heading", name="travelbot")).to_be_visible()
    height = header.bounding_box()["height"]
    assert height < 90, f"the header takes {height:.0f} px of a phone screen; it should collapse to about a line"
    tabs = page.get_by_role("tablist").first
    expect(tabs).to_be_visible()
    for name in ("Chat", "Verdict", "Arena"):  # the rest are behind "More tabs" (checked below)
        box = page.get_by_role("tab", name=name, exact=True).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH + 1, f"the {name} tab is off screen: {box}"
    textbox = page.get_by_placeholder("Ask a travel question…")
    textbox.scroll_into_view_if_needed()
    expect(textbox).to_be_visible()
    box = textbox.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH + 1, f"the chat input is off screen: {box}"
    assert overflow(page) <= 4, f"the page is {overflow(page)} px wider than a {WIDTH} px screen"

    answer = ask(page, "Any tips for a first trip to Lisbon?")
    assert answer.split("base · base")[0].strip(), "no answer text"
    assert overflow(page) <= 4, f"with an answer, the page is {overflow(page)} px wider than the screen"
    shoot(page, "phone-chat")

    page.get_by_role("tab", name="Arena", exact=True).click()
    expect(page.get_by_placeholder("Ask both models a travel question…")).to_be_visible()
    assert overflow(page) <= 4, f"the Arena is {overflow(page)} px wider than the screen"
    # The tabs that do not fit are behind a "More tabs" menu.
    page.get_by_role("button", name="More tabs").click()
    expect(page.locator(".overflow-dropdown").get_by_role("button", name="Rate", exact=True)).to_be_visible()
    page.locator(".overflow-dropdown").get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("Equivalent command:")).to_be_visible()
    assert overflow(page) <= 4, f"the Train tab is {overflow(page)} px wider than the screen"
