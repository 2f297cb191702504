"""Tests for travelbot/evaluation/answers.py: golden answers with the embedded model, cached and resumable."""

from __future__ import annotations

from dataclasses import replace

import pytest

from travelbot.data.golden import golden_path, load_golden
from travelbot.evaluation.answers import answer_key, golden_answers
from travelbot.store import Store

SETTINGS = {"max_new_tokens": 8}


@pytest.fixture(scope="module")
def questions():
    return load_golden(golden_path(), split="dev")[0][:3]


def test_answers_are_generated_once_and_then_cached(store: Store, registry, questions) -> None:
    variants = [registry.variant("smollm2-135m"), registry.variant("smollm2-raft")]
    seen: list[tuple[int, int, str]] = []
    first = golden_answers(variants, questions, store, settings=SETTINGS, batch_size=2,
                           progress=lambda *p: seen.append(p))
    assert [(a.variant, a.question_id) for a in first] == [(v.name, q.id) for v in variants for q in questions]
    assert all(a.answer.strip() and a.id > 0 and not a.cached for a in first)
    assert all(0 < a.completion_tokens <= 8 and a.seconds > 0 and a.batch_size in (1, 2) for a in first)
    raft = [a for a in first if a.variant == "smollm2-raft"]
    assert all(len(a.contexts) == variants[1].documents for a in raft)  # the shape the RAFT variant trained on
    assert all(not a.contexts for a in first if a not in raft)
    assert all(a.golden == q.reference_answer for a, q in zip(first, questions * 2, strict=True))
    assert seen[-1][0] == seen[-1][1] == 6

    again = golden_answers(variants, questions, store, settings=SETTINGS, batch_size=2)
    assert all(a.cached for a in again) and [a.id for a in again] == [a.id for a in first]
    assert store.count("eval_answers") == 6

    changed = golden_answers(variants[:1], questions[:1], store, settings={"max_new_tokens": 9})
    assert not changed[0].cached and store.count("eval_answers") == 7


def test_an_interrupted_run_resumes_where_it_stopped(store: Store, registry, questions) -> None:
    variant = registry.variant("smollm2-135m-precise")
    calls = iter([False, True])  # answer one batch, then stop
    partial = golden_answers([variant], questions, store, settings=SETTINGS, batch_size=1,
                             should_stop=lambda: next(calls, True))
    assert len(partial) == 1 and store.count("eval_answers") == 1
    resumed = golden_answers([variant], questions, store, settings=SETTINGS, batch_size=1)
    assert [a.cached for a in resumed] == [True, False, False] and store.count("eval_answers") == 3


def test_the_key_follows_the_adapter_question_and_settings(registry, questions) -> None:
    base, raft = registry.variant("smollm2-135m"), registry.variant("smollm2-raft")
    key = answer_key(base, questions[0], SETTINGS)
    assert key == answer_key(base, questions[0], dict(SETTINGS))
    assert key != answer_key(raft, questions[0], SETTINGS)
    assert key != answer_key(base, questions[1], SETTINGS)
    assert key != answer_key(base, questions[0], {"max_new_tokens": 16})
    assert key != answer_key(base, replace(questions[0], question=questions[0].question + "?"), SETTINGS)
    assert answer_key(raft, questions[0], SETTINGS) != answer_key(replace(raft, documents=raft.documents + 1),
                                                                  questions[0], SETTINGS)  # what it reads
    assert answer_key(raft, questions[0], SETTINGS) != answer_key(
        replace(raft, passage_sentences=raft.passage_sentences + 1), questions[0], SETTINGS)


def test_the_key_follows_the_back_end_and_the_weights(registry, questions) -> None:
    from travelbot.config import get_settings, set_settings
    from travelbot.models import backend_kind

    base = registry.variant("smollm2-135m")
    key = answer_key(base, questions[0], SETTINGS)
    previous = get_settings()
    other = "transformers" if backend_kind(base.base) == "llamacpp" else "llamacpp"
    try:
        set_settings(replace(previous, backend=other))
        assert answer_key(base, questions[0], SETTINGS) != key  # another back-end, other arithmetic
    finally:
        set_settings(previous)
    assert answer_key(base, questions[0], SETTINGS) == key
    moved = replace(base, base=replace(base.base, gguf_file=None, gguf_package=None, model_id="someone/other-135m"))
    assert answer_key(moved, questions[0], SETTINGS) != key  # other weights under the same names


def test_answers_say_their_back_end_and_each_batch_holds_one_variant(store: Store, registry, questions, monkeypatch) -> None:
    from travelbot.models import backend_for, backend_kind

    variants = [registry.variant("smollm2-135m"), registry.variant("smollm2-qlora")]
    backend = backend_for(variants[0].base)
    calls: list[tuple[str, int]] = []
    original = type(backend).complete_batch

    def recorded(self, variant, conversations, settings):
        calls.append((variant.name, len(conversations)))
        return original(self, variant, conversations, settings)

    monkeypatch.setattr(type(backend), "complete_batch", recorded)
    answers = golden_answers(variants, questions, store, settings=SETTINGS, batch_size=3)
    assert calls == [("smollm2-135m", 3), ("smollm2-qlora", 3)]  # one adapter per batch
    assert {a.settings["backend"] for a in answers} == {backend_kind(variants[0].base)}


def test_each_variant_keeps_its_own_length_unless_the_run_sets_one(registry) -> None:
    from travelbot.chat import reply_length
    from travelbot.evaluation.answers import DEFAULT_SETTINGS

    base, raft = registry.variant("smollm2-135m"), registry.variant("smollm2-raft")
    assert "max_new_tokens" not in DEFAULT_SETTINGS  # a run without a length gives each variant its own
    assert raft.settings.max_new_tokens > base.settings.max_new_tokens  # room for the quotes first
    assert raft.settings.updated(**DEFAULT_SETTINGS).max_new_tokens == raft.settings.max_new_tokens
    # Chat, Side by side and the Arena: a length asked for is kept; none (0, the server's default) is each its own.
    assert reply_length(raft, 0) == raft.settings.max_new_tokens and reply_length(base, None) == 256
    assert reply_length(raft, 128) == reply_length(base, 128) == 128
