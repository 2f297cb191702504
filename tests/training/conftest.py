"""A small but real dataset build shared by the training tests."""

from __future__ import annotations

import json

import pytest


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """A small but real dataset build: SFT, RAFT and preference rows with a manifest."""
    root = tmp_path_factory.mktemp("dataset")
    qa = [("When should I visit Kyoto?", "Early April for cherry blossoms or late November for autumn leaves."),
          ("How do I get from Lisbon airport to the centre?", "Take the red metro line; it takes about 25 minutes."),
          ("Is tap water safe in Mexico City?", "No; drink bottled or filtered water."),
          ("What should I eat in Rome?", "Try cacio e pepe, carbonara and supplì.")] * 2
    sft = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in qa]
    raft = [{"messages": [{"role": "user", "content": f"<DOCUMENT>Guide\n{a}</DOCUMENT>\n\nQuestion: {q}"},
                          {"role": "assistant", "content": f"##Reason: It says ##begin_quote## {a} ##end_quote##\n\n<ANSWER>: {a}"}],
             "question": q} for q, a in qa]
    prefs = [{"prompt": [{"role": "user", "content": q}], "chosen": [{"role": "assistant", "content": a}],
              "rejected": [{"role": "assistant", "content": "I am not sure, maybe ask someone else."}]} for q, a in qa]
    for name, rows in (("sft", sft), ("raft", raft), ("preferences", prefs)):
        _write(root / name / "train.jsonl", rows)
        _write(root / name / "heldout.jsonl", rows[:2])
    (root / "manifest.json").write_text(json.dumps({"build_id": "tiny"}))
    return root


