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


def test_a_raft_answer_streams_only_its_final_answer(store):
    from travelbot.data.raft import ANSWER

    answer = reply("smollm2-raft", "Which neighbourhoods are good to stay in Mexico City?", store=store,
                   temperature=0.0, max_new_tokens=48)
    shown_while_streaming = []
    for _ in answer:
        shown_while_streaming.append((answer.text, answer.streamed_answer))
    assert any(text.strip() for text, _ in shown_while_streaming)  # the model did write reasoning or an answer
    for text, shown in shown_while_streaming:
        if ANSWER not in text:
            assert shown == ""  # reasoning, quotes and passage titles stay hidden until the final answer
        else:
            assert shown == text.rpartition(ANSWER)[2].strip()
    assert answer.streamed_answer == answer.answer  # once done, what every face shows


def test_limits_on_what_a_visitor_may_send():
    from travelbot.chat import check_system_prompt
    from travelbot.limits import check_rate, generation_slot

    assert check_message(" Lisbon\u202e\u2066 at night?\x00 ") == "Lisbon at night?"
    assert check_message("line one\r\nline two") == "line one\nline two"
    assert check_system_prompt("  ") is None
    with pytest.raises(InvalidInputError, match="2,001 characters long; the limit is 2,000"):
        check_system_prompt("x" * 2001, Settings(max_system_prompt_chars=2000))
    check_rate("address:127.0.0.1", Settings(requests_per_minute=1), now=0.0)  # loopback: not limited
    check_rate("address:127.0.0.1", Settings(requests_per_minute=1), now=0.0)
    settings = Settings(requests_per_minute=2, host="0.0.0.0")
    check_rate("address:10.0.0.9", settings, now=1000.0)
    check_rate("address:10.0.0.9", settings, now=1010.0)
    with pytest.raises(InvalidInputError, match="wait 41 seconds"):
        check_rate("address:10.0.0.9", settings, now=1020.0)
    check_rate("address:10.0.0.8", settings, now=1020.0)  # another visitor
    check_rate("address:10.0.0.9", settings, now=1061.0)  # a minute after the first
    one = Settings(max_generations=1)
    with generation_slot(one), pytest.raises(InvalidInputError, match="already answering 1 questions"):
        with generation_slot(one, wait=0.05):
            pass
    with generation_slot(one):  # released again
        pass
