"""``travelbot bench chat``: decode speed, time to first token and memory of every variant.

Figures, not pass/fail: resident memory is reported for the base alone and for the base with all
variants' adapters loaded, so their ratio shows what sharing one copy of the weights saves.
"""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path
from typing import Any

import psutil

from travelbot.config import get_settings
from travelbot.models import Variant, backend_for, generate, get_registry

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


def _rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def synthetic_adapters(variant: Variant, count: int, folder: Path, rank: int = 16) -> list[Variant]:
    """LoRA adapters with random non-zero weights on every linear layer, written straight to PEFT
    format; used only to measure what extra variants cost when fewer real ones exist."""
    import torch
    from peft import LoraConfig
    from safetensors.torch import save_file

    model = backend_for(variant.base).model
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


def reference_decode(variant: Variant, max_new_tokens: int) -> float:
    """Tokens/s of plain ``model.generate`` on the bare base: the yardstick for our decoding loop."""
    import time

    import torch

    backend = backend_for(variant.base)
    messages = [{"role": "system", "content": variant.effective_system_prompt}, {"role": "user", "content": DECODE_PROMPT}]
    input_ids = backend.prompt_ids(messages)
    with torch.inference_mode():
        backend.model.generate(input_ids, max_new_tokens=1, min_new_tokens=1, do_sample=False)
        start = time.perf_counter()
        backend.model.generate(input_ids, max_new_tokens=1, min_new_tokens=1, do_sample=False)
        prefill = time.perf_counter() - start
        start = time.perf_counter()
        output = backend.model.generate(
            input_ids, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens, do_sample=False
        )
        seconds = time.perf_counter() - start - prefill
    return (output.shape[1] - input_ids.shape[1] - 1) / seconds


def _measure(variant: Variant, max_new_tokens: int) -> dict[str, Any]:
    first = generate(variant, [{"role": "user", "content": LONG_PROMPT}], max_new_tokens=1, temperature=0)
    first.result()
    decode = generate(
        variant, [{"role": "user", "content": DECODE_PROMPT}], max_new_tokens=max_new_tokens, temperature=0.7, seed=0
    )
    decode.result()
    return {
        "variant": variant.name,
        "method": variant.method,
        "base": variant.base.name,
        "ttft_prompt_tokens": first.stats.prompt_tokens,
        "ttft_s": round(first.stats.first_token_seconds or 0.0, 4),
        "decode_tokens": decode.stats.completion_tokens,
        "decode_tokens_per_s": round(decode.stats.tokens_per_second, 2),
    }


def bench_chat(
    max_new_tokens: int = 128, min_adapters: int = 4, synthetic_rank: int = 16, base: str | None = None
) -> dict[str, Any]:
    """Measure every variant of one base (default: the first transformers base)."""
    settings = get_settings()
    registry = get_registry(settings)
    variants = [v for v in registry.variants().values() if v.base.backend == "transformers"]
    base_name = base or (variants[0].base.name if variants else None)
    variants = [v for v in variants if v.base.name == base_name]
    if not variants:
        return {"error": "no transformers variant to benchmark"}
    rss_start = _rss_mb()
    base_variant = next((v for v in variants if v.adapter is None), variants[0])
    backend_for(base_variant.base)
    _measure(base_variant, 4)  # warm-up: first-call allocations belong to the base
    reference = reference_decode(base_variant, max_new_tokens)
    rss_base = _rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        adapters = [v for v in variants if v.adapter is not None]
        missing = max(0, min_adapters - len(adapters))
        extra = synthetic_adapters(base_variant, missing, Path(tmp), synthetic_rank) if missing else []
        gc.collect()
        rss_base = min(rss_base, _rss_mb())  # making synthetic adapters must not count as sharing
        rows = [_measure(v, max_new_tokens) for v in variants + extra]
        rss_all = _rss_mb()
    for row in rows:
        row["decode_vs_reference"] = round(row["decode_tokens_per_s"] / reference, 3)
    return {
        "base": base_name,
        "device": getattr(backend_for(base_variant.base), "device", "?"),
        "threads": __import__("torch").get_num_threads(),
        "reference": {"what": "transformers model.generate, bare base, greedy", "decode_tokens_per_s": round(reference, 2)},
        "variants": rows,
        "adapters_loaded": len(adapters) + len(extra),
        "synthetic_adapters": len(extra),
        "synthetic_rank": synthetic_rank if extra else None,
        "rss_mb": {"before_torch_and_model": round(rss_start, 1), "base": round(rss_base, 1), "base_plus_variants": round(rss_all, 1)},
        "memory_ratio": round(rss_all / rss_base, 3),
    }
