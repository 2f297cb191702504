"""Tests for travelbot/feedback/voters.py: who votes, and which answers make a vote not blind."""

from __future__ import annotations

from dataclasses import replace

import pytest

from travelbot.config import get_settings
from travelbot.errors import InvalidInputError
from travelbot.feedback.voters import MAX_NAME_CHARS, check_display_name, flag_reason, flag_words, identify


def test_signed_in_user_wins_over_browser_and_session() -> None:
    voter = identify("a" * 16, "Ana", username="ana-hf", session="s1")
    assert voter.id == "hf:ana-hf" and voter.name == "Ana" and voter.signed_in


def test_browser_id_then_session() -> None:
    assert identify("0123456789abcdef", None, session="s1").id == "browser:0123456789abcdef"
    assert identify("", "  Bo  ", session="s1").id == "session:s1"
    assert identify("bad id with spaces", None, session="s1").id == "session:s1"
    assert identify(None, "Bo", session="s1").name == "Bo"


def test_no_identity_at_all_is_a_sentence() -> None:
    with pytest.raises(InvalidInputError, match="reload the page"):
        identify(None, None)


def test_spaces_with_sign_in_require_it() -> None:
    settings = replace(get_settings(), oauth_enabled=True)
    with pytest.raises(InvalidInputError, match="Sign in with Hugging Face"):
        identify("0123456789abcdef", None, session="s1", settings=settings)
    assert identify(None, None, username="x", settings=settings).id == "hf:x"


def test_display_names_are_cleaned_and_limited() -> None:
    assert check_display_name("  Zoë\x00\n ") == "Zoë"
    assert check_display_name("   ") is None
    with pytest.raises(InvalidInputError, match=str(MAX_NAME_CHARS)):
        check_display_name("x" * (MAX_NAME_CHARS + 1))


def test_flag_words_match_whole_names_case_insensitively() -> None:
    words = flag_words(["smollm2-qlora"], replace(get_settings(), flag_words=None))
    assert "openai" in words and "smollm2-qlora" in words
    assert flag_reason(["I was trained by OpenAI."], words) == "an answer names 'openai'"
    assert flag_reason(["Take the llama trek"], ["llama"]) == "an answer names 'llama'"
    assert flag_reason(["Visit Claudette's café", "A gptx tool"], ["claude", "gpt"]) is None
    assert flag_reason(["I am smollm2-qlora"], words) is not None
    assert flag_words([], replace(get_settings(), flag_words=" foo, ,Bar ")) == ["bar", "foo"]
