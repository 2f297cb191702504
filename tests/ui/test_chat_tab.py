"""The Chat and Arena faces on first use: a RAFT question asked while the travel guides still load stays
visible with a word on what is happening, never a blank conversation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from travelbot.config import get_settings, set_settings
from travelbot.ui import arena_tab, chat_tab


@pytest.fixture
def guides_not_loaded(monkeypatch):
    """The state right after start-up: no retriever in memory (the real one is put back afterwards)."""
    from travelbot.data import corpus

    monkeypatch.setattr(corpus, "_retriever_cache", {})


def test_a_raft_question_waits_visibly_for_the_guides(guides_not_loaded) -> None:
    stream = chat_tab.respond("Is Lisbon walkable?", [], [], "smollm2-raft", None, "", 16, 0.0)
    textbox, display, history, _, status = next(stream)
    stream.close()
    assert textbox == "" and status == "" and history == []
    assert display == [{"role": "user", "content": "Is Lisbon walkable?"},
                       {"role": "assistant", "content": chat_tab.LOADING_GUIDES}]


def test_a_question_to_a_variant_without_retrieval_does_not_wait(guides_not_loaded) -> None:
    assert not chat_tab._waits_for_guides("smollm2-135m") and chat_tab._waits_for_guides("smollm2-raft")
    assert not chat_tab._waits_for_guides("no-such-variant")


def test_an_arena_battle_with_a_raft_side_says_it_is_getting_ready(guides_not_loaded) -> None:
    before = get_settings()
    set_settings(replace(before, arena_weights="*=0,smollm2-raft=1,smollm2-135m=1"))
    try:
        stream = arena_tab.battle_turn("Is Porto hilly?", None, [], [], "ready0123456789", "")
        battle_id, chat_a, chat_b, textbox, status, *_ = next(stream)
        stream.close()
    finally:
        set_settings(before)
    assert battle_id and textbox == "" and status == arena_tab.GETTING_READY
    assert chat_a == chat_b == [{"role": "user", "content": "Is Porto hilly?"}, {"role": "assistant", "content": "…"}]


def test_side_by_side_starts_with_the_base_beside_a_fine_tuned_variant() -> None:
    from travelbot.ui.common import default_pair, variant_choices

    assert default_pair(variant_choices()) == ["smollm2-135m", "smollm2-raft"]
    only_bases = [("a", "smollm2-135m"), ("b", "smollm2-135m-precise")]
    assert default_pair(only_bases) == ["smollm2-135m", "smollm2-135m-precise"]


def test_a_raft_answer_shows_the_passages_it_quoted_with_the_quoted_text() -> None:
    from types import SimpleNamespace

    from travelbot.data.raft import parse_raft_answer
    from travelbot.ui.common import raft_details

    passages = [SimpleNamespace(title="Lisbon, Portugal", section="Getting around",
                                text="Trams climb the hills. The metro has four lines and runs until 1 am."),
                SimpleNamespace(title="Porto, Portugal", section="When to go", text="June is festival month.")]
    output = ("##Reason: It says ##begin_quote## The metro has four lines ##end_quote## and "
              "##begin_quote## buses run all night ##end_quote##.\n\n<ANSWER>: Take the metro.")
    reply = SimpleNamespace(raft=parse_raft_answer(output), passages=passages)
    shown = raft_details(reply)
    assert "2 sources quoted" in shown
    assert "> The metro has four lines\n>\n> — *Lisbon, Portugal, Getting around*" in shown
    assert "> buses run all night\n>\n> — *not in the passages it read*" in shown
    assert "**Also read, not quoted.** Porto, Portugal — When to go" in shown
