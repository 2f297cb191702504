"""Chat turns: check the message, stream a variant's answer, log the turn in the store.

The Chat and Compare tabs and ``travelbot chat`` all go through :func:`reply`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from travelbot.config import Settings, get_settings
from travelbot.errors import InvalidInputError, TravelbotError
from travelbot.limits import generation_slot
from travelbot.models import Generation, Message, Variant, backend_for, count_prompt_tokens, generate, get_registry
from travelbot.store import ChatTurn, Store, get_store
from travelbot.text import clean_text



_warm_up: threading.Thread | None = None
_warm_up_lock = threading.Lock()


def warm_up() -> threading.Thread:
    """Load the first local base, the travel guides' retriever and that base's adapters in a background thread,
    so the first chat (and the first RAFT question) does not wait for them; a second call while it runs gets
    the same thread. Retrieval-augmented variants' adapters come first: their first question waits on the
    retriever too."""
    global _warm_up
    import logging

    def load() -> None:
        registry = get_registry()
        base = next((b for b in registry.bases().values() if b.local), None)
        variants = [v for v in registry.variants().values() if v.adapter is not None and v.base == base]
        try:
            backend = backend_for(base) if base is not None else None
            if any(v.retriever for v in registry.variants().values()):
                from travelbot.data.corpus import corpus_retriever

                corpus_retriever()
        except TravelbotError as exc:  # shown again, as a sentence, when someone chats with it
            logging.getLogger(__name__).warning("%s", exc)
            return
        for variant in sorted(variants, key=lambda v: not v.retriever) if backend is not None else []:
            try:
                backend.load_adapter(variant)
            except TravelbotError as exc:  # a broken adapter says so when chosen; the others still load
                logging.getLogger(__name__).warning("%s", exc)

    with _warm_up_lock:
        if _warm_up is None or not _warm_up.is_alive():
            _warm_up = threading.Thread(target=load, name="warm-up", daemon=True)
            _warm_up.start()
        return _warm_up


def check_message(text: str | None, settings: Settings | None = None) -> str:
    """The message without surrounding whitespace or control characters, or a readable error if it is empty
    or too long."""
    limit = (settings or get_settings()).max_message_chars
    text = clean_text(text or "").strip()
    if not text:
        raise InvalidInputError("Type a question first: the message is empty.")
    if len(text) > limit:
        raise InvalidInputError(
            f"The message is {len(text):,} characters long; the limit is {limit:,}. Shorten it and send again."
        )
    return text


def check_system_prompt(text: str | None, settings: Settings | None = None) -> str | None:
    """A typed system prompt, cleaned (None when blank), or a readable error if it is too long."""
    limit = (settings or get_settings()).max_system_prompt_chars
    text = clean_text(text or "").strip()
    if len(text) > limit:
        raise InvalidInputError(f"The system prompt is {len(text):,} characters long; the limit is {limit:,}.")
    return text or None


def check_prompt_length(variant: Variant, messages: list[Message], settings: Settings | None = None) -> None:
    """Refuse a conversation longer than ``max_prompt_tokens`` before any compute is spent on it."""
    limit = (settings or get_settings()).max_prompt_tokens
    tokens = count_prompt_tokens(variant, messages)
    if tokens is not None and tokens > limit:
        raise InvalidInputError(f"The conversation is {tokens:,} tokens long with its system prompt and earlier "
                                f"turns; the limit is {limit:,}. Start a new conversation or shorten it.")


def check_history(history: list[Message] | None) -> list[Message]:
    """Earlier turns as plain role/content dicts (system messages are set per variant, not taken from here)."""
    cleaned: list[Message] = []
    for message in history or []:
        role, content = message.get("role"), message.get("content")
        if role not in {"user", "assistant"} or not isinstance(content, str):
            raise InvalidInputError("The conversation history must be user/assistant messages with text.")
        cleaned.append({"role": role, "content": content})
    return cleaned


@dataclass
class Reply:
    """A streaming answer that is logged as one chat turn when it ends (finished, stopped or failed)."""

    generation: Generation
    conversation_id: str
    turn_index: int
    store: Store
    client_id: str | None = None
    passages: list = field(default_factory=list)  # what a RAFT variant retrieved for this turn
    prompt: str | None = None  # the user's message as typed
    turn_id: int | None = field(default=None, init=False)

    @property
    def raft(self):
        """A RAFT variant's output split into answer, reasoning and quoted sources (None otherwise)."""
        if not self.variant.retriever:
            return None
        from travelbot.data.raft import parse_raft_answer

        return parse_raft_answer(self.text)

    @property
    def answer(self) -> str:
        """What a person is shown as the answer (a RAFT variant's final answer, else the text)."""
        raft = self.raft
        return raft.answer if raft is not None else self.text

    @property
    def streamed_answer(self) -> str:
        """The answer while it streams: a RAFT variant's text only once its final-answer marker appeared
        (its reasoning and quoted sources would tell a blind reader which variant it is)."""
        if not self.variant.retriever or self.done:
            return self.answer
        from travelbot.data.raft import ANSWER

        _, marker, answer = self.text.rpartition(ANSWER)
        return answer.strip() if marker else ""

    @property
    def progress(self) -> str:
        """The answer while it streams to a person who knows the variant (Chat, Side by side): a RAFT
        variant's reasoning as readable text with its quotes, then its final answer; else the text."""
        if not self.variant.retriever or self.done:
            return self.answer
        from travelbot.data.raft import streaming_view

        return streaming_view(self.text)

    @property
    def done(self) -> bool:
        return self.generation.done

    @property
    def variant(self) -> Variant:
        return self.generation.variant

    @property
    def text(self) -> str:
        return self.generation.text

    @property
    def stats(self):
        return self.generation.stats

    def __iter__(self) -> Iterator[str]:
        error: str | None = None
        try:
            with generation_slot():
                yield from self.generation
        except TravelbotError as exc:
            error = str(exc)
            raise
        except GeneratorExit:
            self.generation.stats.finish_reason = "cancelled"
            raise
        except Exception as exc:  # logged, then re-raised for the face to report
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._log(error)

    def result(self) -> str:
        for _ in self:
            pass
        return self.text

    def _log(self, error: str | None) -> None:
        variant = self.variant
        self.turn_id = self.store.log_turn(
            ChatTurn(
                conversation_id=self.conversation_id,
                turn_index=self.turn_index,
                variant=variant.name,
                base=variant.base.name,
                method=variant.method,
                messages=self.generation.messages,
                answer=self.text,
                settings=self.generation.settings.to_dict(),
                prompt_tokens=self.stats.prompt_tokens,
                completion_tokens=self.stats.completion_tokens,
                seconds=round(self.stats.seconds, 4),
                first_token_seconds=self.stats.first_token_seconds,
                finish_reason=self.stats.finish_reason or ("error" if error else ""),
                error=error,
                client_id=self.client_id,
                prompt=self.prompt,
            )
        )


def reply(
    variant: str | Variant,
    message: str,
    history: list[Message] | None = None,
    *,
    conversation_id: str | None = None,
    system_prompt: str | None = None,
    client_id: str | None = None,
    kind: str = "chat",
    store: Store | None = None,
    **generation_settings: Any,
) -> Reply:
    """Start a variant's answer to ``message`` after ``history``; iterate the result for text chunks."""
    settings = get_settings()
    message = check_message(message, settings)
    history = check_history(history)
    if isinstance(variant, str):
        variant = get_registry(settings).variant(variant)
    store = store or get_store(settings)
    if conversation_id is None:
        conversation_id = store.new_conversation(kind=kind, client_id=client_id)
    system = check_system_prompt(system_prompt, settings) or variant.effective_system_prompt
    passages, content = retrieve_for(variant, message)
    messages = [{"role": "system", "content": system}, *history, {"role": "user", "content": content}]
    check_prompt_length(variant, messages, settings)
    generation = generate(variant, messages, **generation_settings)
    turn_index = sum(1 for m in history if m["role"] == "user")
    return Reply(generation, conversation_id, turn_index, store, client_id, passages, prompt=message)


def retrieve_for(variant: Variant, message: str) -> tuple[list, str]:
    """(passages, user message): a RAFT variant reads retrieved documents before the question,
    in the same format it was trained on; other variants get the question as it is."""
    if not variant.retriever:
        return [], message
    if variant.retriever != "corpus":
        raise TravelbotError(f"Variant {variant.name!r} asks for retriever {variant.retriever!r}; only 'corpus' exists.")
    from travelbot.data.corpus import corpus_retriever
    from travelbot.data.raft import raft_prompt, trim_passage
    from travelbot.retrieval import Passage

    hits = corpus_retriever().retrieve(message, variant.documents)
    documents = [trim_passage(message, Passage(h.passage_id, h.doc_id, h.title, h.section, h.text),
                              variant.passage_sentences) for h in hits]
    return hits, raft_prompt(message, documents)


def reply_length(variant: Variant, requested: int | None) -> int:
    """The new-token budget of a reply: ``requested``, or (0 or None) the variant's own default, which leaves a
    RAFT-format variant room for its reasoning and quotes before the final answer people are shown."""
    return int(requested) if requested and requested > 0 else variant.settings.max_new_tokens


class ParallelReplies:
    """Several replies streamed at once, one thread each; iterate to wait, polling every ``interval`` s.

    Closing the iterator early (the page pressed Stop or went away) stops every stream, and each is
    still logged (as cancelled). A failing reply records its error in ``errors`` and spares the others.
    """

    def __init__(self, replies: list[Reply], interval: float = 0.15) -> None:
        self.replies = replies
        self.interval = interval
        self.errors: dict[int, str] = {}
        self.failures: dict[int, Exception] = {}  # the exceptions behind ``errors``
        self._stopped = threading.Event()

    def _consume(self, index: int, answer: Reply) -> None:
        stream = iter(answer)
        try:
            for _ in stream:
                if self._stopped.is_set():
                    stream.close()  # logged as cancelled
                    break
        except TravelbotError as exc:
            self.errors[index], self.failures[index] = str(exc), exc
        except Exception as exc:  # noqa: BLE001 - one failing variant must not take the others down
            self.errors[index], self.failures[index] = f"{type(exc).__name__}: {exc}", exc

    def __iter__(self) -> Iterator[None]:
        threads = [threading.Thread(target=self._consume, args=(i, r), daemon=True) for i, r in enumerate(self.replies)]
        for thread in threads:
            thread.start()
        try:
            while any(thread.is_alive() for thread in threads):
                yield
                time.sleep(self.interval)
        finally:
            self._stopped.set()
            for thread in threads:
                thread.join()
