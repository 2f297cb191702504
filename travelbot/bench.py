"""``travelbot bench chat``: decode speed, time to first token and memory of every variant.

Figures, not pass/fail. The yardstick is llama.cpp itself: llama-cpp-python greedily decoding the bare
base GGUF with the same threads, measured in the same run, so ``decode_vs_reference`` shows what the
chat back-end (adapters, sampling, streaming) costs on top of it. Resident memory is reported for
the base alone and with all variants' adapters loaded, so their ratio shows what sharing one copy of
the weights saves. ``same_answers`` compares greedy answers of the chat back-end with the
transformers back-end token by token.
"""

from __future__ import annotations

import ctypes
import gc
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from travelbot.config import get_settings
from travelbot.models import GenerationSettings, GenerationStats, Variant, backend_for, generate, get_registry

# About 300 prompt tokens once the system prompt and chat template are added.
LONG_PROMPT = (
    "I am planning a two-week trip through Portugal and Spain in late May with my partner. We land in Lisbon, "
    "want to spend three or four days there, then take the train to Porto, cross into Galicia, and end in "
    "Madrid and Seville before flying home from Malaga. We like food markets, walking tours, small museums, "
    "live music and day trips to the coast, but we do not enjoy crowded nightlife or long bus rides. Our budget "
    "is moderate: mid-range hotels or apartments, one special dinner a week, and mostly public transport. "
    "We are both vegetarian, one of us has a mild knee problem so very steep hills all day are hard, and we "
    "would like at least two slow days with nothing planned. We have heard that trains between Portugal and "
    "Spain are limited, that Seville is very hot from June, and that some museums close on Mondays. Please "
    "suggest an order for the cities, how many nights in each, how to travel between them, which day trips "
    "are worth it, what to book in advance, and any etiquette or safety points we should know about."
)
DECODE_PROMPT = "Write a detailed day-by-day itinerary for one week in Japan, with transport tips for each day."
RAFT_QUESTION = "Is Lisbon safe for a solo traveller, and how do I get from the airport to the centre?"
SAME_ANSWER_TOKENS = 64


def _rss_mb() -> float:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # freed native buffers should not count
    except OSError:
        pass
    return psutil.Process().memory_info().rss / 2**20


def _messages(variant: Variant, text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": variant.effective_system_prompt}, {"role": "user", "content": text}]


def synthetic_adapters(variant: Variant, count: int, folder: Path, rank: int = 16) -> list[Variant]:
    """LoRA adapters with random non-zero weights on every linear layer, written straight to PEFT
    format; used only to measure what extra variants cost when fewer real ones exist."""
    import torch
    from peft import LoraConfig
    from safetensors.torch import save_file

    model = backend_for(variant.base, kind="transformers").model
    model = model.get_base_model() if hasattr(model, "get_base_model") else model
    linear = {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not name.endswith("lm_head") and ".lora_" not in name
        and not name.endswith("base_layer")
    }
    targets = sorted({name.rsplit(".", 1)[-1] for name in linear})
    made = []
    for index in range(count):
        path = folder / f"synthetic-{index}"
        LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets).save_pretrained(path)
        tensors = {}
        for name, module in linear.items():
            prefix = f"base_model.model.{name}"
            tensors[f"{prefix}.lora_A.weight"] = torch.randn(rank, module.in_features) * 0.01
            tensors[f"{prefix}.lora_B.weight"] = torch.randn(module.out_features, rank) * 0.01
        save_file(tensors, path / "adapter_model.safetensors")
        made.append(Variant(name=f"synthetic-{index}", base=variant.base, method="qlora", adapter=path))
    return made


def llamacpp_reference(variant: Variant, max_new_tokens: int, threads: int) -> dict[str, Any]:
    """llama-cpp-python on its own, default settings, on the bare base GGUF: greedy decode of DECODE_PROMPT
    (tokens/s after the first token) and the time to read LONG_PROMPT; best of two runs after a warm-up."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return {"error": "llama-cpp-python is not installed"}
    from travelbot.models.loading import gguf_location

    backend = backend_for(variant.base)
    decode_prompt, long_prompt = (backend.prompt_ids(_messages(variant, text)) for text in (DECODE_PROMPT, LONG_PROMPT))
    if hasattr(decode_prompt, "tolist"):  # tensors on transformers
        decode_prompt, long_prompt = decode_prompt[0].tolist(), long_prompt[0].tolist()
    llm = Llama(str(gguf_location(variant.base)), n_threads=threads, n_threads_batch=threads,
                n_ctx=max(len(decode_prompt) + max_new_tokens, len(long_prompt)) + 16, verbose=False)
    try:
        speeds, reads = [], []
        for _ in range(3):  # the first run warms caches and is not counted
            count, start = 0, 0.0
            for _token in llm.generate(decode_prompt, temp=0.0, repeat_penalty=1.0, reset=True):
                count += 1
                if count == 1:
                    start = time.perf_counter()
                if count == max_new_tokens:
                    break
            speeds.append((count - 1) / (time.perf_counter() - start))
            llm.reset()
            start = time.perf_counter()
            llm.eval(long_prompt)
            reads.append(time.perf_counter() - start)
    finally:
        llm.close()
    return {
        "what": "llama-cpp-python Llama.generate, default settings, bare base GGUF, greedy, same prompt and threads",
        "decode_tokens_per_s": round(max(speeds[1:]), 2),
        "prompt_read_s": round(min(reads[1:]), 4),
        "prompt_tokens": len(long_prompt),
    }


def _llama_cpp_build(backend) -> dict[str, Any]:
    """How the installed llama.cpp schedules its threads (both change the speed of LoRA variants most)."""
    from travelbot.models.llamacpp_threads import uses_openmp

    try:
        openmp = uses_openmp()
    except ImportError:
        return {}
    return {"llama_cpp_openmp": openmp, "persistent_threadpool": getattr(backend, "threadpool", None) is not None}


def _best_reference(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """The better of two reference runs (one before, one after the variants: the machine's noise is shared)."""
    if "error" in first:
        return first
    return {**first, "decode_tokens_per_s": max(first["decode_tokens_per_s"], second["decode_tokens_per_s"]),
            "prompt_read_s": min(first["prompt_read_s"], second["prompt_read_s"])}


def _ttft(variant: Variant, text: str) -> tuple[float, int]:
    generation = generate(variant, [{"role": "user", "content": text}], max_new_tokens=1, temperature=0)
    generation.result()
    return generation.stats.first_token_seconds or 0.0, generation.stats.prompt_tokens


def _measure(variant: Variant, max_new_tokens: int, repeats: int = 2) -> dict[str, Any]:
    ttft, decode = [], []
    for _ in range(repeats):
        seconds, prompt_tokens = _ttft(variant, LONG_PROMPT)
        ttft.append(seconds)
        greedy = generate(variant, [{"role": "user", "content": DECODE_PROMPT}], max_new_tokens=max_new_tokens,
                          temperature=0)
        greedy.result()
        decode.append(greedy.stats.tokens_per_second)
    sampled = generate(variant, [{"role": "user", "content": DECODE_PROMPT}], max_new_tokens=max_new_tokens,
                       temperature=0.7, seed=0)
    sampled.result()
    return {
        "variant": variant.name,
        "method": variant.method,
        "base": variant.base.name,
        "ttft_prompt_tokens": prompt_tokens,
        "ttft_s": round(min(ttft), 4),
        "decode_tokens": greedy.stats.completion_tokens,
        "decode_tokens_per_s": round(max(decode), 2),
        "sampled_tokens_per_s": round(sampled.stats.tokens_per_second, 2),
    }


def _retrieval_ttft(variant: Variant, repeats: int = 2) -> dict[str, Any]:
    """Time to first token of a RAFT variant counted from the question: retrieval, prompt, first token."""
    from travelbot.chat import retrieve_for

    retrieve_for(variant, RAFT_QUESTION)  # loads the embedding model and index once
    best: dict[str, Any] = {}
    for _ in range(repeats):
        start = time.perf_counter()
        _, content = retrieve_for(variant, RAFT_QUESTION)
        retrieved = time.perf_counter() - start
        generation = generate(variant, [{"role": "user", "content": content}], max_new_tokens=1, temperature=0)
        generation.result()
        total = time.perf_counter() - start
        if not best or total < best["ttft_with_retrieval_s"]:
            best = {"variant": variant.name, "question": RAFT_QUESTION, "prompt_tokens": generation.stats.prompt_tokens,
                    "retrieval_s": round(retrieved, 4), "ttft_with_retrieval_s": round(total, 4)}
    return best


def same_answers(variants: list[Variant], questions: int | None = None, tokens: int = SAME_ANSWER_TOKENS) -> dict[str, Any]:
    """Greedy answers of the chat back-end vs the transformers back-end to the golden dev questions (RAFT
    variants read their retrieved passages, as in chat): per variant, the share of identical tokens
    among the first ``tokens`` (position by position), how many answers are identical, where they
    first differ on average, and how often the first token agrees."""
    from travelbot.chat import retrieve_for
    from travelbot.data.golden import load_golden

    golden = load_golden(split="dev")[0][:questions]
    rows = []
    for variant in variants:
        fast, slow = backend_for(variant.base), backend_for(variant.base, kind="transformers")
        if fast is slow:
            return {"error": "the chat back-end is transformers; nothing to compare"}
        settings: GenerationSettings = variant.settings.updated(temperature=0.0, max_new_tokens=tokens)
        same = total = identical = first_agree = 0
        first_difference = []
        for item in golden:
            messages = _messages(variant, retrieve_for(variant, item.question)[1])
            a = list(fast.tokens(variant, messages, settings, GenerationStats()))
            b = list(slow.tokens(variant, messages, settings, GenerationStats()))
            same += sum(x == y for x, y in zip(a, b))
            total += max(len(a), len(b))
            identical += a == b
            first_agree += a[:1] == b[:1]
            first_difference.append(next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b))))
        rows.append({
            "variant": variant.name,
            "questions": len(golden),
            "identical_token_share": round(same / max(total, 1), 4),
            "identical_answers": identical,
            "mean_first_difference": round(sum(first_difference) / max(len(golden), 1), 1),
            "first_token_agreement": round(first_agree / max(len(golden), 1), 4),
        })
    return {"tokens": tokens, "variants": rows}


def _first_logits(backend, adapter, parts: list[list[int]]):
    """The next-token logits after reading ``parts`` one after another into a fresh llama.cpp context."""
    with backend.context(adapter, sum(map(len, parts)) + 1) as context, backend.lock:
        for part in parts:
            context.decode(part)
        return context.logits(backend.n_vocab).copy()


def prefix_reuse(variants: list[Variant], questions: int | None = None) -> dict[str, Any]:
    """Whether reading a conversation's shared beginning (system prompt, template) once and the rest after it
    would give the same first-token logits as reading the prompt whole, on the golden dev questions as each
    variant is asked them: per variant, the shared prefix, the prompt tokens it would save, the largest logit
    difference and how often the greedy first token stays the same. Whole reads twice are the control."""
    import os

    import numpy as np

    from travelbot.chat import retrieve_for
    from travelbot.data.golden import load_golden

    golden = load_golden(split="dev")[0][:questions]
    rows = []
    for variant in variants:
        backend = backend_for(variant.base)
        if not hasattr(backend, "context"):
            return {"error": "the chat back-end is not llama.cpp; nothing to compare"}
        adapter = backend._adapter(variant)
        prompts = [backend.prompt_ids(_messages(variant, retrieve_for(variant, q.question)[1])) for q in golden]
        shared = len(os.path.commonprefix(prompts))
        largest, same_first, control = 0.0, 0, 0.0
        for prompt in prompts:
            whole, again = (_first_logits(backend, adapter, [prompt]) for _ in range(2))
            split = _first_logits(backend, adapter, [prompt[:shared], prompt[shared:]])
            control = max(control, float(np.abs(whole - again).max()))
            largest = max(largest, float(np.abs(whole - split).max()))
            same_first += int(whole.argmax() == split.argmax())
        rows.append({"variant": variant.name, "questions": len(prompts), "shared_prefix_tokens": shared,
                     "prompt_tokens": sum(map(len, prompts)), "tokens_saved": shared * max(len(prompts) - 1, 0),
                     "largest_logit_difference": round(largest, 4), "same_first_token": same_first,
                     "whole_read_twice_difference": control})
    return {"variants": rows}


def bench_chat(
    max_new_tokens: int = 128, min_adapters: int = 4, synthetic_rank: int = 16, base: str | None = None,
    compare_answers: bool = False, questions: int | None = None,
) -> dict[str, Any]:
    """Measure every variant of one base (default: the first local one)."""
    from travelbot.models.llamacpp_backend import cpu_threads

    settings = get_settings()
    registry = get_registry(settings)
    variants = [v for v in registry.variants().values() if v.base.local]
    base_name = base or (variants[0].base.name if variants else None)
    variants = [v for v in variants if v.base.name == base_name]
    if not variants:
        return {"error": "no local variant to benchmark"}
    rss_start = _rss_mb()
    base_variant = next((v for v in variants if v.adapter is None), variants[0])
    backend = backend_for(base_variant.base)
    _measure(base_variant, 4, repeats=1)  # warm-up: first-call allocations belong to the base
    rss_base = _rss_mb()
    threads = cpu_threads()
    reference = llamacpp_reference(base_variant, max_new_tokens, threads)
    with tempfile.TemporaryDirectory() as tmp:
        adapters = [v for v in variants if v.adapter is not None]
        missing = max(0, min_adapters - len(adapters))
        extra = synthetic_adapters(base_variant, missing, Path(tmp), synthetic_rank) if missing else []
        rss_base = min(rss_base, _rss_mb())  # making synthetic adapters must not count as sharing
        rows = [_measure(v, max_new_tokens) for v in variants + extra]
        rss_all = _rss_mb()
    reference = _best_reference(reference, llamacpp_reference(base_variant, max_new_tokens, threads))
    for row in rows:
        speed, read = reference.get("decode_tokens_per_s"), reference.get("prompt_read_s")
        row["decode_vs_reference"] = round(row["decode_tokens_per_s"] / speed, 3) if speed else None
        # time to first token over llama.cpp's own time to read the same prompt (1.0 = no overhead)
        row["ttft_vs_reference_prompt_read"] = round(row["ttft_s"] / read, 3) if read else None
    figures: dict[str, Any] = {
        "base": base_name,
        "backend": type(backend).__name__,
        "device": getattr(backend, "device", "?"),
        "threads": threads,
        **_llama_cpp_build(backend),
        "reference": reference,
        "variants": rows,
        "adapters_loaded": len(adapters) + len(extra),
        "synthetic_adapters": len(extra),
        "synthetic_rank": synthetic_rank if extra else None,
        "rss_mb": {"before_model": round(rss_start, 1), "base": round(rss_base, 1), "base_plus_variants": round(rss_all, 1)},
        "memory_ratio": round(rss_all / rss_base, 3),
        "retrieval_ttft": [_retrieval_ttft(v) for v in variants if v.retriever],
    }
    if compare_answers:
        figures["same_answers"] = same_answers(variants, questions)
    save_chat_figures(figures, settings)
    return figures


def chat_figures_path(settings=None) -> Path:
    """Where the newest ``bench chat`` figures are kept (the verdict reads serving memory from them)."""
    return (settings or get_settings()).home / "bench" / "chat.json"


def save_chat_figures(figures: dict[str, Any], settings=None) -> None:
    path = chat_figures_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(figures, indent=1, default=str), encoding="utf-8")
    partial.replace(path)


def bench_eval(batch_size: int = 8, split: str = "dev", limit: int | None = None, compare: int = 4,
               max_new_tokens: int | None = None, names: list[str] | None = None) -> dict[str, Any]:
    """A golden-answer run of every local variant of the first local base (or those ``names``) over ``split`` (fresh store: nothing
    cached), ``batch_size`` answers decoded together per variant, timed; against llama.cpp's single-stream
    decode of the bare base in the same run. ``compare`` questions are also answered one at a time, to
    count how often a batched greedy answer equals the single one."""
    from travelbot.data.golden import golden_path, load_golden
    from travelbot.evaluation.answers import DEFAULT_SETTINGS, golden_answers
    from travelbot.models.generation import one_by_one
    from travelbot.models.llamacpp_backend import cpu_threads
    from travelbot.store import Store

    settings = get_settings()
    variants = [v for v in get_registry(settings).variants().values() if v.base.local]
    variants = [v for v in variants if v.base.name == variants[0].base.name] if variants else []
    if names:
        variants = [v for v in variants if v.name in names]
    if not variants:
        return {"error": "no local variant to benchmark"}
    base_variant = next((v for v in variants if v.adapter is None), variants[0])
    backend = backend_for(base_variant.base)
    questions = load_golden(golden_path(settings), split=split)[0][:limit]
    length = {"max_new_tokens": max_new_tokens} if max_new_tokens else {}
    for variant in variants:  # adapters exported and loaded, retriever loaded: the run times generation
        getattr(backend, "load_adapter", lambda v: None)(variant)
    reference = llamacpp_reference(base_variant, 128, cpu_threads())
    with tempfile.TemporaryDirectory() as tmp:
        warm = Store(f"sqlite:///{Path(tmp) / 'warm-up.db'}")
        try:
            golden_answers(variants[:1], questions[:1], warm, settings={**DEFAULT_SETTINGS, **length})
        finally:
            warm.close()
        store = Store(f"sqlite:///{Path(tmp) / 'run.db'}")  # empty: nothing cached
        try:
            start = time.perf_counter()
            answers = golden_answers(variants, questions, store, settings={**DEFAULT_SETTINGS, **length},
                                     batch_size=batch_size)
            wall = time.perf_counter() - start
        finally:
            store.close()
    # measured again after the run, the better of the two kept: on a shared machine one reading can be 25% off
    reference = _best_reference(reference, llamacpp_reference(base_variant, 128, cpu_threads()))
    tokens = sum(a.completion_tokens for a in answers)
    per_variant = {v.name: sum(a.completion_tokens for a in answers if a.variant == v.name) for v in variants}
    speed = tokens / wall if wall else 0.0
    same: dict[str, Any] = {}
    if compare and hasattr(backend, "complete_batch"):
        from travelbot.evaluation.answers import _prompt

        for variant in variants:
            conversations = [_prompt(variant, q.question)[0] for q in questions[:compare]]
            effective = variant.settings.updated(**{**DEFAULT_SETTINGS, **length})
            single = [t for t, _ in one_by_one(backend, variant, conversations, effective)]
            batched = [t for t, _ in backend.complete_batch(variant, conversations, effective)]
            parted = [next((i for i, (a, b) in enumerate(zip(x, y)) if a != b), min(len(x), len(y)))
                      for x, y in zip(single, batched, strict=True) if x != y]
            same[variant.name] = {"answers": len(single), "identical": len(single) - len(parted),
                                  "first_difference_chars": parted}
    prompt_tokens = sum(a.prompt_tokens for a in answers)
    read_rate = reference.get("prompt_tokens", 0) / reference["prompt_read_s"] if reference.get("prompt_read_s") else 0.0
    prompt_share = prompt_tokens / read_rate if read_rate else None  # seconds llama.cpp itself takes to read them
    # Reading a prompt is llama.cpp's fastest work per token (one batch of hundreds of rows); a run that read
    # its prompts and decoded its answers at that rate throughout could take no less than this.
    floor = (prompt_tokens + tokens) / read_rate if read_rate else None
    return {
        "backend": type(backend).__name__, "threads": cpu_threads(), "split": split, "questions": len(questions),
        "prompt_tokens": prompt_tokens,
        "prompt_read_at_reference_speed_s": round(prompt_share, 1) if prompt_share else None,
        "decode_tokens_per_s_after_prompts": round(tokens / (wall - prompt_share), 2)
        if prompt_share and wall > prompt_share else None,
        "variants": [v.name for v in variants], "batch_size": batch_size, "answers": len(answers),
        "completion_tokens": tokens, "completion_tokens_by_variant": per_variant, "wall_s": round(wall, 1),
        "generation_tokens_per_s": round(speed, 2), "reference": reference,
        "vs_reference": round(speed / reference["decode_tokens_per_s"], 3) if reference.get("decode_tokens_per_s") else None,
        "reference_prompt_read_tokens_per_s": round(read_rate, 1) if read_rate else None,
        "floor_s": round(floor, 1) if floor else None,
        "ceiling_vs_reference": round(tokens / floor / reference["decode_tokens_per_s"], 3)
        if floor and reference.get("decode_tokens_per_s") else None,
        "batched_equals_single": same,
    }
