"""`travelbot data build`: every dataset and the manifest, from the corpus, a folder and Reddit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from travelbot.config import ASSETS_DIR, Settings
from travelbot.data.build import BuildConfig, build_datasets, file_sha256
from travelbot.data.leakage import normalize
from travelbot.data.questions import template_question
from travelbot.retrieval import Passage
from travelbot.data.raft import ANSWER, BEGIN_QUOTE, parse_raft_answer, split_sentences

GUIDE = """---
id: {id}
title: {title}
kind: destination
region: Asia
country: Japan
tags: [city]
as_of: 2025-06
---
# {title}

## When to go
{when}

## Food
{food}

## Safety
{safety}
"""
# The question the seed-0 template writes for kyoto#when-to-go, planted below as a golden *test* question.
LEAKED = template_question(Passage("kyoto#when-to-go", "kyoto", "Kyoto, Japan", "When to go", "", {"kind": "destination"}))


@pytest.fixture(scope="module")
def world(tmp_path_factory, home):
    """A tiny assets folder: three guides, a golden set with one planted leak, the bundled models.toml."""
    assets = tmp_path_factory.mktemp("assets")
    shutil.copy(ASSETS_DIR / "models.toml", assets / "models.toml")
    guides = assets / "corpus" / "destinations"
    guides.mkdir(parents=True)
    facts = {
        "kyoto": ("Kyoto, Japan", "Cherry blossoms peak in early April. Autumn leaves turn in late November.",
                  "Try kaiseki dinners and yudofu tofu near Nanzen-ji. Nishiki Market sells pickles.",
                  "Kyoto is very safe; the main risks are bikes on pavements and summer heat."),
        "osaka": ("Osaka, Japan", "Spring and autumn are mild. Summer is hot and humid with typhoons in September.",
                  "Takoyaki and okonomiyaki in Dotonbori; kushikatsu in Shinsekai.",
                  "Osaka is safe; watch for touts in Namba and pickpockets in crowded trains."),
        "nara": ("Nara, Japan", "Visit in spring or November; it is an easy day trip from Kyoto.",
                 "Kakinoha-zushi wrapped in persimmon leaves is the local speciality.",
                 "The deer in Nara Park can bite or butt when you hold crackers."),
    }
    for doc_id, (title, when, food, safety) in facts.items():
        (guides / f"{doc_id}.md").write_text(GUIDE.format(id=doc_id, title=title, when=when, food=food, safety=safety))
    golden = [
        {"id": "g1", "question": LEAKED, "reference_answer": "Early April or late November.", "question_type": "time_sensitive",
         "passage_ids": ["kyoto#when-to-go"], "split": "test"},
        {"id": "g2", "question": "Do the deer in Nara bite?", "reference_answer": "They can, if you hold crackers.",
         "question_type": "safety", "passage_ids": ["nara#safety"], "split": "dev"},
    ]
    (assets / "golden").mkdir()
    (assets / "golden" / "golden.jsonl").write_text("\n".join(json.dumps(g) for g in golden) + "\n")
    return Settings(home=home, assets_dir=assets)


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_bundled_build_writes_every_dataset_and_a_manifest(world, tmp_path):
    out = tmp_path / "build"
    manifest = build_datasets(
        BuildConfig(out=str(out), heldout_fraction=0.2, raft_distractors=2, raft_oracle_fraction=1.0, ungrounded_limit=4),
        world,
    )
    assert json.loads((out / "manifest.json").read_text()) == manifest
    sft = read(out / "sft" / "train.jsonl") + read(out / "sft" / "heldout.jsonl")
    assert len(sft) == 8  # 9 passages, one dropped as a leak
    assert manifest["leakage"]["dropped_exact"] == 1 and manifest["leakage"]["examples"][0]["golden"] == LEAKED
    assert all(normalize(row["messages"][0]["content"]) != normalize(LEAKED) for row in sft)
    assert {row["messages"][1]["role"] for row in sft} == {"assistant"}
    raft = read(out / "raft" / "train.jsonl")
    for row in raft:
        assert row["has_oracle"] and row["oracle_id"] in row["document_ids"] and len(row["document_ids"]) == 3
        assert BEGIN_QUOTE in row["messages"][1]["content"] and ANSWER in row["messages"][1]["content"]
        assert parse_raft_answer(row["messages"][1]["content"]).well_formed
    prefs = read(out / "preferences" / "train.jsonl") + read(out / "preferences" / "heldout.jsonl")
    assert 1 <= len(prefs) <= 4 and all(p["source"] == "grounded" for p in prefs)
    assert set(prefs[0]) >= {"prompt", "chosen", "rejected"}
    for name, splits in manifest["datasets"].items():
        for split in ("train", "heldout"):
            assert splits[split]["sha256"] == file_sha256(out / splits[split]["file"]), name
    source = manifest["sources"][0]
    assert (source["documents"], source["passages"], source["question_origins"]["template"]) == (3, 9, 9)
    assert manifest["retrieval"]["dev"]["n"] == 1 and manifest["config"]["seed"] == 0
    assert (world.data_dir / "datasets" / "LATEST").read_text() == str(out.resolve())


def test_a_concise_build_trims_answers_and_documents_and_pairs_raft_prompts(world, tmp_path):
    out = tmp_path / "concise"
    manifest = build_datasets(BuildConfig(out=str(out), heldout_fraction=0.2, raft_distractors=1,
                                          raft_oracle_fraction=1.0, raft_passage_sentences=2, answer_sentences=1,
                                          ungrounded_limit=4), world)
    assert manifest["raft_shape"] == {"documents": 2, "passage_sentences": 2}
    for row in read(out / "sft" / "train.jsonl"):
        assert len(split_sentences(row["messages"][1]["content"])) <= 1
    raft = read(out / "raft" / "train.jsonl") + read(out / "raft" / "heldout.jsonl")
    assert all(row["messages"][0]["content"].count("<DOCUMENT>") == 2 for row in raft)
    pairs = read(out / "raft_preferences" / "train.jsonl") + read(out / "raft_preferences" / "heldout.jsonl")
    assert pairs and all(p["source"] == "grounded-raft" for p in pairs)
    by_prompt = {row["messages"][0]["content"]: row["messages"][1]["content"] for row in raft}
    for pair in pairs:  # the RAFT prompt and target, against the same ungrounded answer as the plain pair
        assert by_prompt[pair["prompt"][0]["content"]] == pair["chosen"][0]["content"]
        assert ANSWER not in pair["rejected"][0]["content"]


def test_same_seed_same_datasets(world, tmp_path):
    config = dict(heldout_fraction=0.3, ungrounded_variant=None)
    first = build_datasets(BuildConfig(out=str(tmp_path / "a"), **config), world)
    second = build_datasets(BuildConfig(out=str(tmp_path / "b"), **config), world)
    for name in first["datasets"]:
        assert first["datasets"][name]["train"]["sha256"] == second["datasets"][name]["train"]["sha256"]


def test_folder_source(world, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "hakone.txt").write_text("Hakone has hot springs and views of Mount Fuji on clear winter mornings.")
    (folder / "junk.bin").write_bytes(b"\x00")
    manifest = build_datasets(BuildConfig(source=str(folder), out=str(tmp_path / "o"), ungrounded_variant=None), world)
    source = manifest["sources"][0]
    assert source["type"] == "folder" and source["documents"] == 1
    assert source["load"]["reasons"] == {"unsupported file type": 1}
    assert manifest["datasets"]["sft"]["train"]["rows"] + manifest["datasets"]["sft"]["heldout"]["rows"] == 1


def test_reddit_source(world, tmp_path):
    records = []
    for n in range(6):
        post = f"t3_p{n}"
        records.append({"id": post, "kind": "post", "post_id": post, "parent_id": None, "subreddit": "travel",
                        "title": f"Is a week in Osaka number {n} too long for a first trip?", "body": "", "score": 10})
        records.append({"id": f"t1_good{n}", "kind": "comment", "post_id": post, "parent_id": post, "score": 30,
                        "author": "a", "body": "A week is fine: add day trips to Nara, Kyoto and Himeji and you will never be bored."})
        records.append({"id": f"t1_bad{n}", "kind": "comment", "post_id": post, "parent_id": post, "score": 1,
                        "author": "b", "body": "Way too long, there is honestly nothing at all to do there after the first day."})
    raw = tmp_path / "reddit.jsonl"
    raw.write_text("\n".join(json.dumps(r) for r in records) + "\n{broken\n")
    manifest = build_datasets(
        BuildConfig(source="reddit", reddit_file=str(raw), out=str(tmp_path / "r"), ungrounded_variant=None), world
    )
    assert manifest["sources"][0]["load"]["reasons"] == {"malformed JSON": 1}
    sft = manifest["datasets"]["sft"]
    assert sft["train"]["rows"] + sft["heldout"]["rows"] == 6
    assert manifest["datasets"]["preferences"]["by_source"]["reddit"] == 6
    raft = read(tmp_path / "r" / "raft" / "train.jsonl")
    assert raft and all(row["oracle_id"].startswith("reddit-t3_p") for row in raft)


def test_reddit_source_without_data_is_one_sentence(world, tmp_path):
    from travelbot.errors import TravelbotError

    with pytest.raises(TravelbotError, match="run `travelbot data reddit` first"):
        build_datasets(BuildConfig(source="reddit", out=str(tmp_path / "x")), Settings(home=tmp_path, assets_dir=world.assets_dir))


@pytest.mark.slow
def test_cli_build_json(world, tmp_path):
    env = {**os.environ, "TRAVELBOT_ASSETS": str(world.assets_dir), "TRAVELBOT_HOME": str(world.home)}
    result = subprocess.run(
        [sys.executable, "-m", "travelbot", "data", "build", "--out", str(tmp_path / "cli"), "--ungrounded-limit", "2",
         "--json"], capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert set(manifest["datasets"]) == {"sft", "raft", "preferences", "raft_preferences"}
    assert (tmp_path / "cli" / "manifest.json").exists()
    bad = subprocess.run([sys.executable, "-m", "travelbot", "data", "build", "--source", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode == 1 and "is not a folder" in bad.stderr and "Traceback" not in bad.stderr
