"""The registry: bases and variants from models.toml files and discovered adapter folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from travelbot.config import Settings
from travelbot.errors import TravelbotError, UnknownVariantError
from travelbot.models import Registry


@pytest.fixture
def isolated(tmp_path: Path) -> Registry:
    return Registry(Settings(home=tmp_path / "home"))


def test_bundled_bases_and_variants(isolated):
    variants = isolated.variants()
    assert {"smollm2-135m", "smollm2-135m-precise"} <= set(variants)
    assert variants["smollm2-135m"].method == "base"
    assert variants["smollm2-135m-precise"].settings.temperature == 0.0
    assert "mistral-7b" not in variants  # disabled until its weights are on the machine
    assert "mistral-7b" not in isolated.bases()


def test_unknown_variant_lists_known_names(isolated):
    with pytest.raises(UnknownVariantError, match="smollm2-135m") as info:
        isolated.variant("gpt-9")
    assert info.value.exit_code == 2


def test_new_adapter_appears_without_restart(isolated, adapter_dir):
    home = isolated.settings.home
    assert "fresh" not in isolated.variants()
    target = home / "runs" / "job-1" / "adapter"
    shutil.copytree(adapter_dir, target)
    (target / "travelbot.json").write_text(json.dumps({"base": "smollm2-135m", "method": "raft", "name": "fresh"}))
    variant = isolated.variant("fresh")
    assert (variant.method, variant.adapter, variant.base.name) == ("raft", target, "smollm2-135m")


def test_a_raft_variant_reads_the_shape_it_was_trained_on(isolated, adapter_dir):
    from travelbot.chat import retrieve_for
    from travelbot.data.raft import split_sentences

    target = isolated.settings.home / "adapters" / "short-raft"
    shutil.copytree(adapter_dir, target)
    meta = {"base": "smollm2-135m", "method": "raft", "name": "short-raft", "retriever": "corpus",
            "documents": 2, "passage_sentences": 3}
    (target / "travelbot.json").write_text(json.dumps(meta))
    variant = isolated.variant("short-raft")
    assert (variant.documents, variant.passage_sentences) == (2, 3)
    assert variant.summary()["documents"] == 2
    hits, prompt = retrieve_for(variant, "Which neighbourhoods are good to stay in Mexico City?")
    blocks = prompt.split("<DOCUMENT>")[1:]
    assert len(hits) == 2 and len(blocks) == 2 and "mexico-city" in hits[0].passage_id
    for block in blocks:
        text = block.split("\n", 1)[1].split("</DOCUMENT>")[0]
        assert len(split_sentences(text)) <= 3
    assert retrieve_for(isolated.variant("smollm2-135m"), "Hi")[1] == "Hi"  # no retriever: the question as is

    (target / "travelbot.json").write_text(json.dumps({**meta, "documents": 0}))
    assert "short-raft" not in isolated.variants()
    assert "documents must be 1–20" in " ".join(isolated.problems)


def test_adapter_without_metadata_is_matched_by_its_recorded_base(isolated, adapter_dir):
    target = isolated.settings.home / "adapters" / "plain"
    shutil.copytree(adapter_dir, target)
    (target / "travelbot.json").unlink()
    config = json.loads((target / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "HuggingFaceTB/SmolLM2-135M-Instruct"
    (target / "adapter_config.json").write_text(json.dumps(config))
    assert isolated.variant("plain").base.name == "smollm2-135m"


def test_unusable_adapters_are_skipped_with_a_reason(isolated, foreign_adapter_dir):
    adapters = isolated.settings.home / "adapters"
    shutil.copytree(foreign_adapter_dir, adapters / "foreign")
    (adapters / "broken").mkdir(parents=True)
    (adapters / "broken" / "adapter_config.json").write_text("{oops")
    variants = isolated.variants()
    assert "foreign" not in variants and "broken" not in variants
    problems = " ".join(isolated.problems)
    assert "foreign" in problems and "not an enabled base" in problems
    assert "unreadable adapter metadata" in problems


def test_user_models_file_adds_a_second_base_and_variant(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "models.toml").write_text(
        """
[bases.remote-mistral]
endpoint = "http://127.0.0.1:9/v1"
model = "mistral-7b-instruct"

[variants.remote-raft]
base = "remote-mistral"
method = "raft"
endpoint_model = "mistral-raft"
settings = { max_new_tokens = 64 }
"""
    )
    registry = Registry(Settings(home=home))
    variant = registry.variant("remote-raft")
    assert not variant.base.local
    assert (variant.method, variant.settings.max_new_tokens) == ("raft", 64)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[bases.x\n", "not valid TOML"),
        ('[bases.x]\nmodel_id = "a"\nlocal_dir = "b"\n', "exactly one"),
        ('[bases.x]\nmodel_id = "a"\ncolour = "red"\n', "unknown key"),
        ('[variants.y]\nbase = "smollm2-135m"\nmethod = "magic"\n', "method 'magic'"),
        ('[variants.y]\nbase = "smollm2-135m"\nsettings = { temperature = 99 }\n', "temperature"),
    ],
)
def test_bad_models_file_is_a_clear_error(tmp_path, text, message):
    home = tmp_path / "home"
    home.mkdir()
    (home / "models.toml").write_text(text)
    with pytest.raises(TravelbotError, match=message):
        Registry(Settings(home=home)).variants()
