"""The travel corpus: Markdown guides with front matter, split into section passages.

Sources: the bundled guides in ``assets/corpus/``, guides a user added under
``$TRAVELBOT_HOME/data/sources/``, and any folder of .md/.txt/.pdf/.html read through llama-index.
Every file that cannot be used is reported with a reason; the rest still loads.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from travelbot.config import Settings, get_settings
from travelbot.jsonl import LoadReport, check_readable, decode_text
from travelbot.errors import TravelbotError
from travelbot.retrieval import Passage, RetrievedPassage, get_retriever, slugify

FOLDER_SUFFIXES = (".md", ".markdown", ".txt", ".pdf", ".html", ".htm")
MAX_DOC_BYTES = 20 * 2**20
MAX_PASSAGE_WORDS = 220  # longer sections are split into several passages at paragraph breaks
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_HEADING = re.compile(r"^##\s+(.+?)\s*$", re.M)


@dataclass
class Document:
    """One guide: metadata from its front matter and its ``##`` sections in order."""

    doc_id: str
    title: str
    kind: str = "destination"
    region: str = ""
    country: str = ""
    tags: list[str] = field(default_factory=list)
    as_of: str = ""
    intro: str = ""
    sections: list[tuple[str, str]] = field(default_factory=list)  # (heading, text)
    source: str = ""

    def passages(self) -> list[Passage]:
        """Section-aware chunks: one passage per section, long sections split at paragraph breaks."""
        meta: dict[str, Any] = {"kind": self.kind, "region": self.region, "country": self.country, "as_of": self.as_of}
        out: list[Passage] = []
        sections = self.sections or [("Overview", self.intro)]
        for heading, text in sections:
            base_id = f"{self.doc_id}#{slugify(heading) or 'section'}"
            for index, chunk in enumerate(_chunks(text)):
                passage_id = base_id if index == 0 else f"{base_id}/{index + 1}"
                out.append(Passage(passage_id, self.doc_id, self.title, heading, chunk, meta))
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id, "title": self.title, "kind": self.kind, "region": self.region,
            "country": self.country, "tags": self.tags, "as_of": self.as_of, "sections": len(self.sections),
            "words": sum(len(t.split()) for _, t in self.sections) + len(self.intro.split()), "source": self.source,
        }


def _chunks(text: str) -> list[str]:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    chunks: list[str] = []
    current: list[str] = []
    for paragraph in paragraphs:
        if current and len(" ".join(current + [paragraph]).split()) > MAX_PASSAGE_WORDS:
            chunks.append("\n\n".join(current))
            current = []
        current.append(paragraph)
    if current:
        chunks.append("\n\n".join(current))
    return chunks


def _text_field(meta: dict[str, Any], key: str, default: str = "") -> str:
    value = meta.get(key, default)
    if value is None:
        return default
    if isinstance(value, (dict, list)):
        raise ValueError(f"front matter field {key!r} must be text")
    return str(value)  # real files hold dates, numbers and booleans where text is meant


def parse_markdown(text: str, fallback_id: str, source: str = "") -> Document:
    """A guide from Markdown with optional YAML front matter; ValueError with a reason if unusable."""
    meta: dict[str, Any] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            meta = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"front matter is not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(meta, dict):
            raise ValueError("front matter must be a mapping of fields")
        text = text[match.end():]
    title_line = re.search(r"^#\s+(.+?)\s*$", text, re.M)
    title = _text_field(meta, "title") or (title_line.group(1) if title_line else fallback_id)
    doc_id = slugify(_text_field(meta, "id") or fallback_id)
    if not doc_id:
        raise ValueError("has no usable id")
    body = re.sub(r"^#\s+.+$", "", text, count=1, flags=re.M) if title_line else text
    parts = _HEADING.split(body)
    intro, sections = parts[0].strip(), []
    for heading, section_text in zip(parts[1::2], parts[2::2]):
        if section_text.strip():
            sections.append((heading.strip(), section_text.strip()))
    if not intro and not sections:
        raise ValueError("is empty")
    tags = meta.get("tags") or []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    return Document(
        doc_id=doc_id, title=title, kind=_text_field(meta, "kind", "destination"),
        region=_text_field(meta, "region"), country=_text_field(meta, "country"),
        tags=[str(t) for t in tags] if isinstance(tags, list) else [],
        as_of=_text_field(meta, "as_of"), intro=intro, sections=sections, source=source,
    )


def _add(documents: dict[str, Document], doc: Document, where: str, report: LoadReport) -> None:
    if doc.doc_id in documents:
        report.refuse(where, "duplicate id", f"{doc.doc_id!r} is already used by {documents[doc.doc_id].source}")
        return
    documents[doc.doc_id] = doc
    report.loaded += 1


def load_markdown_dir(folder: Path, report: LoadReport | None = None) -> tuple[list[Document], LoadReport]:
    """Every .md guide below a folder; unusable files are reported with a reason."""
    folder = Path(folder)
    report = report or LoadReport(str(folder))
    documents: dict[str, Document] = {}
    for path in sorted(folder.rglob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        where = str(path.relative_to(folder))
        try:
            check_readable(path, MAX_DOC_BYTES)
            text, encoding = decode_text(path.read_bytes())
            if encoding != "utf-8":
                report.warn(where, f"not UTF-8; read as {encoding}")
            _add(documents, parse_markdown(text, path.stem, where), where, report)
        except TravelbotError as exc:
            report.refuse(where, "unreadable", str(exc))
        except ValueError as exc:
            report.refuse(where, str(exc))
    return list(documents.values()), report


def load_folder(folder: Path) -> tuple[list[Document], LoadReport]:
    """Any folder of .md/.txt/.pdf/.html files, read through llama-index's file readers."""
    from llama_index.core import SimpleDirectoryReader

    folder = Path(folder)
    if not folder.is_dir():
        raise TravelbotError(f"{folder} is not a folder; give a folder of .md, .txt, .pdf or .html files.")
    report = LoadReport(str(folder))
    documents: dict[str, Document] = {}
    files = [p for p in sorted(folder.rglob("*")) if p.is_file()]
    usable = []
    for path in files:
        where = str(path.relative_to(folder))
        if path.suffix.lower() not in FOLDER_SUFFIXES:
            report.refuse(where, "unsupported file type", f"use one of {', '.join(FOLDER_SUFFIXES)}")
        elif path.stat().st_size == 0:
            report.refuse(where, "is empty")
        elif path.stat().st_size > MAX_DOC_BYTES:
            report.refuse(where, "too large", f"over {MAX_DOC_BYTES // 2**20} MB")
        else:
            usable.append(path)
    for path in usable:
        where = str(path.relative_to(folder))
        try:
            if path.suffix.lower() in (".md", ".markdown"):
                text, _ = decode_text(path.read_bytes())
                _add(documents, parse_markdown(text, path.stem, where), where, report)
                continue
            pages = SimpleDirectoryReader(input_files=[str(path)], encoding="utf-8", errors="replace").load_data()
            text = "\n\n".join(page.text for page in pages).strip()
            if not text:
                report.refuse(where, "is empty", "no text could be extracted")
                continue
            _add(documents, Document(doc_id=slugify(path.stem), title=path.stem.replace("-", " ").replace("_", " "),
                                     kind="document", intro=text, source=where), where, report)
        except ValueError as exc:
            report.refuse(where, str(exc))
        except Exception as exc:  # a reader failing on one broken file must not stop the others
            report.refuse(where, "unreadable", f"{type(exc).__name__}: {exc}")
    return list(documents.values()), report


def corpus_dirs(settings: Settings | None = None) -> list[Path]:
    settings = settings or get_settings()
    return [settings.assets_dir / "corpus", settings.data_dir / "sources"]


def load_corpus(settings: Settings | None = None) -> tuple[list[Document], LoadReport]:
    """The bundled guides plus those a user added under the data home."""
    report = LoadReport("corpus")
    documents: dict[str, Document] = {}
    for folder in corpus_dirs(settings):
        if not folder.is_dir():
            continue
        found, sub = load_markdown_dir(folder)
        report.problems += sub.problems
        report.reasons.update(sub.reasons)
        report.warnings += sub.warnings
        for doc in found:
            _add(documents, doc, doc.source, report)
    return list(documents.values()), report


def all_passages(documents: list[Document]) -> list[Passage]:
    return [p for doc in documents for p in doc.passages()]


def corpus_hash(documents: list[Document]) -> str:
    digest = hashlib.sha256()
    for passage in all_passages(documents):
        digest.update(f"{passage.passage_id}\n{passage.text}\n".encode())
    return digest.hexdigest()[:16]


_retriever_cache: dict[tuple, object] = {}
_retriever_lock = threading.Lock()  # the first callers wait for one build instead of each building


def _corpus_signature(settings: Settings) -> tuple:
    """Paths, sizes and modification times of every guide: cheap to read, changes with any edit."""
    return tuple(
        (str(path), stat.st_size, stat.st_mtime_ns)
        for folder in corpus_dirs(settings) if folder.is_dir()
        for path in sorted(folder.rglob("*.md")) for stat in [path.stat()]
    )


def corpus_retriever(settings: Settings | None = None):
    """The retriever over the current corpus; the guides are re-read only when a file changed,
    since RAFT variants call this on every chat turn."""
    settings = settings or get_settings()
    key = (str(settings.data_dir), _corpus_signature(settings))
    with _retriever_lock:
        if key not in _retriever_cache:
            documents, _ = load_corpus(settings)
            _retriever_cache.clear()
            _retriever_cache[key] = get_retriever(all_passages(documents), settings)
        return _retriever_cache[key]


def bundle_index(settings: Settings | None = None) -> Path:
    """Write the bundled guides' index into ``assets/index/<hash>/`` (``make guide-index``), replacing older ones,
    so fresh data homes load it instead of embedding every passage; returns its folder."""
    import tempfile
    from dataclasses import replace

    from travelbot.retrieval import Retriever

    settings = settings or get_settings()
    with tempfile.TemporaryDirectory() as home:
        bundled_only = replace(settings, home=Path(home))  # no guides a user added, no index already built
        documents, _ = load_corpus(bundled_only)
        retriever = Retriever(all_passages(documents), bundled_only)
        if retriever.bundled.exists():
            return retriever.bundled
        shutil.rmtree(settings.assets_dir / "index", ignore_errors=True)
        shutil.copytree(retriever.path, retriever.bundled)
        return retriever.bundled


def corpus_retriever_ready() -> bool:
    """Whether a retriever is loaded (the embedder and index take tens of seconds the first time)."""
    return bool(_retriever_cache)


def retrieve(question: str, k: int = 5) -> list[RetrievedPassage]:
    """The ``k`` corpus passages most relevant to a travel question, with doc id, title, section, text, score."""
    return corpus_retriever().retrieve(question, k)
