"""What every training method shares: the starting model, datasets, progress log and run outputs."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from travelbot import __version__
from travelbot.config import Settings, get_settings
from travelbot.errors import TravelbotError
from travelbot.models import Variant, get_registry
from travelbot.models.loading import base_weights_location, choose_device
from travelbot.training.config import TrainConfig

log = logging.getLogger(__name__)


# -- the starting point -------------------------------------------------------------------------
def starting_variant(config: TrainConfig) -> Variant:
    """The variant training starts from: a base, a named variant, or the newest variant of a method."""
    registry = get_registry()
    if config.base:
        return registry.variant(config.base)
    name = config.from_variant or ""
    variants = registry.variants()
    if name in variants:
        return variants[name]
    by_method = [v for v in variants.values() if v.method == name and v.adapter is not None]
    if by_method:
        return max(by_method, key=lambda v: v.adapter.stat().st_mtime)  # type: ignore[union-attr]
    return registry.variant(name)  # raises the clear "unknown variant" error


def four_bit_config(config: TrainConfig, notes: list[str]):
    """A BitsAndBytes NF4 config, or None (with a note saying why) when 4-bit is off or unavailable."""
    if not config.load_in_4bit:
        return None
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError:
        notes.append("bitsandbytes is not installed: trained plain LoRA instead of 4-bit QLoRA.")
        return None
    device = choose_device(get_settings().device)
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if device.startswith("cuda") else torch.float32,
    )


def load_policy(config: TrainConfig, start: Variant, notes: list[str], trainable: bool = True):
    """(model, tokenizer, device) for a causal LM: the start's base, 4-bit when asked, its adapter attached."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    settings = get_settings()
    location = base_weights_location(start.base, settings)
    device = choose_device(settings.device)
    quantization = four_bit_config(config, notes)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(location)
    model = AutoModelForCausalLM.from_pretrained(
        location, dtype=dtype, quantization_config=quantization,
        device_map={"": device} if quantization is not None else None,
    )
    if quantization is None:
        model.to(device)
    else:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    if start.adapter is not None:
        model = PeftModel.from_pretrained(model, str(start.adapter), is_trainable=trainable)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, device


def lora_config(config: TrainConfig, task_type: str = "CAUSAL_LM"):
    from peft import LoraConfig

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules="all-linear", task_type=task_type)


def trainer_arguments(config: TrainConfig, output: Path, device: str, evaluate: bool = False) -> dict[str, Any]:
    """The TrainingArguments every method shares; each adds its own (max_length, beta, generations...)."""
    arguments: dict[str, Any] = dict(
        output_dir=str(output / "checkpoints"), max_steps=config.max_steps, num_train_epochs=config.num_train_epochs,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, learning_rate=config.learning_rate,
        warmup_steps=round(config.warmup_ratio * max(config.max_steps, 0)), logging_steps=config.logging_steps,
        gradient_checkpointing=config.gradient_checkpointing, save_strategy="no", report_to=[], seed=config.seed,
        use_cpu=device == "cpu", bf16=device.startswith("cuda"), dataloader_num_workers=0,
    )
    if evaluate:
        arguments |= dict(eval_strategy="steps", eval_steps=config.eval_steps,
                          per_device_eval_batch_size=config.per_device_train_batch_size)
    return arguments


# -- datasets -----------------------------------------------------------------------------------
def dataset_dir(config: TrainConfig, settings: Settings, say=None) -> Path:
    """The dataset build to train on: the given folder, else the newest build (built now if none, telling
    ``say`` each step of the build)."""
    if config.dataset:
        path = Path(config.dataset)
        if not path.is_dir():
            path = settings.data_dir / "datasets" / config.dataset
        if not (path / "manifest.json").exists():
            raise TravelbotError(f"{config.dataset} is not a dataset build (no manifest.json); run `travelbot data build`.")
        return path
    latest = settings.data_dir / "datasets" / "LATEST"
    if latest.exists() and (Path(latest.read_text().strip()) / "manifest.json").exists():
        return Path(latest.read_text().strip())
    from travelbot.data.build import BuildConfig, build_datasets

    log.info("No dataset build yet: building one from the bundled corpus first")
    return Path(build_datasets(BuildConfig(), settings, progress=say)["out"])


def load_rows(folder: Path, name: str, split: str, limit: int | None = None) -> list[dict[str, Any]]:
    path = folder / name / f"{split}.jsonl"
    if not path.exists():
        raise TravelbotError(f"{path} is missing; rebuild the datasets with `travelbot data build`.")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows and split == "train":
        raise TravelbotError(f"{path} is empty: the {name} dataset has no training rows.")
    return rows[:limit] if limit else rows


# -- progress -----------------------------------------------------------------------------------
class ProgressLog:
    """``trainer_log.jsonl`` beside the run, mirrored into the store's job row when there is one."""

    def __init__(self, path: Path, job_id: int | None = None) -> None:
        self.path = path
        self.job_id = job_id
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: dict[str, Any]) -> None:
        event = {"time": datetime.now(UTC).isoformat(), **event}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(event, default=str) + "\n")
        if self.job_id is not None:
            try:
                from travelbot.jobs import finish_job, record_progress

                if event.get("event") == "end":
                    finish_job(self.job_id, event["status"], event.get("error"), event.get("metrics"))
                else:
                    record_progress(self.job_id, event)
            except ImportError:
                pass


class ProgressCallback(TrainerCallback):
    """Turns the Trainer's logs into progress events: step, epoch, losses, learning rate, tokens/s, ETA."""

    def __init__(self, progress: ProgressLog) -> None:
        self.progress = progress
        self.started = time.perf_counter()
        self.last_tokens = 0.0
        self.last_time = self.started

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "train_runtime" in logs:
            return
        now = time.perf_counter()
        elapsed = now - self.started
        tokens = float(logs.get("num_tokens") or state.num_input_tokens_seen or 0)
        rate = (tokens - self.last_tokens) / (now - self.last_time) if tokens and now > self.last_time else None
        self.last_tokens, self.last_time = tokens, now
        step, total = state.global_step, state.max_steps
        self.progress.write({
            "event": "log", "step": step, "max_steps": total, "epoch": round(state.epoch or 0, 4),
            "loss": logs.get("loss"), "eval_loss": logs.get("eval_loss"), "learning_rate": logs.get("learning_rate"),
            "reward": logs.get("reward"), "rewards/accuracies": logs.get("rewards/accuracies"),
            "tokens_per_second": round(rate, 1) if rate else None, "tokens_seen": int(tokens) if tokens else None,
            "elapsed_seconds": round(elapsed, 1),
            "eta_seconds": round(elapsed / step * (total - step), 1) if step else None,
        })


# -- outputs ------------------------------------------------------------------------------------
def code_revision() -> str:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).parent)
        return result.stdout.strip() or __version__
    except (OSError, subprocess.SubprocessError):
        return __version__


@dataclass
class RunPaths:
    root: Path

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"

    @property
    def log(self) -> Path:
        return self.root / "trainer_log.jsonl"


def retrieval_meta(start: Variant | None = None, data_dir: Path | None = None) -> dict[str, Any]:
    """What a retrieval-augmented variant reads per question, for its travelbot.json: the start
    variant's shape when continuing from one, else the RAFT shape of the dataset it trained on."""
    if start is not None and start.retriever:
        return {"retriever": start.retriever, "documents": start.documents, "passage_sentences": start.passage_sentences}
    if data_dir is None:
        return {}
    manifest = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))
    shape = manifest.get("raft_shape") or {"documents": 4, "passage_sentences": 0}
    return {"retriever": "corpus", **shape}


def save_adapter(model, tokenizer, config: TrainConfig, start: Variant, paths: RunPaths, extra: dict[str, Any]) -> Path:
    """PEFT adapter (safetensors) + travelbot.json, so the new variant appears in Chat at once."""
    from travelbot.data.raft import RAFT_MAX_NEW_TOKENS
    from travelbot.training.methods import TRAINING_METHODS

    model.save_pretrained(paths.adapter, safe_serialization=True)
    settings = start.settings.to_dict() | {"seed": None}
    if extra.get("retriever"):  # reasoning, quotes and the final answer need room to end on their own
        settings["max_new_tokens"] = max(settings["max_new_tokens"], RAFT_MAX_NEW_TOKENS)
    meta = {
        "name": config.name, "base": start.base.name, "method": TRAINING_METHODS[config.method].variant_method,
        "description": f"{config.method} ({config.preset}) from {start.name}",
        "settings": settings,
        **extra,
    }
    (paths.adapter / "travelbot.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return paths.adapter
