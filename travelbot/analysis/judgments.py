"""Imported pairwise human judgments: a generic JSONL format, PandaLM's annotated test set, the store.

Generic JSONL, one object per line::

    {"item_id": "q1", "prompt": "...", "response_a": "...", "response_b": "...",
     "reference": "... (optional)",
     "labels": {"ann1": "A", "ann2": "tie", "ann3": "B"},          # one or more human labels
     "judges": {"gpt-4": "A", "my-judge": {"label": "B", "reason": "...", "reference": "..."}},  # optional
     "model_a": "llama-7b", "model_b": "opt-7b"}   # optional: the models that wrote response_a and response_b

With ``model_a`` and ``model_b`` on its items, a set also ranks those models, by people and by each judge
(separability and agreement with confidence, ``analysis.separability``); PandaLM's items name them in
``cmp_key``.

A judge asked in both presentation orders gives ``{"label": "A", "swapped": "B"}``: ``swapped`` is its verdict
when the two responses were shown the other way round, already mapped back to the original A/B.

Labels are "A", "B" or "tie" (also accepted: 1 / 2 / 0 and "model_a" / "model_b"). Every bad row is
refused with its reason and the rest are imported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from travelbot.analysis import repository
from travelbot.jsonl import LoadReport, check_readable, read_jsonl
from travelbot.errors import InvalidInputError, TravelbotError
from travelbot.store import Store, get_store

LABEL_NAMES = {"a": "A", "b": "B", "tie": "tie", "1": "A", "2": "B", "0": "tie", "model_a": "A", "model_b": "B",
               "tie (bothbad)": "tie", "c": "tie"}


@dataclass
class JudgmentItem:
    """Two responses to one prompt, the humans' labels and any judges' verdicts."""

    item_id: str
    prompt: str
    response_a: str | None  # None when the source held no text (e.g. a JSON boolean): labels still count
    response_b: str | None
    reference: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    judges: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_a: str | None = None  # the model that wrote response_a, where the source names it
    model_b: str | None = None


def normalise_label(value: Any) -> str:
    """"A", "B" or "tie" from the spellings in use; ValueError otherwise."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"label {value!r} is not A, B or tie")
    label = LABEL_NAMES.get(str(value).strip().lower())
    if label is None:
        raise ValueError(f"label {value!r} is not A, B or tie")
    return label


def _text(record: Mapping[str, Any], key: str, *, required: bool = True, allow_empty: bool = False) -> str | None:
    value = record.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} is not text ({type(value).__name__})")
    if required and not allow_empty and not value.strip():
        raise ValueError(f"{key} is empty")
    return value


def validate_judgment(record: dict[str, Any]) -> dict[str, Any]:
    """A generic-format row checked and normalised to JudgmentItem fields; ValueError with the reason."""
    item_id = record.get("item_id", record.get("id"))
    if not isinstance(item_id, (str, int)) or isinstance(item_id, bool) or str(item_id).strip() == "":
        raise ValueError("item_id is missing")
    labels = record.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise ValueError("labels must be an object of annotator id -> label, with at least one label")
    judges: dict[str, dict[str, Any]] = {}
    for name, verdict in (record.get("judges") or {}).items():
        entry = verdict if isinstance(verdict, dict) else {"label": verdict}
        judges[str(name)] = {**entry, **{key: normalise_label(entry[key]) if entry.get(key) is not None else None
                                         for key in ("label", "swapped") if key == "label" or key in entry}}
    return {"item_id": str(item_id), "prompt": _text(record, "prompt"),
            "response_a": _text(record, "response_a", allow_empty=True),
            "response_b": _text(record, "response_b", allow_empty=True), "reference": _text(record, "reference", required=False),
            "labels": {str(k): normalise_label(v) for k, v in labels.items()}, "judges": judges,
            "model_a": _text(record, "model_a", required=False) or None,
            "model_b": _text(record, "model_b", required=False) or None}


def load_jsonl_judgments(path: Path) -> tuple[list[JudgmentItem], LoadReport]:
    rows, report = read_jsonl(Path(path), validate=validate_judgment)
    items, seen = [], set()
    for row in rows:
        if row["item_id"] in seen:
            report.refuse(f"{Path(path).name} item {row['item_id']}", "duplicate item_id")
            report.loaded -= 1
            continue
        seen.add(row["item_id"])
        items.append(JudgmentItem(**row))
    return items, report


# PandaLM: annotator labels 1 / 2 / 0; judges' results "1" / "2" / "Tie" / "garbage" (or 1 / 2 / 0).
PANDALM_JUDGES = {"gpt-3.5-turbo": ("gpt-3.5-turbo-testset-v1.json", "gpt"),
                  "pandalm-7b": ("pandalm-7b-testset-v1.json", "pandalm")}


def _read_json_list(path: Path) -> list[Any]:
    check_readable(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TravelbotError(f"{path} is not a JSON file ({exc}).") from None
    if not isinstance(data, list):
        raise TravelbotError(f"{path} must hold a JSON list of items.")
    return data


def load_pandalm(path: Path, judge_files: Mapping[str, Path] | None = None) -> tuple[list[JudgmentItem], LoadReport]:
    """PandaLM's human-annotated test set (``testset-v1.json``, or the folder holding it) with the judges'
    verdicts matched by ``idx``; a verdict that could not be parsed ("garbage") counts as a tie, as the
    PandaLM authors count it, and keeps its raw value."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    testset = path / "testset-v1.json" if path.is_dir() else path
    report = LoadReport(str(testset))
    if judge_files is None:
        judge_files = {name: folder / file for name, (file, _) in PANDALM_JUDGES.items() if (folder / file).exists()}
    verdicts: dict[str, dict[str, dict[str, Any]]] = {}
    for name, file in judge_files.items():
        prefix = next((p for n, (_, p) in PANDALM_JUDGES.items() if n == name), None)
        by_idx: dict[str, dict[str, Any]] = {}
        for number, row in enumerate(_read_json_list(Path(file)), start=1):
            if not isinstance(row, dict) or "idx" not in row:
                report.refuse(f"{Path(file).name} row {number}", "judge row without idx")
                continue
            keys = [k for k in row if k.endswith("_result")]
            key_prefix = prefix or (keys[0][: -len("_result")] if keys else "")
            raw = row.get(f"{key_prefix}_result")
            try:
                label, unparseable = normalise_label(raw), False
            except ValueError:
                label, unparseable = "tie", True  # "garbage": PandaLM counts it as a tie
            by_idx[str(row["idx"])] = {"label": label, "raw": raw, "unparseable": unparseable,
                                       "reason": row.get(f"{key_prefix}_reason"),
                                       "reference": row.get(f"{key_prefix}_reference")}
        verdicts[name] = by_idx
    items = []
    for number, row in enumerate(_read_json_list(testset), start=1):
        where = f"{testset.name} item {row.get('idx', number) if isinstance(row, dict) else number}"
        try:
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            instruction = _text(row, "instruction", required=False) or ""
            extra = row.get("input")
            prompt = instruction + (f"\n\n{extra}" if isinstance(extra, str) and extra.strip() else "")
            if not prompt.strip():
                report.warn(where, "empty instruction")
            labels = {k: normalise_label(row[k]) for k in ("annotator1", "annotator2", "annotator3") if k in row}
            if not labels:
                raise ValueError("no annotator labels")
            idx = str(row.get("idx"))
            responses = []
            for key in ("response1", "response2"):
                value = row.get(key)
                if isinstance(value, str):
                    responses.append(value)
                else:  # the labels and verdicts are sound; only the text is unusable
                    responses.append(None)
                    report.refuse(where, f"{key} is not text ({type(value).__name__})",
                                  "response left out of text metrics; the item's labels and verdicts are kept")
            # "bloom-7b_llama-7b": response1 is the first model's (each model wins or loses its pairs in either slot)
            models = str(row.get("cmp_key") or "").split("_")
            model_a, model_b = models if len(models) == 2 and all(models) else (None, None)
            items.append(JudgmentItem(item_id=idx, prompt=prompt, response_a=responses[0], response_b=responses[1],
                                      labels=labels, judges={n: v[idx] for n, v in verdicts.items() if idx in v},
                                      model_a=model_a, model_b=model_b))
            report.loaded += 1
        except ValueError as exc:
            report.refuse(where, str(exc))
    return items, report


def import_judgments(items: list[JudgmentItem], set_name: str, source: str, store: Store | None = None,
                     *, replace: bool = True) -> int:
    """Store a judgment set (replacing one of the same name unless ``replace`` is False); returns the count."""
    store = store or get_store()
    if not set_name.strip():
        raise InvalidInputError("Give the judgment set a name.")
    repository.save_judgment_set(store, set_name, source, [asdict(item) for item in items], replace=replace)
    return len(items)


def judgment_sets(store: Store | None = None) -> dict[str, int]:
    """Imported set names with their item counts."""
    return repository.judgment_set_sizes(store or get_store())


def load_set(set_name: str, store: Store | None = None) -> list[JudgmentItem]:
    store = store or get_store()
    rows = repository.judgment_rows(store, set_name)
    if not rows:
        known = ", ".join(sorted(judgment_sets(store))) or "none yet"
        raise InvalidInputError(f"No judgment set named {set_name!r}; imported sets: {known}.")
    return [JudgmentItem(**row) for row in rows]


# Human judgment sets shipped in assets/: a fresh data home starts with them, so agreement has real data.
BUNDLED_SETS = {
    "pandalm": ("benchmarks/pandalm",
                "PandaLM's test set: 999 instruction–response pairs, each labelled by three people "
                "(WeOpenML/PandaLM, Apache-2.0), with the verdicts of two judges, gpt-3.5-turbo and PandaLM-7B"),
}


def import_bundled(store: Store | None = None, assets_dir: Path | None = None) -> list[str]:
    """Import the bundled judgment sets into a data home that has no judgment set yet; returns their names."""
    store = store or get_store()
    if judgment_sets(store):
        return []
    return [name for name in BUNDLED_SETS if import_bundled_set(name, store, assets_dir)]


def import_bundled_set(name: str, store: Store | None = None, assets_dir: Path | None = None) -> bool:
    """Import the bundled set ``name`` unless the data home has it already (or it is not bundled, or its files
    are missing); whether it was imported now."""
    from travelbot.config import get_settings

    store = store or get_store()
    if name not in BUNDLED_SETS or name in judgment_sets(store):
        return False
    folder = BUNDLED_SETS[name][0]
    path = (assets_dir or get_settings().assets_dir) / folder
    if not (path / "testset-v1.json").is_file():
        return False
    items, _ = load_pandalm(path)
    import_judgments(items, name, f"bundled:{folder}", store)
    return True
