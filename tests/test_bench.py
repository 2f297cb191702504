"""Benchmark figures on the real embedded model, at small sizes (figures are checked for shape, not speed)."""

from __future__ import annotations

import json

import pytest

from travelbot.models.llamacpp_backend import available, cpu_threads

pytestmark = pytest.mark.skipif(not available(), reason="llama-cpp-python is not installed")


def test_llama_cpp_reference_decodes_the_bare_base(base_variant):
    from travelbot.bench import llamacpp_reference

    reference = llamacpp_reference(base_variant, max_new_tokens=8, threads=cpu_threads())
    assert reference["decode_tokens_per_s"] > 0


def test_same_answers_compares_the_chat_back_end_with_transformers(base_variant):
    from travelbot.bench import same_answers

    figures = same_answers([base_variant], questions=2, tokens=8)
    (row,) = figures["variants"]
    assert row["variant"] == base_variant.name and row["questions"] == 2
    assert 0 <= row["identical_token_share"] <= 1 and 0 <= row["first_token_agreement"] <= 1
    assert 0 <= row["identical_answers"] <= 2 and 0 <= row["mean_first_difference"] <= 8


@pytest.mark.slow
def test_bench_chat_reports_every_variant_against_the_reference(home):
    from travelbot.bench import bench_chat

    figures = bench_chat(max_new_tokens=8, min_adapters=1)
    assert figures["backend"] == "LlamaCppBackend" and figures["persistent_threadpool"] is True
    assert isinstance(figures["llama_cpp_openmp"], bool)
    methods = {row["method"] for row in figures["variants"]}
    assert {"base", "qlora", "raft"} <= methods
    for row in figures["variants"]:
        assert row["decode_vs_reference"] > 0 and row["ttft_vs_reference_prompt_read"] > 0
        assert row["ttft_prompt_tokens"] > 200
    assert figures["memory_ratio"] >= 1.0 and figures["synthetic_adapters"] == 0
    assert all(r["prompt_tokens"] > 0 and r["retrieval_s"] >= 0 for r in figures["retrieval_ttft"])
    from travelbot.bench import chat_figures_path

    saved = json.loads(chat_figures_path().read_text(encoding="utf-8"))  # the verdict's serving memory
    assert saved["rss_mb"] == figures["rss_mb"] and len(saved["variants"]) == len(figures["variants"])
