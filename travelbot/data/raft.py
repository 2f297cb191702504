"""RAFT (retrieval-augmented fine-tuning) examples and the post-processor for RAFT variants' output.

Each example puts the question after ``k`` documents: the oracle passage plus hard negatives from the
retriever (for a fraction ``1 - P`` of examples the oracle is left out), in the order the retriever ranks
them, as chat serves them (or shuffled, as the RAFT paper does). The target answer reasons
with quotes from the oracle between ``##begin_quote##`` / ``##end_quote##`` and ends with
``<ANSWER>: ...``, as RAFT prescribes. :func:`parse_raft_answer` turns such output into the answer
shown to people plus its reasoning and quoted sources.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from travelbot.data.items import QAItem
from travelbot.retrieval import Passage, section_id

if TYPE_CHECKING:
    from travelbot.store import ChatTurn

BEGIN_QUOTE, END_QUOTE = "##begin_quote##", "##end_quote##"
REASON, ANSWER = "##Reason:", "<ANSWER>:"
INSTRUCTION = "Answer the question using the documents above. Quote the lines you rely on."
# A RAFT variant's default answer length: reasoning, quotes and the final answer run ~140-300 tokens on the
# concise demo build (a closed-book answer ~80-150), so 256 cut one answer in five before its end.
RAFT_MAX_NEW_TOKENS = 384
# How a RAFT example orders its documents: "retrieval" (the retriever's ranking, the oracle at its own rank,
# as chat and evaluation serve them) or "shuffled" (the RAFT paper's random order).
DOCUMENT_ORDERS = ("retrieval", "shuffled")


def split_sentences(text: str) -> list[str]:
    """Sentences of at least four words; a list item or a paragraph always ends one (wrapped lines do not)."""
    blocks = re.split(r"(?:^|\n)\s*[-*]\s+|\n\s*\n", text)
    sentences = []
    for block in blocks:
        flat = block.replace("\n", " ").strip()
        sentences += re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(*])", flat)
    return [s.strip() for s in sentences if len(s.split()) >= 4]


def best_quotes(question: str, oracle_text: str, limit: int = 2) -> list[str]:
    """The oracle sentences closest in meaning to the question (MiniLM), in document order."""
    import numpy as np

    from travelbot.retrieval import embed

    sentences = split_sentences(oracle_text)
    if len(sentences) <= limit:
        return sentences or [oracle_text.strip()]
    vectors = np.asarray(embed([question, *sentences]), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    scores = vectors[1:] @ vectors[0]
    chosen = sorted(np.argsort(-scores)[:limit])
    return [sentences[i] for i in chosen]


def trim_passage(question: str, passage: Passage, sentences: int) -> Passage:
    """The passage cut to its ``sentences`` sentences nearest the question, in document order (0: whole).

    A small model reads short documents better, and chat trims what it retrieves the same way."""
    if sentences <= 0:
        return passage
    kept = " ".join(best_quotes(question, passage.text, sentences))
    return Passage(passage.passage_id, passage.doc_id, passage.title, passage.section, kept, passage.metadata)


def concise_answer(item: QAItem, sentences: int) -> str:
    """The item's answer cut to the sentences of its oracle nearest the question (0: the whole answer)."""
    if sentences <= 0 or item.source == "reddit":
        return item.answer.strip()
    return " ".join(best_quotes(item.question, item.answer, sentences))


def cot_answer(item: QAItem, quotes: list[str], answer: str | None = None) -> str:
    """A RAFT chain-of-thought target: reasoning with quoted evidence, then the final answer
    (``answer``, or the item's whole answer)."""
    where = f"the {item.oracle.section.lower()} section of \"{item.oracle.title}\""
    reasoning = [f"{REASON} The question is answered in {where}."]
    for index, quote in enumerate(quotes):
        lead = "It says" if index == 0 else "It also says"
        reasoning.append(f"{lead} {BEGIN_QUOTE} {quote} {END_QUOTE}")
    reasoning.append("These lines give the facts the answer needs.")
    return " ".join(reasoning) + f"\n\n{ANSWER} {(answer or item.answer).strip()}"


def format_documents(documents: list[Passage]) -> str:
    return "\n".join(f"<DOCUMENT>{d.title} — {d.section}\n{d.text}</DOCUMENT>" for d in documents)


def raft_prompt(question: str, documents: list[Passage]) -> str:
    """The user message a RAFT variant sees: documents, then the question (same at training and inference)."""
    return f"{format_documents(documents)}\n\n{INSTRUCTION}\nQuestion: {question}"


@dataclass
class RaftAnswer:
    """What a person sees: the answer, and under it the reasoning and quoted sources."""

    answer: str
    reasoning: str = ""
    quotes: list[str] = field(default_factory=list)
    well_formed: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "reasoning": self.reasoning, "quotes": self.quotes, "well_formed": self.well_formed}


def parse_raft_answer(raw: str) -> RaftAnswer:
    """Split raw RAFT output into final answer, reasoning and quotes; tolerate missing markers."""
    text = (raw or "").strip()
    quotes = [q.strip() for q in re.findall(re.escape(BEGIN_QUOTE) + r"(.*?)" + re.escape(END_QUOTE), text, re.S)]
    if ANSWER in text:
        reasoning, _, answer = text.rpartition(ANSWER)
        well_formed = True
    else:
        reasoning, answer, well_formed = "", text, False
    clean = lambda s: re.sub(r"\s+", " ", s.replace(BEGIN_QUOTE, "“").replace(END_QUOTE, "”")).strip()  # noqa: E731
    reasoning = clean(reasoning.replace(REASON, ""))
    answer = answer.strip() if well_formed else clean(answer.replace(REASON, ""))
    if not answer:  # reasoning without a final answer: show the reasoning rather than nothing
        answer, well_formed = reasoning, False
    return RaftAnswer(answer=answer, reasoning=reasoning, quotes=quotes, well_formed=well_formed)


def streaming_view(raw: str) -> str:
    """Raw RAFT output while it streams, as a reader should see it: the reasoning with its quotes in quotation
    marks (a marker still arriving is held back), then only the final answer once its marker appeared."""
    text = raw or ""
    if ANSWER in text:
        return text.rpartition(ANSWER)[2].strip()
    text = text.replace(BEGIN_QUOTE, "“").replace(END_QUOTE, "”").replace(REASON, "")
    held = max((k for marker in (BEGIN_QUOTE, END_QUOTE, REASON, ANSWER) for k in range(1, len(marker))
                if text.endswith(marker[:k])), default=0)  # the start of a marker, not yet complete
    text = text[:len(text) - held]
    text = re.sub(r"\s+", " ", text).strip()
    return f"*Reading the guides:* {text}" if text else ""


def build_raft(
    items: list[QAItem], retriever, distractors: int = 3, oracle_fraction: float = 0.8, seed: int = 0,
    passage_sentences: int = 0, answer_sentences: int = 0, order: str = "retrieval",
) -> list[dict[str, Any]]:
    """RAFT examples in chat format with the documents and oracle recorded beside the messages.

    ``passage_sentences`` trims every document to the sentences nearest the question and
    ``answer_sentences`` makes the final answer those oracle sentences instead of the whole passage
    (0 keeps either whole): short rows that fit a small model's training length, EOS included.

    ``order="retrieval"`` keeps the retriever's ranking and puts the oracle at its own rank (last when the
    retriever missed it), so training reads documents as chat serves them: a small model learns to trust the
    top document as often as the retriever deserves it. ``"shuffled"`` draws a random order."""
    if order not in DOCUMENT_ORDERS:
        raise ValueError(f"order must be one of {', '.join(DOCUMENT_ORDERS)}")
    rng = random.Random(seed)
    examples = []
    for item in items:
        oracle_section = section_id(item.oracle.passage_id)
        hits = retriever.retrieve(item.question, distractors + 6) if retriever is not None else []
        negatives = [
            Passage(h.passage_id, h.doc_id, h.title, h.section, h.text)
            for h in hits if section_id(h.passage_id) != oracle_section
        ]
        with_oracle = rng.random() < oracle_fraction
        # Every example shows the same number of documents; without the oracle, one more negative.
        documents = negatives[:distractors] if with_oracle else negatives[: distractors + 1]
        if with_oracle:
            rank = next((i for i, h in enumerate(hits) if section_id(h.passage_id) == oracle_section), len(hits))
            documents.insert(min(rank, len(documents)), item.oracle)
        if order == "shuffled":
            rng.shuffle(documents)
        documents = [trim_passage(item.question, d, passage_sentences) for d in documents]
        quotes = best_quotes(item.question, item.oracle.text)
        answer = concise_answer(item, answer_sentences) if answer_sentences else None
        target = cot_answer(item, quotes, answer)
        examples.append({
            "messages": [
                {"role": "user", "content": raft_prompt(item.question, documents)},
                {"role": "assistant", "content": target},
            ],
            "question": item.question,
            "oracle_id": item.oracle.passage_id,
            "document_ids": [d.passage_id for d in documents],
            "has_oracle": with_oracle,
            "source": item.source,
        })
    return examples


def shown_answer(turn: ChatTurn) -> str:
    """The answer of a logged chat turn as a person saw it: a RAFT turn's final answer, else the text."""
    user = next((m.get("content") for m in reversed(turn.messages) if m.get("role") == "user"), None)
    retrieved = user != turn.prompt if turn.prompt is not None else turn.method == "raft"
    return parse_raft_answer(turn.answer).answer if retrieved else turn.answer
