"""Adding a source: uploaded files become corpus guides or raw Reddit data under the data home.

- .md / .txt / .pdf / .html files (or a folder of them) -> one guide each in ``data/sources/``,
  which joins the corpus (and the retrieval index) at once.
- .jsonl of documents (``id``, ``title``, ``text``; optional ``region``, ``tags``, ``as_of``) -> guides.
- .jsonl of raw Reddit records (``kind`` post/comment, as ``travelbot data reddit`` writes) -> ``data/raw/``.

Every refused file or line is reported with a reason; what is usable is kept.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from travelbot.config import Settings, get_settings
from travelbot.data.corpus import FOLDER_SUFFIXES, Document, load_folder, parse_markdown
from travelbot.jsonl import LoadReport, read_jsonl, write_jsonl
from travelbot.errors import TravelbotError
from travelbot.retrieval import slugify


def guide_markdown(doc: Document) -> str:
    """A document as a guide file with front matter, readable by the corpus loader."""
    meta = {"id": doc.doc_id, "title": doc.title, "kind": doc.kind or "document", "region": doc.region or "",
            "tags": doc.tags, "as_of": doc.as_of or "", "source": doc.source}
    body = [f"# {doc.title}", ""]
    if doc.intro:
        body += [doc.intro, ""]
    for heading, text in doc.sections:
        body += [f"## {heading}", "", text, ""]
    return f"---\n{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)}---\n" + "\n".join(body)


def _validate_document(record: dict[str, Any]) -> dict[str, Any]:
    for key in ("id", "title", "text"):
        value = record.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key == "id":
            record[key] = str(value)  # numeric ids are common in exports
        elif not isinstance(value, str) or not value.strip():
            raise ValueError(f"field {key!r} must be non-empty text")
    tags = record.get("tags", [])
    if not isinstance(tags, list):
        raise ValueError("field 'tags' must be a list")
    return record


def _validate_reddit(record: dict[str, Any]) -> dict[str, Any]:
    if record.get("kind") not in ("post", "comment"):
        raise ValueError("field 'kind' must be 'post' or 'comment'")
    if not isinstance(record.get("id"), str) or not record["id"]:
        raise ValueError("field 'id' must be text")
    if not isinstance(record.get("body", ""), str):
        raise ValueError("field 'body' must be text")
    if not isinstance(record.get("score", 0), (int, float)) or isinstance(record.get("score"), bool):
        raise ValueError("field 'score' must be a number")
    return record


def _looks_like_reddit(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096).decode("utf-8", "replace")
    return '"kind"' in head and ('"post"' in head or '"comment"' in head)


def add_source(paths: list[Path], settings: Settings | None = None) -> dict[str, Any]:
    """Copy uploaded files into the data home as corpus guides or raw Reddit data; a report of what happened."""
    settings = settings or get_settings()
    sources_dir = settings.data_dir / "sources"
    report = LoadReport("upload")
    added: list[str] = []
    reddit_rows = 0
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += [p for p in sorted(path.rglob("*")) if p.is_file()]
        elif path.exists():
            files.append(path)
        else:
            report.refuse(str(path), "does not exist")
    documents: list[Document] = []
    with tempfile.TemporaryDirectory() as staging:
        for path in files:
            suffix = path.suffix.lower()
            if suffix == ".jsonl":
                if _looks_like_reddit(path):
                    rows, sub = read_jsonl(path, LoadReport(path.name), validate=_validate_reddit)
                    report.merge(sub)
                    if rows:
                        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
                        write_jsonl(settings.data_dir / "raw" / f"reddit-upload-{stamp}-{slugify(path.stem)}.jsonl", rows)
                        reddit_rows += len(rows)
                    continue
                rows, sub = read_jsonl(path, LoadReport(path.name), validate=_validate_document)
                report.merge(sub)
                report.loaded -= len(rows)  # counted again below, once each guide is written
                for row in rows:
                    try:
                        doc = parse_markdown(row["text"], str(row["id"]), path.name)
                    except ValueError as exc:
                        report.refuse(f"{path.name}:{row['id']}", str(exc))
                        continue
                    doc.doc_id, doc.title = slugify(str(row["id"])), row["title"].strip()
                    doc.region, doc.tags, doc.as_of = str(row.get("region", "")), row.get("tags", []), str(row.get("as_of", ""))
                    documents.append(doc)
            elif suffix in FOLDER_SUFFIXES:
                target = Path(staging) / path.name
                if target.exists():
                    report.refuse(path.name, "duplicate file name in this upload")
                    continue
                shutil.copyfile(path, target)
            else:
                report.refuse(path.name, "unsupported file type", f"use .jsonl or one of {', '.join(FOLDER_SUFFIXES)}")
        if any(Path(staging).iterdir()):
            found, sub = load_folder(Path(staging))
            report.problems += sub.problems
            report.reasons.update(sub.reasons)
            report.warnings += sub.warnings
            documents += found
    sources_dir.mkdir(parents=True, exist_ok=True)
    existing = {p.stem for p in sources_dir.glob("*.md")} | {p.stem for p in (settings.assets_dir / "corpus").rglob("*.md")}
    for doc in documents:
        if doc.doc_id in existing:
            report.refuse(doc.source or doc.doc_id, "duplicate id", f"a guide named {doc.doc_id!r} already exists")
            continue
        (sources_dir / f"{doc.doc_id}.md").write_text(guide_markdown(doc), encoding="utf-8")
        existing.add(doc.doc_id)
        added.append(doc.doc_id)
        report.loaded += 1
    if not added and not reddit_rows and not report.refused:
        raise TravelbotError("Nothing to add: upload .md, .txt, .pdf, .html or .jsonl files.")
    return {"guides_added": added, "reddit_records": reddit_rows, **report.summary()}
