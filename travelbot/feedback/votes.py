"""Votes as FastChat battle rows: read from the store, exported to JSONL and imported from it.

A row has FastChat's keys (``question_id``, ``model_a``, ``model_b``, ``winner``, ``judge``,
``conversation_a``/``conversation_b``, ``turn``, ``anony``, ``tstamp``) plus travelbot's own
(``voter_id``, ``voter_name``, ``flagged``, ``flag_reason``, ``settings``, ``source``), so files from
Chatbot Arena's public dumps import and travelbot's exports load in FastChat's ``elo_analysis``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from travelbot.feedback import repository
from travelbot.jsonl import LoadReport, read_jsonl, write_jsonl
from travelbot.schema import WINNERS, utc_now
from travelbot.store import Store, get_store


def battle_rows(store: Store | None = None, *, include_flagged: bool = True) -> list[dict[str, Any]]:
    """Every vote in the store as a FastChat battle row, oldest first."""
    rows = repository.vote_rows(store or get_store(), include_flagged=include_flagged)
    return [{
        "question_id": row["battle_id"], "model_a": row["model_a"], "model_b": row["model_b"],
        "winner": row["winner"], "judge": row["judge"],
        "conversation_a": row["conversation_a"], "conversation_b": row["conversation_b"],
        "turn": row["turns"], "anony": True, "tstamp": row["created_at"].timestamp(),
        "voter_id": row["voter_id"], "voter_name": row["voter_name"], "flagged": bool(row["flagged"]),
        "flag_reason": row["flag_reason"], "settings": row["settings"], "source": row["source"],
    } for row in rows]


def export_votes(path: Path, store: Store | None = None, *, include_flagged: bool = True) -> int:
    """Write the store's votes as FastChat battle rows to a JSONL file; returns how many."""
    return write_jsonl(Path(path), battle_rows(store, include_flagged=include_flagged))


def _conversation(value: Any, key: str) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(m, dict) and m.get("role") in ("user", "assistant", "system") and isinstance(m.get("content"), str)
        for m in value
    ):
        raise ValueError(f"{key} must be a list of {{role, content}} messages with text content")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def validate_battle_row(record: dict[str, Any]) -> dict[str, Any]:
    """A FastChat battle row checked and normalised; raises ValueError with the reason."""
    for key in ("model_a", "model_b"):
        if not isinstance(record.get(key), str) or not record[key].strip():
            raise ValueError(f"{key} must be a non-empty string")
    if record["model_a"].strip() == record["model_b"].strip():
        raise ValueError("model_a and model_b are the same model")
    if record.get("winner") not in WINNERS:
        raise ValueError(f"winner must be one of {', '.join(WINNERS)}, not {record.get('winner')!r}")
    tstamp = record.get("tstamp")
    if tstamp is not None and (isinstance(tstamp, bool) or not isinstance(tstamp, (int, float))):
        raise ValueError("tstamp must be a number of seconds since 1970")
    for key in ("judge", "question_id", "voter_id", "voter_name"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise ValueError(f"{key} must be a string")
    conversation_a = _conversation(record.get("conversation_a"), "conversation_a")
    conversation_b = _conversation(record.get("conversation_b"), "conversation_b")
    battle_id = record.get("question_id") or hashlib.sha256(
        json.dumps(record, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]
    return {
        "battle_id": battle_id, "model_a": record["model_a"].strip(), "model_b": record["model_b"].strip(),
        "winner": record["winner"], "judge": record.get("judge") or "imported",
        "voter_id": record.get("voter_id") or f"import:{record.get('judge') or 'unknown'}",
        "voter_name": record.get("voter_name"),
        "conversation_a": conversation_a, "conversation_b": conversation_b,
        "turns": int(record.get("turn") or sum(1 for m in conversation_a if m["role"] == "user") or 1),
        "settings": record.get("settings") if isinstance(record.get("settings"), dict) else {},
        "flagged": bool(record.get("flagged")), "flag_reason": record.get("flag_reason"),
        "created_at": datetime.fromtimestamp(tstamp, UTC) if tstamp is not None else utc_now(),
    }


def import_votes(path: Path, store: Store | None = None) -> LoadReport:
    """Add the battle rows of a JSONL file to the store; bad rows and battles already there are reported."""
    store = store or get_store()
    path = Path(path)
    rows, report = read_jsonl(path, validate=validate_battle_row)
    added = repository.add_imported_votes(store, rows, f"import:{path.name}")
    for number, (row, new) in enumerate(zip(rows, added, strict=True), start=1):
        if not new:
            report.refuse(f"{path.name} row {number}", "battle already in the store", row["battle_id"])
    report.loaded = sum(added)
    return report
