"""Golden answers: travel questions with reviewed reference answers and the passages that support them.

Schema (one JSON object per line, ``assets/golden/golden.jsonl``; see docs/data.md):
``id``, ``question``, ``reference_answer``, ``question_type`` (general | destination | time_sensitive |
safety), ``passage_ids`` (``"<doc id>#<section slug>"``), ``split`` (dev | test).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from travelbot.config import Settings, get_settings
from travelbot.jsonl import LoadReport, read_jsonl
from travelbot.retrieval import section_id

QUESTION_TYPES = ("general", "destination", "time_sensitive", "safety")
SPLITS = ("dev", "test")


@dataclass(frozen=True)
class GoldenQuestion:
    id: str
    question: str
    reference_answer: str
    question_type: str
    passage_ids: tuple[str, ...]
    split: str

    @property
    def doc_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.split("#")[0] for p in self.passage_ids))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passage_ids": list(self.passage_ids)}


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"field {key!r} must be non-empty text")
    return value.strip()


def validate_golden(record: dict[str, Any]) -> dict[str, Any]:
    """A golden record with checked fields, or ValueError naming what is wrong."""
    question_type = _text(record, "question_type")
    if question_type not in QUESTION_TYPES:
        raise ValueError(f"question_type {question_type!r} is not one of {', '.join(QUESTION_TYPES)}")
    split = record.get("split", "test")
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    passage_ids = record.get("passage_ids")
    if not isinstance(passage_ids, list) or not passage_ids or not all(isinstance(p, str) and "#" in p for p in passage_ids):
        raise ValueError("passage_ids must be a non-empty list of '<doc id>#<section>' strings")
    return {
        "id": _text(record, "id"), "question": _text(record, "question"),
        "reference_answer": _text(record, "reference_answer"), "question_type": question_type,
        "passage_ids": passage_ids, "split": split,
    }


def golden_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).assets_dir / "golden" / "golden.jsonl"


def load_golden(
    path: Path | None = None, known_passages: set[str] | None = None, split: str | None = None
) -> tuple[list[GoldenQuestion], LoadReport]:
    """Golden questions; bad lines, duplicate ids and citations of unknown passages are reported."""
    records, report = read_jsonl(path or golden_path(), validate=validate_golden)
    questions: list[GoldenQuestion] = []
    seen: set[str] = set()
    for record in records:
        if record["id"] in seen:
            report.refuse(record["id"], "duplicate id")
            report.loaded -= 1
            continue
        missing = [p for p in record["passage_ids"] if known_passages is not None and p not in known_passages]
        if missing:
            report.refuse(record["id"], "cites unknown passages", ", ".join(missing))
            report.loaded -= 1
            continue
        seen.add(record["id"])
        if split is None or record["split"] == split:
            questions.append(GoldenQuestion(**{**record, "passage_ids": tuple(record["passage_ids"])}))
    return questions, report


def recall_at_k(questions: list[GoldenQuestion], retriever, k: int = 5) -> dict[str, Any]:
    """Share of golden questions whose oracle passage (any cited one) is in the top ``k`` retrieved."""
    hits = 0
    by_type: dict[str, list[int]] = {}
    misses: list[str] = []
    for question in questions:
        sections = {section_id(r.passage_id) for r in retriever.retrieve(question.question, k)}
        hit = int(any(p in sections for p in question.passage_ids))
        hits += hit
        by_type.setdefault(question.question_type, []).append(hit)
        if not hit:
            misses.append(question.id)
    n = len(questions)
    return {
        "k": k,
        "n": n,
        "recall": round(hits / n, 4) if n else None,
        "by_type": {t: {"n": len(v), "recall": round(sum(v) / len(v), 4)} for t, v in sorted(by_type.items())},
        "misses": misses,
    }

