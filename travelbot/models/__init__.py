"""Bases, variants and the one generation interface used by the UI, the CLI and evaluation."""

from __future__ import annotations

import threading
from typing import Any

from travelbot.config import Settings, get_settings
from travelbot.errors import InvalidInputError, TravelbotError
from travelbot.models.generation import Backend, Generation, GenerationSettings, GenerationStats, Message, one_by_one
from travelbot.models.registry import VARIANT_METHODS, Base, Registry, Variant, get_registry

__all__ = [
    "VARIANT_METHODS",
    "Base",
    "Generation",
    "GenerationSettings",
    "GenerationStats",
    "Message",
    "Registry",
    "Variant",
    "backend_for",
    "backend_kind",
    "count_prompt_tokens",
    "generate",
    "generate_batch",
    "generate_batch_stats",
    "get_registry",
    "weights_identity",
]

_backends: dict[str, Backend] = {}
_backends_lock = threading.Lock()


def backend_kind(base: Base, settings: Settings | None = None) -> str:
    """Which back-end serves a base: ``openai`` for endpoints; for local weights ``TRAVELBOT_BACKEND``
    decides, and ``auto`` picks llama.cpp for a GGUF base on the CPU when llama-cpp-python is installed."""
    settings = settings or get_settings()
    if base.source == "openai":
        return "openai"
    if base.source != "gguf" or settings.backend == "transformers":
        return "transformers"
    from travelbot.models.llamacpp_backend import available

    if settings.backend == "llamacpp":
        if not available():
            raise TravelbotError(
                "TRAVELBOT_BACKEND=llamacpp needs llama-cpp-python: run `pip install -e \".[fast]\"` "
                "or unset TRAVELBOT_BACKEND to use transformers."
            )
        return "llamacpp"
    from travelbot.models.loading import choose_device

    return "llamacpp" if choose_device(settings.device) == "cpu" and available() else "transformers"


def backend_for(base: Base, settings: Settings | None = None, kind: str | None = None) -> Backend:
    """The process-wide back-end of a base, loaded on first use and shared by all its variants.

    ``kind="transformers"`` asks for the in-process torch model whatever serves chat (training and
    checks that need the weights themselves).
    """
    settings = settings or get_settings()
    kind = kind or backend_kind(base, settings)
    key = f"{base.name}:{base.source}:{kind}"
    with _backends_lock:
        if key not in _backends:
            if kind == "openai":
                from travelbot.models.openai_backend import OpenAIBackend

                _backends[key] = OpenAIBackend(base, settings)
            elif kind == "llamacpp":
                from travelbot.models.llamacpp_backend import LlamaCppBackend

                _backends[key] = LlamaCppBackend(base, settings)
            else:
                from travelbot.models.transformers_backend import TransformersBackend

                _backends[key] = TransformersBackend(base, settings)
        return _backends[key]


def weights_identity(base: Base) -> str:
    """What the base's weights are, for cache keys: the GGUF file (name and size), the local folder, the Hub
    model or the endpoint's model; answers of different weights are never mixed."""
    if base.source == "openai":
        return f"openai:{base.endpoint}#{base.model}"
    if base.source == "gguf":
        from travelbot.models.loading import gguf_location

        path = gguf_location(base)
        return f"gguf:{path.name}:{path.stat().st_size if path.exists() else 0}"
    return f"{base.source}:{base.local_dir or base.model_id}"


def _validate_messages(messages: list[Message]) -> None:
    if not messages:
        raise InvalidInputError("There is nothing to answer: the conversation is empty.")
    for message in messages:
        if message.get("role") not in {"system", "user", "assistant"} or not isinstance(message.get("content"), str):
            raise InvalidInputError("Each message needs a role (system, user or assistant) and text content.")


def generate(variant: Variant, messages: list[Message], **settings: Any) -> Generation:
    """Stream a variant's answer to ``messages``: iterate the result for text chunks.

    The variant's system prompt is added when ``messages`` has none; ``settings`` override the
    variant's generation settings (max_new_tokens, temperature, top_p, top_k, repetition_penalty, seed).
    """
    _validate_messages(messages)
    if messages[0]["role"] != "system":
        messages = [{"role": "system", "content": variant.effective_system_prompt}, *messages]
    effective = variant.settings.updated(**settings)
    backend = backend_for(variant.base)
    stats = GenerationStats()
    return Generation(variant, messages, effective, backend.stream(variant, messages, effective, stats), stats)


def count_prompt_tokens(variant: Variant, messages: list[Message]) -> int | None:
    """How many tokens ``messages`` take once templated for the variant's base (None for remote endpoints)."""
    backend = backend_for(variant.base)
    prompt_ids = getattr(backend, "prompt_ids", None)
    if prompt_ids is None:
        return None
    ids = prompt_ids(messages)
    return int(ids.shape[-1]) if hasattr(ids, "shape") else len(ids)


def generate_batch(
    variant: Variant, conversations: list[list[Message]], batch_size: int = 32, **settings: Any
) -> list[str]:
    """Whole answers (stripped) to many conversations: padded batches on the transformers back-end, one by
    one elsewhere."""
    return [text for text, _ in generate_batch_stats(variant, conversations, batch_size, **settings)]


def generate_batch_stats(
    variant: Variant, conversations: list[list[Message]], batch_size: int = 32, **settings: Any
) -> list[tuple[str, GenerationStats]]:
    """Like :func:`generate_batch`, with each answer's statistics (in a padded batch, ``seconds`` is each
    answer's equal share of the batch's time)."""
    effective = variant.settings.updated(**settings)
    prepared = []
    for messages in conversations:
        _validate_messages(messages)
        if messages[0]["role"] != "system":
            messages = [{"role": "system", "content": variant.effective_system_prompt}, *messages]
        prepared.append(messages)
    backend = backend_for(variant.base)
    if batch_size <= 1:  # streamed one at a time: true per-answer latency, first token included
        return one_by_one(backend, variant, prepared, effective)
    answers: list[tuple[str, GenerationStats]] = []
    for start in range(0, len(prepared), batch_size):
        answers += backend.complete_batch(variant, prepared[start : start + batch_size], effective)
    return answers
