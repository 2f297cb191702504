"""The store's feedback as files: votes (FastChat battle rows) and ratings, for mirroring and sharing."""

from __future__ import annotations

import json
from pathlib import Path

from travelbot.feedback.ratings import rating_rows
from travelbot.feedback.votes import export_votes
from travelbot.store import Store


def export_feedback(folder: Path, store: Store) -> dict[str, int]:
    """Write the store's votes (FastChat battle rows) and ratings as JSONL into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    votes = export_votes(folder / "votes.jsonl", store)
    rows = rating_rows(store)
    with (folder / "ratings.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return {"votes": votes, "ratings": len(rows)}
