"""Copy a finished run's adapter somewhere else (e.g. ``assets/adapters/``) as a self-describing variant."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from travelbot.config import get_settings
from travelbot.errors import TravelbotError


def export_adapter(run: str, destination: Path, name: str | None = None, half: bool = True) -> Path:
    """The run's adapter (fp16 safetensors when ``half``), its travelbot.json renamed to ``name``, and the
    run's config, summary and metrics beside it; returns the new folder."""
    import torch
    from safetensors.torch import load_file, save_file

    root = Path(run) if Path(run).is_dir() else get_settings().runs_dir / run
    adapter = root / "adapter"
    if not (adapter / "adapter_model.safetensors").exists():
        raise TravelbotError(f"{root} has no trained adapter; is it a finished chat-variant run?")
    meta = json.loads((adapter / "travelbot.json").read_text(encoding="utf-8"))
    name = name or meta["name"]
    target = Path(destination) / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    tensors = load_file(adapter / "adapter_model.safetensors")
    if half:
        tensors = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in tensors.items()}
    save_file(tensors, target / "adapter_model.safetensors", metadata={"format": "pt"})
    shutil.copy(adapter / "adapter_config.json", target / "adapter_config.json")
    (target / "travelbot.json").write_text(json.dumps({**meta, "name": name, "trained_as": meta["name"]}, indent=2))
    for extra, renamed in (("config.json", "training_config.json"), ("run.json", "run.json"), ("metrics.json", "metrics.json")):
        if (root / extra).exists():
            shutil.copy(root / extra, target / renamed)
    return target


def merge_adapter(run: str, destination: Path, name: str | None = None) -> Path:
    """Base weights with the run's adapter merged in, saved as a plain safetensors model folder
    (for serving with vLLM/TGI or converting to GGUF)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from travelbot.models import get_registry
    from travelbot.models.loading import base_weights_location

    settings = get_settings()
    root = Path(run) if Path(run).is_dir() else settings.runs_dir / run
    adapter = root / "adapter"
    if not (adapter / "travelbot.json").exists():
        raise TravelbotError(f"{root} has no trained adapter; is it a finished chat-variant run?")
    meta = json.loads((adapter / "travelbot.json").read_text(encoding="utf-8"))
    base = get_registry(settings).bases().get(meta["base"])
    if base is None:
        raise TravelbotError(f"The run's base {meta['base']!r} is not an enabled base here.")
    location = base_weights_location(base, settings)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(location), str(adapter)).merge_and_unload()
    target = Path(destination) / (name or meta["name"])
    model.save_pretrained(target, safe_serialization=True)
    AutoTokenizer.from_pretrained(location).save_pretrained(target)
    (target / "travelbot.json").write_text(json.dumps({**meta, "merged": True}, indent=2))
    return target


def push_to_hub(folder: Path, repo_id: str) -> str:
    """Upload an exported adapter or merged model folder to a Hub model repo; returns its URL."""
    settings = get_settings()
    if not settings.hf_token:
        raise TravelbotError("Set HF_TOKEN (a write token from https://huggingface.co/settings/tokens) to push to the Hub.")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=settings.hf_token)
    try:
        url = api.create_repo(repo_id, repo_type="model", exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                          commit_message=f"travelbot: upload {Path(folder).name}")
    except (HfHubHTTPError, OSError) as exc:
        raise TravelbotError(f"Could not push {folder} to {repo_id} on the Hub ({exc}).") from exc
    return str(url)
