"""A full-page screenshot of every tab, for people to look at (written to the artifacts folder)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import expect, open_tab, shoot

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def ready(page, tabs: tuple[str, ...]) -> None:
    """Wait until the tab shows what it loads when opened."""
    visible = page.locator(".js-plotly-plot:visible")
    match tabs:
        case ("Chat", "One variant"):
            expect(page.get_by_placeholder("Ask a travel question…")).to_be_visible()
        case ("Chat", "Side by side"):
            expect(page.locator(".token:visible")).to_have_count(2)
        case ("Arena",):
            expect(page.locator("#arena-a")).to_be_visible()
        case ("Rate",):
            expect(page.get_by_role("button", name="Next answer", exact=True)).to_be_visible()
        case ("Evaluate",):
            expect(page.get_by_label("Variants", exact=True)).to_be_visible()
        case ("Agreement",):
            expect(visible).to_have_count(2)  # the scatter and the heatmap, drawn when the tab opens
        case ("Train",):
            expect(page.get_by_text("Equivalent command:")).to_be_visible()
        case ("Data",):
            expect(page.get_by_role("tab", name="Corpus", exact=True)).to_be_visible()
            expect(page.get_by_role("gridcell").first).to_be_visible()


TABS = [("Chat", "One variant"), ("Chat", "Side by side"), ("Arena",), ("Rate",), ("Evaluate",), ("Agreement",),
        ("Train",), ("Data",)]


def test_every_tab_is_captured(page):
    shots = []
    for tabs in TABS:
        open_tab(page, *tabs)
        ready(page, tabs)
        shots.append(shoot(page, "-".join(t.lower().replace(" ", "-") for t in tabs)))
    for path in shots:
        assert path.is_file() and path.stat().st_size > 20_000, f"{path} is missing or nearly empty"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
