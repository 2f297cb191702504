"""Chat turns: validation, streaming through a variant, and the turn logged in the store."""

from __future__ import annotations

import pytest

from travelbot.chat import check_history, check_message, reply
from travelbot.config import Settings
from travelbot.errors import InvalidInputError, UnknownVariantError


def test_turns_are_logged_with_prompt_settings_and_timings(base_variant, store):
    first = reply(base_variant, "  Where should I stay in Lisbon?  ", store=store, temperature=0.0, max_new_tokens=20)
    assert first.result().strip()
    second = reply(
        "smollm2-135m",
        "And how do I get there from the airport?",
        [{"role": "user", "content": "Where should I stay in Lisbon?"}, {"role": "assistant", "content": first.text}],
        conversation_id=first.conversation_id,
        store=store,
        temperature=0.0,
        max_new_tokens=20,
    )
    second.result()
    turns = store.turns(first.conversation_id)
    assert [t.turn_index for t in turns] == [0, 1]
    logged = turns[1]
    assert logged.variant == "smollm2-135m" and logged.base == "smollm2-135m" and logged.method == "base"
    assert logged.answer == second.text
    assert [m["role"] for m in logged.messages] == ["system", "user", "assistant", "user"]
    assert logged.messages[1]["content"] == "Where should I stay in Lisbon?"
    assert logged.settings["temperature"] == 0.0 and logged.settings["max_new_tokens"] == 20
    assert logged.completion_tokens == second.stats.completion_tokens > 0
    assert logged.prompt_tokens > 0 and logged.seconds > 0 and logged.error is None
    assert turns[0].messages[1]["content"] == "Where should I stay in Lisbon?"  # stripped


def test_a_stopped_stream_is_logged_as_cancelled(base_variant, store):
    answer = reply(base_variant, "Tell me about Peru.", store=store, max_new_tokens=64)
    stream = iter(answer)
    next(stream)
    stream.close()
    (turn,) = store.turns(answer.conversation_id)
    assert turn.finish_reason == "cancelled" and turn.answer == answer.text


def test_custom_system_prompt_replaces_the_variants(base_variant, store):
    answer = reply(base_variant, "Hi", system_prompt="Answer in French.", store=store, max_new_tokens=4)
    assert answer.generation.messages[0] == {"role": "system", "content": "Answer in French."}
    answer.result()


@pytest.mark.parametrize("text", ["", "   \n\t ", None])
def test_empty_message_is_a_readable_error(text):
    with pytest.raises(InvalidInputError, match="message is empty"):
        check_message(text)


def test_over_long_message_is_a_readable_error():
    settings = Settings(max_message_chars=50)
    assert check_message("x" * 50, settings) == "x" * 50
    with pytest.raises(InvalidInputError, match="51 characters long; the limit is 50"):
        check_message("x" * 51, settings)


def test_bad_history_and_unknown_variant_are_refused(store):
    with pytest.raises(InvalidInputError):
        check_history([{"role": "system", "content": "sneaky"}])
    with pytest.raises(UnknownVariantError):
        reply("no-such-variant", "hello", store=store)
    assert store.count("chat_turns") == 0
