"""The llama.cpp back-end and the GGUF export of LoRA adapters, on the real embedded model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tests.conftest import TRAVEL_QUESTION
from travelbot.config import Settings
from travelbot.errors import TravelbotError
from travelbot.models import GenerationSettings, GenerationStats, backend_kind
from travelbot.models.gguf_export import base_layout, export_lora, rope_permute
from travelbot.models.llamacpp_backend import Sampler, available
from travelbot.models.loading import gguf_location

needs_llama_cpp = pytest.mark.skipif(not available(), reason="llama-cpp-python is not installed")
GREEDY = GenerationSettings(temperature=0.0, max_new_tokens=16, repetition_penalty=1.1)


@pytest.fixture(scope="session")
def fast(base_variant):
    if not available():
        pytest.skip("llama-cpp-python is not installed")
    from travelbot.models import backend_for

    return backend_for(base_variant.base, kind="llamacpp")


def _messages(variant, messages=TRAVEL_QUESTION):
    return [{"role": "system", "content": variant.effective_system_prompt}, *messages]


# -- export ---------------------------------------------------------------------------------------
def test_exported_adapter_has_the_names_shapes_and_metadata_llama_cpp_reads(tmp_path, base_variant, adapter_dir):
    from gguf import GGUFReader

    out = export_lora(adapter_dir, gguf_location(base_variant.base), tmp_path / "lora.gguf")
    reader = GGUFReader(out)
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["general.architecture"].contents() == "llama"
    # r=8, lora_alpha=16 in the fixture; stored with the rank padded to 16 and alpha scaled to keep alpha / r
    assert reader.fields["adapter.lora.alpha"].contents() == 32.0
    tensors = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    # F32 even though the fixture adapter is stored in F16: llama.cpp rounds activations to the adapter's type
    assert {t.tensor_type.name for t in reader.tensors} == {"F32"}
    modules = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
    assert set(tensors) == {f"blk.{i}.{m}.weight.lora_{s}" for i in range(30) for m in modules for s in "ab"}
    base = base_layout(gguf_location(base_variant.base)).shapes
    for module in modules:  # ggml order: lora_a is [in, r], lora_b is [r, out]
        out_features, in_features = base[f"blk.0.{module}.weight"]
        assert tensors[f"blk.0.{module}.weight.lora_a"] == (in_features, 16)
        assert tensors[f"blk.0.{module}.weight.lora_b"] == (16, out_features)


def test_base_layout_reads_the_same_header_as_the_gguf_library(base_variant, tmp_path):
    from gguf import GGUFReader

    path = gguf_location(base_variant.base)
    layout = base_layout(path)
    reader = GGUFReader(path)
    assert layout.architecture == reader.fields["general.architecture"].contents() == "llama"
    assert layout.head_count == reader.fields["llama.attention.head_count"].contents() == 9
    assert layout.head_count_kv == reader.fields["llama.attention.head_count_kv"].contents() == 3
    assert layout.shapes == {t.name: (int(t.shape[1]), int(t.shape[0])) for t in reader.tensors if len(t.shape) == 2}
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04" + bytes(64))
    with pytest.raises(TravelbotError, match="not a GGUF file"):
        base_layout(not_gguf)


def test_q_and_k_rows_are_reordered_as_in_the_base_file(base_variant, backend):
    """The base GGUF holds q/k rows in llama.cpp's rope order; LoRA B is reordered with the same function."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(gguf_location(base_variant.base))
    layout = base_layout(gguf_location(base_variant.base))
    stored = {t.name: t for t in reader.tensors}
    layer = backend.model.model.layers[3].self_attn
    for name, weight, heads in (("attn_q", layer.q_proj.weight, layout.head_count),
                                ("attn_k", layer.k_proj.weight, layout.head_count_kv)):
        tensor = stored[f"blk.3.{name}.weight"]
        in_gguf = dequantize(tensor.data, tensor.tensor_type).reshape(weight.shape)
        hf = weight.detach().float().numpy()
        assert np.allclose(rope_permute(hf, heads), in_gguf, atol=1e-5)
        assert not np.allclose(hf, in_gguf, atol=1e-3)


def _broken_copy(adapter_dir, tmp_path, **config_changes):
    target = tmp_path / "broken"
    shutil.copytree(adapter_dir, target)
    config = json.loads((target / "adapter_config.json").read_text())
    config.update(config_changes)
    (target / "adapter_config.json").write_text(json.dumps(config))
    return target


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"use_dora": True}, "DoRA"),
        ({"rank_pattern": {"q_proj": 4}}, "rank_pattern"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"bias": "lora_only"}, "biases"),
        ({"peft_type": "IA3"}, "serves LoRA adapters"),
    ],
)
def test_adapters_llama_cpp_cannot_apply_are_refused_with_a_reason(tmp_path, base_variant, adapter_dir, change, message):
    broken = _broken_copy(adapter_dir, tmp_path, **change)
    with pytest.raises(TravelbotError, match=message):
        export_lora(broken, gguf_location(base_variant.base), tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()


def test_embedding_lora_and_foreign_adapters_are_refused(tmp_path, base_variant, adapter_dir, foreign_adapter_dir):
    from safetensors.numpy import load_file, save_file

    gguf = gguf_location(base_variant.base)
    broken = _broken_copy(adapter_dir, tmp_path)
    tensors = load_file(broken / "adapter_model.safetensors")
    tensors["base_model.model.model.embed_tokens.lora_embedding_A"] = np.zeros((8, 49152), dtype=np.float32)
    save_file(tensors, broken / "adapter_model.safetensors")
    with pytest.raises(TravelbotError, match="embed_tokens.*cannot adapt"):
        export_lora(broken, gguf, tmp_path / "out.gguf")
    with pytest.raises(TravelbotError, match="another base"):
        export_lora(foreign_adapter_dir, gguf, tmp_path / "out.gguf")


# -- sampling -------------------------------------------------------------------------------------
def test_sampling_follows_transformers_processors():
    import torch

    from travelbot.models.transformers_backend import _processors

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, 1000).astype(np.float32)
    seen = [3, 17, 17, 400, int(logits.argmax())]
    for settings in (GenerationSettings(temperature=0.7, top_k=50, top_p=0.9, repetition_penalty=1.3),
                     GenerationSettings(temperature=1.3, top_k=0, top_p=0.5, repetition_penalty=0.8),
                     GenerationSettings(temperature=2.0, top_k=0, top_p=0.999, repetition_penalty=1.0),
                     GenerationSettings(temperature=1.0, top_k=0, top_p=1.0),
                     GenerationSettings(temperature=1.0, top_k=700, top_p=0.95),
                     GenerationSettings(temperature=0.0, repetition_penalty=1.5)):
        hf = _processors(settings)(torch.tensor([seen]), torch.tensor(logits)[None])[0]
        sampler = Sampler(settings, logits.size, seen)
        if settings.temperature == 0:
            assert sampler(logits) == int(hf.argmax())
            continue
        ids, probs = sampler.distribution(sampler.penalised(logits))
        expected = torch.softmax(hf, -1).numpy()
        assert set(ids) == set(np.flatnonzero(expected > 0))
        assert np.allclose(probs, expected[ids], atol=1e-5)
        assert sampler(logits) in set(ids)


# -- the back-end ---------------------------------------------------------------------------------
def test_prompt_ids_match_the_transformers_chat_template(fast, backend, base_variant):
    conversation = _messages(base_variant, [
        {"role": "user", "content": "Is Lisbon walkable? ¿Y Sevilla?"},
        {"role": "assistant", "content": "Mostly, but it is hilly — wear good shoes."},
        {"role": "user", "content": "What about Porto in 2025?\n\nThanks 🙂"},
    ])
    assert fast.prompt_ids(conversation) == backend.prompt_ids(conversation)[0].tolist()


@needs_llama_cpp
def test_auto_picks_llama_cpp_on_the_cpu_and_the_override_picks_transformers(base_variant, registry):
    assert backend_kind(base_variant.base, Settings(backend="auto", device="cpu")) == "llamacpp"
    assert backend_kind(base_variant.base, Settings(backend="transformers")) == "transformers"
    endpoint = next((b for b in registry.bases().values() if b.source == "openai"), None)
    if endpoint is not None:
        assert backend_kind(endpoint, Settings(backend="llamacpp")) == "openai"
    with pytest.raises(TravelbotError, match="TRAVELBOT_BACKEND"):
        Settings.from_env({"TRAVELBOT_BACKEND": "vllm"})


def test_adapter_moves_logits_the_same_way_on_both_back_ends(fast, backend, registry, base_variant, adapter_dir):
    import torch
    from transformers import DynamicCache

    adapted = registry.variant("test-lora")
    messages = _messages(base_variant)

    def torch_logits(variant):
        ids, adapter = backend.prompt_ids(messages), backend._adapter_name(variant)
        with backend.lock, torch.inference_mode():
            return backend._forward(adapter, ids, DynamicCache())[0].numpy()

    fast_shift = fast.next_token_logits(adapted, messages) - fast.next_token_logits(base_variant, messages)
    torch_shift = torch_logits(adapted) - torch_logits(base_variant)
    assert np.abs(torch_shift).max() > 10  # the (strong, random) adapter really changes the output
    assert np.corrcoef(fast_shift, torch_shift)[0, 1] > 0.98  # about 0.6 if B of q/k were not reordered


def test_greedy_answers_match_transformers_token_for_token(fast, backend, registry, base_variant, adapter_dir):
    for variant in (base_variant, registry.variant("smollm2-qlora")):
        messages = _messages(variant)
        ours = list(fast.tokens(variant, messages, GREEDY, GenerationStats()))
        theirs = list(backend.tokens(variant, messages, GREEDY, GenerationStats()))
        assert ours[:8] == theirs[:8], variant.name


def test_stream_text_matches_the_tokens_and_stats_are_filled(fast, base_variant):
    stats = GenerationStats()
    text = "".join(fast.stream(base_variant, _messages(base_variant), GREEDY, stats))
    ids = list(fast.tokens(base_variant, _messages(base_variant), GREEDY, GenerationStats()))
    assert text == b"".join(fast.piece_bytes(t) for t in ids).decode()
    assert stats.prompt_tokens == len(fast.prompt_ids(_messages(base_variant)))
    assert stats.completion_tokens == len(ids) and stats.finish_reason in {"stop", "length"}


def test_greedy_answer_does_not_depend_on_earlier_requests(fast, registry, base_variant):
    first = list(fast.tokens(base_variant, _messages(base_variant), GREEDY, GenerationStats()))
    longer = _messages(base_variant, [*TRAVEL_QUESTION, {"role": "assistant", "content": "Spring."},
                                      {"role": "user", "content": "Why?"}])
    list(fast.tokens(base_variant, longer, GREEDY, GenerationStats()))  # same prefix, then more
    list(fast.tokens(registry.variant("smollm2-qlora"), _messages(base_variant), GREEDY, GenerationStats()))
    assert list(fast.tokens(base_variant, _messages(base_variant), GREEDY, GenerationStats())) == first


def test_the_thread_pool_changes_speed_not_logits(fast, registry, base_variant, adapter_dir):
    """Contexts on the base's persistent thread pool compute exactly what llama.cpp's default threads do."""
    from travelbot.models.llamacpp_backend import LlamaContext

    assert fast.threadpool is not None  # the installed llama.cpp exports the pool functions
    prompt = fast.prompt_ids(_messages(base_variant))
    for variant in (base_variant, registry.variant("test-lora")):
        adapter, logits = fast._adapter(variant), []  # loading an adapter takes the lock itself
        for pool in (fast.threadpool, None):
            context = LlamaContext(fast.model, 1024, fast.threads, pool)
            try:
                with fast.lock:
                    context.start(adapter)
                    context.decode(prompt)
                    context.decode([int(context.logits(fast.n_vocab).argmax())])
                    logits.append(context.logits(fast.n_vocab).copy())
            finally:
                context.close()
        assert np.array_equal(logits[0], logits[1]), variant.name


def test_seeded_sampling_repeats(fast, base_variant):
    sampled = GenerationSettings(temperature=1.0, max_new_tokens=16, seed=7)
    runs = [list(fast.tokens(base_variant, _messages(base_variant), sampled, GenerationStats())) for _ in "ab"]
    assert runs[0] == runs[1]


def test_concurrent_streams_of_different_variants_each_get_their_solo_answer(fast, registry, base_variant, adapter_dir):
    variants = [base_variant, registry.variant("test-lora"), registry.variant("smollm2-qlora")]
    solo = {v.name: "".join(fast.stream(v, _messages(v), GREEDY, GenerationStats())) for v in variants}
    assert len(set(solo.values())) == 3
    results: dict[str, str] = {}
    barrier = threading.Barrier(6)

    def run(variant, key):
        stream = fast.stream(variant, _messages(variant), GREEDY, GenerationStats())
        barrier.wait()
        results[key] = "".join(stream)

    threads = [threading.Thread(target=run, args=(v, f"{v.name}#{i}")) for i in range(2) for v in variants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 6
    for key, text in results.items():
        assert text == solo[key.split("#")[0]], key


@pytest.mark.slow
def test_without_llama_cpp_chat_falls_back_to_transformers(home):
    script = """
import sys
sys.modules["llama_cpp"] = None  # as if llama-cpp-python were not installed
from travelbot.config import Settings
from travelbot.errors import TravelbotError
from travelbot.models import backend_for, backend_kind, generate, get_registry
variant = get_registry().variant("smollm2-135m")
assert backend_kind(variant.base) == "transformers"
assert type(backend_for(variant.base)).__name__ == "TransformersBackend"
print(generate(variant, [{"role": "user", "content": "Hi"}], max_new_tokens=4, temperature=0).result())
try:
    backend_kind(variant.base, Settings(backend="llamacpp"))
except TravelbotError as exc:
    print("refused:", exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "refused: TRAVELBOT_BACKEND=llamacpp needs llama-cpp-python" in done.stdout



# -- several answers in one batch ------------------------------------------------------------------
QUESTIONS = ("What should I pack for Lisbon in May?", "Is the Japan Rail Pass worth it for ten days?",
             "How do I get from Rome's airport to the centre?", "Any safety tips for Mexico City?")


def test_a_batch_starts_each_answer_as_one_at_a_time(fast, base_variant, registry):
    """Each prompt is read alone, as a single answer reads it, so each first token is the single answer's.
    Later steps multiply several rows at once, where llama.cpp's kernels may sum in another order and tip
    a close call: ``travelbot bench eval`` counts how often a batched greedy answer parts from the single
    one, and where."""
    from travelbot.models.generation import one_by_one

    for variant in (base_variant, registry.variant("smollm2-qlora")):
        conversations = [_messages(variant, [{"role": "user", "content": q}]) for q in QUESTIONS]
        settings = GenerationSettings(temperature=0.0, max_new_tokens=6, repetition_penalty=1.1)
        single = one_by_one(fast, variant, conversations, settings)
        batched = fast.complete_batch(variant, conversations, settings)
        assert [fast.tokenize(t)[:1] for t, _ in batched] == [fast.tokenize(t)[:1] for t, _ in single], variant.name
        for (_, one), (_, many) in zip(single, batched, strict=True):
            assert many.prompt_tokens == one.prompt_tokens and many.completion_tokens == 6
            assert many.finish_reason == "length" and many.first_token_seconds > 0 and many.seconds > 0


def test_a_batch_stops_each_answer_on_its_own(fast, base_variant):
    conversations = [_messages(base_variant, [{"role": "user", "content": "Say just: yes."}]),
                     _messages(base_variant, [{"role": "user", "content": QUESTIONS[0]}])]
    settings = GenerationSettings(temperature=0.0, max_new_tokens=48, repetition_penalty=1.1)
    (short, first), (long, second) = fast.complete_batch(base_variant, conversations, settings)
    assert first.finish_reason == "stop" and first.completion_tokens < 48 and short
    assert second.finish_reason == "length" and second.completion_tokens == 48 and len(long) > len(short)


def test_more_conversations_than_sequences_refill_the_batch(fast, base_variant):
    from travelbot.models.generation import one_by_one
    from travelbot.models.llamacpp_backend import MAX_SEQUENCES

    questions = [f"{q} (trip {i})" for i in range(3) for q in QUESTIONS][:MAX_SEQUENCES + 3]
    conversations = [_messages(base_variant, [{"role": "user", "content": q}]) for q in questions]
    settings = GenerationSettings(temperature=0.0, max_new_tokens=3, repetition_penalty=1.1)
    start = time.perf_counter()
    batched = fast.complete_batch(base_variant, conversations, settings)
    wall = time.perf_counter() - start
    single = one_by_one(fast, base_variant, conversations, settings)
    assert len(batched) == len(conversations)
    assert [fast.tokenize(t)[:1] for t, _ in batched] == [fast.tokenize(t)[:1] for t, _ in single]
    assert all(s.completion_tokens == 3 and s.first_token_seconds > 0 and s.seconds > 0 for _, s in batched)
    # each answer's seconds are its share of the batch's time: together they make (nearly all of) the batch's wall
    # time, not the sum of overlapping latencies (several times the wall time with 8 answers in flight)
    assert 0.75 * wall <= sum(s.seconds for _, s in batched) <= wall
