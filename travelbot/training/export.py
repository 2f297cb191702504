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
