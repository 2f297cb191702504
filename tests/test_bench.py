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


def test_prefix_reuse_compares_a_split_prompt_read_with_a_whole_one(registry):
    from travelbot.bench import prefix_reuse

    figures = prefix_reuse([registry.variant("smollm2-raft")], questions=3)
    (row,) = figures["variants"]
    assert row["questions"] == 3 and row["whole_read_twice_difference"] == 0.0  # whole reads repeat exactly
    assert 40 <= row["shared_prefix_tokens"] < row["prompt_tokens"] / 3  # the system prompt, not a question
    assert row["tokens_saved"] == 2 * row["shared_prefix_tokens"]
    assert 0 <= row["same_first_token"] <= 3 and row["largest_logit_difference"] >= 0


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


@pytest.mark.slow
def test_bench_eval_times_a_fresh_run_and_compares_batched_with_single_answers(home):
    from click.testing import CliRunner

    from travelbot.cli import main

    result = CliRunner().invoke(main, ["bench", "eval", "--limit", "2", "--compare", "1", "--max-new-tokens", "8",
                                       "--batch-size", "2", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output[result.output.index("{"):])
    variants = figures["variants"]
    assert figures["answers"] == 2 * len(variants) and "smollm2-raft" in variants
    assert 0 < figures["completion_tokens"] <= 8 * figures["answers"] and figures["wall_s"] > 0
    assert figures["vs_reference"] == round(figures["generation_tokens_per_s"]
                                            / figures["reference"]["decode_tokens_per_s"], 3)
    tokens = figures["prompt_tokens"] + figures["completion_tokens"]
    assert figures["floor_s"] == pytest.approx(tokens / figures["reference_prompt_read_tokens_per_s"], rel=0.01, abs=0.1)
    assert 0 < figures["ceiling_vs_reference"] and figures["floor_s"] > 0
    assert set(figures["batched_equals_single"]) == set(variants)
    assert all(s["answers"] == 1 and 0 <= s["identical"] <= 1 for s in figures["batched_equals_single"].values())
