"""The one generation interface on the real embedded model."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import TRAVEL_QUESTION
from travelbot.errors import InvalidInputError
from travelbot.models import GenerationSettings, generate

GREEDY = {"temperature": 0.0, "max_new_tokens": 24}


def test_travel_question_gets_a_streamed_non_empty_answer(base_variant):
    generation = generate(base_variant, TRAVEL_QUESTION, max_new_tokens=40)
    chunks = list(generation)
    assert len(chunks) > 1, "the answer should arrive in several chunks"
    assert "".join(chunks) == generation.text
    assert generation.text.strip()
    stats = generation.stats
    assert stats.prompt_tokens > 10
    assert 0 < stats.completion_tokens <= 40
    assert stats.finish_reason in {"stop", "length"}
    assert stats.first_token_seconds is not None and stats.seconds >= stats.first_token_seconds
    assert stats.tokens_per_second > 0


def test_system_prompt_of_the_variant_is_used(base_variant):
    generation = generate(base_variant, TRAVEL_QUESTION, **GREEDY)
    assert generation.messages[0] == {"role": "system", "content": base_variant.effective_system_prompt}
    assert "travel" in generation.messages[0]["content"].lower()


def test_greedy_is_repeatable_and_seeded_sampling_is_repeatable(base_variant):
    assert generate(base_variant, TRAVEL_QUESTION, **GREEDY).result() == generate(
        base_variant, TRAVEL_QUESTION, **GREEDY
    ).result()
    sampled = [generate(base_variant, TRAVEL_QUESTION, max_new_tokens=24, temperature=1.0, seed=7).result() for _ in "ab"]
    assert sampled[0] == sampled[1]


def test_lora_adapter_changes_output_and_leaves_the_base_unchanged(registry, base_variant, adapter_dir):
    adapted = registry.variant("test-lora")
    assert adapted.adapter == adapter_dir
    before = generate(base_variant, TRAVEL_QUESTION, **GREEDY).result()
    with_adapter = generate(adapted, TRAVEL_QUESTION, **GREEDY).result()
    after = generate(base_variant, TRAVEL_QUESTION, **GREEDY).result()
    assert with_adapter != before
    assert after == before


def test_concurrent_variants_each_match_their_solo_output(registry, base_variant, adapter_dir):
    adapted = registry.variant("test-lora")
    solo = {v.name: generate(v, TRAVEL_QUESTION, **GREEDY).result() for v in (base_variant, adapted)}
    results: dict[str, str] = {}
    barrier = threading.Barrier(4)

    def run(variant, key):
        generation = generate(variant, TRAVEL_QUESTION, **GREEDY)
        barrier.wait()
        results[key] = generation.result()

    threads = [
        threading.Thread(target=run, args=(variant, f"{variant.name}#{i}"))
        for i in range(2)
        for variant in (base_variant, adapted)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 4
    for key, text in results.items():
        assert text == solo[key.split("#")[0]], key


def test_variants_of_one_base_share_one_model(registry, base_variant, adapter_dir, backend):
    from travelbot.models import backend_for

    chat = backend_for(base_variant.base)
    assert backend_for(registry.variant("test-lora").base) is chat
    assert backend_for(registry.variant("smollm2-135m-precise").base) is chat
    assert backend_for(registry.variant("test-lora").base, kind="transformers") is backend


@pytest.mark.parametrize(
    "overrides",
    [{"max_new_tokens": 0}, {"temperature": -1}, {"top_p": 0}, {"repetition_penalty": 9}, {"nonsense": 1}],
)
def test_bad_generation_settings_are_refused(base_variant, overrides):
    with pytest.raises(InvalidInputError):
        generate(base_variant, TRAVEL_QUESTION, **overrides)


def test_bad_messages_are_refused(base_variant):
    with pytest.raises(InvalidInputError):
        generate(base_variant, [])
    with pytest.raises(InvalidInputError):
        generate(base_variant, [{"role": "robot", "content": "hi"}])


def test_settings_updated_keeps_other_fields():
    settings = GenerationSettings(temperature=0.2).updated(max_new_tokens=12)
    assert (settings.temperature, settings.max_new_tokens) == (0.2, 12)


def test_batched_generation_matches_one_by_one(registry, base_variant, adapter_dir):
    from travelbot.models import generate_batch

    questions = [[{"role": "user", "content": q}] for q in ("Is Lisbon hilly?", "What currency does Japan use?")]
    from travelbot.models import backend_kind

    for variant in (base_variant, registry.variant("test-lora")):
        batched = generate_batch(variant, questions, batch_size=2, temperature=0.0, max_new_tokens=12)
        single = [generate(variant, q, temperature=0.0, max_new_tokens=12).result().strip() for q in questions]
        if backend_kind(variant.base) == "llamacpp":  # the same first token; later ones may tip (test_llamacpp.py)
            assert [b.split()[:1] for b in batched] == [s.split()[:1] for s in single], variant.name
        else:
            assert batched == single, variant.name
