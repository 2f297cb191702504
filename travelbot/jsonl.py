"""JSONL reading that reports every bad line and still loads the rest, atomic JSONL writing, and JSON-safe copies."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from travelbot.errors import TravelbotError

MAX_FILE_BYTES = 512 * 2**20  # larger files are refused with a sentence, not read into memory


def json_safe(value: Any) -> Any:
    """A JSON-ready copy: numpy/torch scalars as Python numbers, non-finite floats as None (PostgreSQL's JSON
    and browsers reject NaN), keys as strings, anything else not JSON as its ``str()``."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "item"):  # numpy / torch scalars
        try:
            return json_safe(value.item())
        except (TypeError, ValueError):
            pass
    return str(value)


@dataclass
class LoadReport:
    """What a load kept and what it refused, line by line, so nothing is dropped silently."""

    source: str
    loaded: int = 0
    problems: list[str] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    def warn(self, where: str, message: str) -> None:
        """Something worth knowing that did not stop the record from loading."""
        self.warnings.append(f"{where}: {message}")

    def refuse(self, where: str, reason: str, detail: str = "") -> None:
        self.reasons[reason] += 1
        self.problems.append(f"{where}: {reason}{' — ' + detail if detail else ''}")

    @property
    def refused(self) -> int:
        return sum(self.reasons.values())

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "loaded": self.loaded,
            "refused": self.refused,
            "reasons": dict(self.reasons),
            "problems": self.problems[:50],
            "warnings": self.warnings[:50],
        }

    def merge(self, other: "LoadReport") -> None:
        self.loaded += other.loaded
        self.problems += other.problems
        self.reasons.update(other.reasons)
        self.warnings += other.warnings


def check_readable(path: Path, max_bytes: int = MAX_FILE_BYTES) -> None:
    """Refuse a missing, unreadable or oversized file with one sentence."""
    if not path.exists():
        raise TravelbotError(f"{path} does not exist.")
    if not path.is_file():
        raise TravelbotError(f"{path} is not a file.")
    size = path.stat().st_size
    if size > max_bytes:
        raise TravelbotError(f"{path} is {size / 2**20:.0f} MB; the limit is {max_bytes / 2**20:.0f} MB — split it.")
    if not os.access(path, os.R_OK):
        raise TravelbotError(f"{path} is not readable; check its permissions.")


def decode_text(raw: bytes) -> tuple[str, str]:
    """Text and the encoding used: UTF-8 (with or without BOM), else UTF-16 with a BOM, else Latin-1."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def read_jsonl(
    path: Path,
    report: LoadReport | None = None,
    validate: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], LoadReport]:
    """Records of a JSONL file; malformed lines, non-objects and records ``validate`` rejects
    (by raising ValueError with a reason) are reported per line and skipped."""
    path = Path(path)
    report = report or LoadReport(str(path))
    check_readable(path)
    text, encoding = decode_text(path.read_bytes())
    if encoding == "latin-1":
        report.warn(str(path), "not UTF-8; read as Latin-1 — re-save the file as UTF-8")
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            report.refuse(where, "malformed JSON", exc.msg)
            continue
        if not isinstance(record, dict):
            report.refuse(where, "not a JSON object", type(record).__name__)
            continue
        if validate is not None:
            try:
                record = validate(record)
            except ValueError as exc:
                report.refuse(where, str(exc))
                continue
        records.append(record)
        report.loaded += 1
    return records, report


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records atomically (a reader never sees half a file); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".partial") as tmp:
        for record in records:
            tmp.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    Path(tmp.name).replace(path)
    return count
