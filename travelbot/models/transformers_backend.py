"""In-process transformers back-end: one copy of a base's weights serves all its variants.

Adapters are loaded side by side into one PEFT model. Each decoding step takes the base's lock,
activates the requesting variant's adapter (or none) and runs one forward pass, so concurrent
requests for different variants interleave token by token and never see each other's adapter.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import torch
from transformers import DynamicCache, LogitsProcessorList
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from travelbot.config import Settings
from travelbot.errors import TravelbotError
from travelbot.models.generation import GenerationSettings, GenerationStats, Message
from travelbot.models.loading import check_adapter, load_base
from travelbot.models.registry import Base, Variant
from travelbot.models.zerogpu import gpu


class IncrementalDecoder:
    """Turns token ids into text chunks, holding back bytes of an unfinished character."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.emitted = 0

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return ""
        chunk, self.emitted = text[self.emitted :], len(text)
        return chunk


def _processors(settings: GenerationSettings) -> LogitsProcessorList:
    processors = LogitsProcessorList()
    if settings.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty))
    if settings.temperature > 0:
        processors.append(TemperatureLogitsWarper(settings.temperature))
        if settings.top_k > 0:
            processors.append(TopKLogitsWarper(settings.top_k))
        if settings.top_p < 1.0:
            processors.append(TopPLogitsWarper(settings.top_p))
    return processors


class TransformersBackend:
    """A loaded base and the adapters of its variants."""

    def __init__(self, base: Base, settings: Settings) -> None:
        self.base = base
        self.model, self.tokenizer, self.device = load_base(base, settings)
        self.tokenizer.padding_side = "left"  # batched generation continues every row from its end
        self.lock = threading.Lock()
        self._adapters: dict[str, str] = {}  # adapter path -> PEFT adapter name
        self._active: str | None = None
        self._stop_ids = {i for i in (self.tokenizer.eos_token_id, self.tokenizer.pad_token_id) if i is not None}
        im_end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != self.tokenizer.unk_token_id:
            self._stop_ids.add(im_end)

    # -- adapters -------------------------------------------------------------------------------
    def load_adapter(self, variant: Variant) -> None:
        """Check and load the variant's adapter now (start-up warm-up), not at its first question."""
        self._adapter_name(variant)

    def _adapter_name(self, variant: Variant) -> str | None:
        """Load the variant's adapter once (re-load when its files change); return its PEFT name."""
        if variant.adapter is None:
            return None
        key = f"{variant.adapter.resolve()}@{variant.revision}"
        if key in self._adapters:
            return self._adapters[key]
        from peft import PeftModel

        with self.lock:
            if key in self._adapters:
                return self._adapters[key]
            check_adapter(variant.adapter, self.base, self.model.get_base_model() if self._adapters else self.model)
            name = f"a{len(self._adapters)}"
            try:
                if isinstance(self.model, PeftModel):
                    self.model.load_adapter(str(variant.adapter), adapter_name=name, is_trainable=False)
                else:
                    self.model = PeftModel.from_pretrained(
                        self.model, str(variant.adapter), adapter_name=name, is_trainable=False
                    )
            except Exception as exc:
                raise TravelbotError(
                    f"Could not load adapter {variant.adapter} ({type(exc).__name__}: {exc}); re-export it."
                ) from exc
            self.model.eval()
            self._active = "loaded"  # load_adapter may change which adapter is active
            self._adapters[key] = name
            return name

    def loaded_adapters(self) -> int:
        return len(self._adapters)

    def _forward(self, adapter: str | None, input_ids: torch.Tensor, cache: DynamicCache) -> torch.Tensor:
        """One forward pass with exactly the given adapter active (caller holds the lock)."""
        if not self._adapters:
            return self.model(input_ids=input_ids, cache=cache, use_cache=True).logits[:, -1, :]
        if adapter is None:
            with self.model.disable_adapter():
                return self.model(input_ids=input_ids, cache=cache, use_cache=True).logits[:, -1, :]
        if self._active != adapter:
            self.model.set_adapter(adapter)
            self._active = adapter
        return self.model(input_ids=input_ids, cache=cache, use_cache=True).logits[:, -1, :]

    # -- generation -----------------------------------------------------------------------------
    @gpu  # ZeroGPU Spaces: a GPU is attached for the call; elsewhere the method itself
    def complete_batch(
        self, variant: Variant, conversations: list[list[Message]], settings: GenerationSettings
    ) -> list[tuple[str, GenerationStats]]:
        """Answer several prompts in one padded batch (for dataset building and evaluation, not chat)."""
        adapter = self._adapter_name(variant)
        encoded = self.tokenizer.apply_chat_template(
            conversations, add_generation_prompt=True, return_dict=True, padding=True, return_tensors="pt"
        )
        encoded = {k: v.to(self.device) for k, v in encoded.items()}
        sampling = settings.temperature > 0
        kwargs = dict(
            max_new_tokens=settings.max_new_tokens, do_sample=sampling,
            repetition_penalty=settings.repetition_penalty, pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self._stop_ids),
        )
        if sampling:
            kwargs.update(temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
        import time

        start = time.perf_counter()
        with self.lock, torch.inference_mode():
            if settings.seed is not None:
                torch.manual_seed(settings.seed)
            if adapter is None and self._adapters:
                with self.model.disable_adapter():
                    output = self.model.generate(**encoded, **kwargs)
            else:
                if adapter is not None and self._active != adapter:
                    self.model.set_adapter(adapter)
                    self._active = adapter
                output = self.model.generate(**encoded, **kwargs)
        seconds = (time.perf_counter() - start) / len(conversations)  # each answer's equal share
        prompt_length = encoded["input_ids"].shape[1]
        results = []
        for row, mask in zip(output, encoded["attention_mask"]):
            new = [int(t) for t in row[prompt_length:]]
            ended = next((i for i, t in enumerate(new) if t in self._stop_ids), None)
            tokens = new[:ended] if ended is not None else new
            text = self.tokenizer.decode(tokens, skip_special_tokens=True).strip()
            stats = GenerationStats(
                prompt_tokens=int(mask.sum()), completion_tokens=len(tokens), seconds=seconds,
                finish_reason="stop" if ended is not None else "length",
            )
            results.append((text, stats))
        return results

    def prompt_ids(self, messages: list[Message]) -> torch.Tensor:
        encoded = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)
        return torch.tensor([encoded["input_ids"]], device=self.device)

    def tokens(
        self, variant: Variant, messages: list[Message], settings: GenerationSettings, stats: GenerationStats
    ) -> Iterator[int]:
        """Yield the answer's token ids (without the stop token); fill ``stats`` as it goes."""
        adapter = self._adapter_name(variant)
        input_ids = self.prompt_ids(messages)
        stats.prompt_tokens = int(input_ids.shape[1])
        processors = _processors(settings)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(settings.seed if settings.seed is not None else int(torch.seed() % 2**63))
        cache = DynamicCache()
        seen = input_ids
        step_input = input_ids
        stats.finish_reason = "length"
        for _ in range(settings.max_new_tokens):
            with self.lock, torch.inference_mode():
                logits = self._forward(adapter, step_input, cache)
            scores = processors(seen, logits.float())
            if settings.temperature > 0:
                next_id = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator)
            else:
                next_id = scores.argmax(dim=-1, keepdim=True)
            token = int(next_id)
            if token in self._stop_ids:
                stats.finish_reason = "stop"
                break
            stats.completion_tokens += 1
            yield token
            seen = torch.cat([seen, next_id], dim=1)
            step_input = next_id

    @gpu
    def stream(
        self, variant: Variant, messages: list[Message], settings: GenerationSettings, stats: GenerationStats
    ) -> Iterator[str]:
        decoder = IncrementalDecoder(self.tokenizer)
        for token in self.tokens(variant, messages, settings, stats):
            chunk = decoder.push(token)
            if chunk:
                yield chunk
