"""Back-end for any OpenAI-compatible chat endpoint (vLLM, TGI, a llama.cpp server, OpenAI itself).

This is how travelbot serves beyond one machine: run the weights on a GPU server and point a base
at it with ``endpoint`` (base URL), ``model`` and ``api_key_env`` in models.toml. A variant's
``endpoint_model`` is the ``model`` field of its requests: with vLLM started with ``--enable-lora
--lora-modules NAME=PATH``, each LoRA adapter is a model of its own name on the same server.
"""

from __future__ import annotations

from collections.abc import Iterator

from travelbot.config import Settings
from travelbot.errors import TravelbotError
from travelbot.models.generation import GenerationSettings, GenerationStats, Message, one_by_one
from travelbot.models.registry import Base, Variant


class OpenAIBackend:
    """Streams chat completions from an OpenAI-compatible server."""

    def __init__(self, base: Base, settings: Settings, timeout: float = 120.0) -> None:
        try:
            import openai
        except ImportError:
            raise TravelbotError("The openai package is needed for endpoint bases: run `pip install openai`.") from None
        self.base = base
        self._openai = openai
        key = settings.env_value(base.api_key_env) if base.api_key_env else None
        self.client = openai.OpenAI(
            base_url=base.endpoint, api_key=key or settings.openai_api_key or "not-needed", timeout=timeout, max_retries=2
        )

    def complete_batch(
        self, variant: Variant, conversations: list[list[Message]], settings: GenerationSettings
    ) -> list[tuple[str, GenerationStats]]:
        """The conversations as concurrent requests (each streamed, with its own timings), in order: a server
        such as vLLM batches requests that arrive together, one adapter or several."""
        from concurrent.futures import ThreadPoolExecutor

        if len(conversations) <= 1:
            return one_by_one(self, variant, conversations, settings)
        with ThreadPoolExecutor(max_workers=len(conversations), thread_name_prefix="endpoint") as pool:
            return [pair for answers in pool.map(lambda m: one_by_one(self, variant, [m], settings), conversations)
                    for pair in answers]

    def stream(
        self, variant: Variant, messages: list[Message], settings: GenerationSettings, stats: GenerationStats
    ) -> Iterator[str]:
        model = variant.endpoint_model or self.base.model or variant.name
        request = dict(
            model=model,
            messages=messages,
            max_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            top_p=settings.top_p,
            stream=True,
            stream_options={"include_usage": True},
        )
        if settings.seed is not None:
            request["seed"] = settings.seed
        try:
            response = self.client.chat.completions.create(**request)
            for event in response:
                if event.usage is not None:
                    stats.prompt_tokens = event.usage.prompt_tokens or 0
                    stats.completion_tokens = event.usage.completion_tokens or 0
                for choice in event.choices or []:
                    if choice.finish_reason:
                        stats.finish_reason = choice.finish_reason
                    text = choice.delta.content if choice.delta else None
                    if text:
                        stats.completion_tokens += 1  # a chunk is about a token; the final usage event corrects it
                        yield text
        except self._openai.APIConnectionError as exc:
            raise TravelbotError(f"Could not reach the endpoint {self.base.endpoint} of base {self.base.name!r}: {exc}.") from exc
        except self._openai.AuthenticationError as exc:
            raise TravelbotError(
                f"The endpoint {self.base.endpoint} refused the API key; set {self.base.api_key_env or 'OPENAI_API_KEY'}."
            ) from exc
        except self._openai.APIStatusError as exc:
            raise TravelbotError(
                f"The endpoint {self.base.endpoint} answered HTTP {exc.status_code} for model {model!r}: {exc.message}."
            ) from exc
