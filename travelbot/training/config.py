"""Training configuration: a preset (YAML, one per hardware size) + a method + overrides.

The effective configuration is a flat dataclass saved as ``config.json`` beside every run, and it can
be turned back into the equivalent ``travelbot train`` command.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from travelbot.errors import TravelbotError
from travelbot.training.methods import METHODS, TRAINING_METHODS

PRESETS_DIR = Path(__file__).parent / "presets"


@dataclass
class TrainConfig:
    """Every setting of one training run."""

    method: str
    name: str
    preset: str = "cpu-demo"
    base: str | None = None  # start from a base's weights
    from_variant: str | None = None  # or continue from a variant's adapter (dpo/rlhf default: a raft variant)
    dataset: str | None = None  # a `travelbot data build` folder; default the newest build
    reward_model: str | None = None  # rlhf: the run folder of a reward model; default the newest
    # LoRA / quantisation
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    load_in_4bit: bool = False
    # optimisation
    learning_rate: float = 2e-4
    max_steps: int = 30
    num_train_epochs: float = 1.0
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    warmup_ratio: float = 0.0
    max_length: int = 512
    packing: bool = False
    gradient_checkpointing: bool = False
    logging_steps: int = 1
    eval_steps: int = 10
    eval_samples: int = 16
    seed: int = 0
    # preference / RL
    beta: float = 0.1
    sft_weight: float = 0.0  # dpo: weight of the chosen answers' NLL beside the preference loss (RPO); 0 = plain DPO
    num_generations: int = 4
    max_completion_length: int = 64
    # after training: how many golden dev questions to answer with the start and the new variant (0 = skip)
    behaviour_questions: int = 8

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise TravelbotError(f"Unknown training method {self.method!r}; use one of {', '.join(METHODS)}.")
        if bool(self.base) == bool(self.from_variant):
            raise TravelbotError("Give either a base (--base) or a variant to start from (--from), not both or neither.")
        checks = {
            "lora_r": self.lora_r >= 1, "lora_alpha": self.lora_alpha >= 1, "lora_dropout": 0 <= self.lora_dropout < 1,
            "learning_rate": 0 < self.learning_rate < 1, "max_steps": self.max_steps >= 1 or self.max_steps == -1,
            "per_device_train_batch_size": self.per_device_train_batch_size >= 1,
            "gradient_accumulation_steps": self.gradient_accumulation_steps >= 1, "max_length": self.max_length >= 32,
            "beta": self.beta > 0, "sft_weight": self.sft_weight >= 0, "num_generations": self.num_generations >= 2,
            "max_completion_length": self.max_completion_length >= 4,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise TravelbotError(f"Out-of-range training setting(s): {', '.join(bad)}.")
        if not self.name or any(c in self.name for c in "/\\ ") or self.name.startswith("."):
            raise TravelbotError(f"Run name {self.name!r} must be a plain folder name without spaces or slashes.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")


IDENTITY = {"method", "name", "preset", "base", "from_variant", "dataset", "reward_model"}
TUNABLE = {f.name for f in fields(TrainConfig)} - IDENTITY  # what presets and --set may change


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_preset(name: str, method: str) -> dict[str, Any]:
    """The preset's common settings with its method section on top."""
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.exists():
        raise TravelbotError(f"Unknown preset {name!r}; use one of {', '.join(list_presets())}.")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {"base": data.get("base"), **(data.get("common") or {}), **(data.get(method) or {})}


def _coerce(key: str, value: Any, like: Any) -> Any:
    if isinstance(value, str) and not isinstance(like, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            raise TravelbotError(f"Setting {key} has an unreadable value {value!r}.") from None
    if isinstance(like, bool):
        if not isinstance(value, bool):
            raise TravelbotError(f"Setting {key} must be true or false.")
        return value
    if isinstance(like, (int, float)) and not isinstance(like, bool):
        if isinstance(value, str):  # YAML 1.1 reads "2e-4" (no decimal point) as text; Python reads it as 0.0002
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TravelbotError(f"Setting {key} must be a number, not {value!r}.")
        return type(like)(value) if isinstance(like, float) or float(value).is_integer() else value
    return value


def resolve_config(
    method: str,
    *,
    preset: str = "cpu-demo",
    base: str | None = None,
    from_variant: str | None = None,
    dataset: str | None = None,
    name: str | None = None,
    reward_model: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainConfig:
    """Preset < method section < explicit overrides; unknown override keys are an error."""
    if method not in METHODS:
        raise TravelbotError(f"Unknown training method {method!r}; use one of {', '.join(METHODS)}.")
    settings = load_preset(preset, method)
    preset_base = settings.pop("base", None)
    unknown = set(overrides or {}) - TUNABLE
    if unknown:
        raise TravelbotError(f"Unknown training setting(s): {', '.join(sorted(unknown))}.")
    defaults = TrainConfig.__dataclass_fields__
    merged: dict[str, Any] = {}
    for key, value in {**settings, **(overrides or {})}.items():
        if key not in TUNABLE:
            continue
        merged[key] = _coerce(key, value, defaults[key].default)
    if not base and not from_variant:
        if TRAINING_METHODS[method].default_start:  # DPO and RLHF continue the RAFT variant, as the study did
            from_variant = TRAINING_METHODS[method].default_start
        else:
            base = preset_base
    name = name or f"{method}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    return TrainConfig(method=method, name=name, preset=preset, base=base, from_variant=from_variant,
                       dataset=dataset, reward_model=reward_model, **merged)


def train_command(config: TrainConfig, job_id: int | None = None) -> list[str]:
    """The ``travelbot train`` command line that reproduces this configuration."""
    args = ["travelbot", "train", config.method, "--preset", config.preset, "--name", config.name]
    args += ["--base", config.base] if config.base else ["--from", config.from_variant or ""]
    if config.dataset:
        args += ["--dataset", config.dataset]
    if config.reward_model:
        args += ["--reward-model", config.reward_model]
    preset = resolve_config(config.method, preset=config.preset, base="x").to_dict()
    for key in sorted(TUNABLE):
        value = getattr(config, key)
        if value != preset[key]:
            args += ["--set", f"{key}={json.dumps(value) if isinstance(value, bool) else value}"]
    if job_id is not None:
        args += ["--job-id", str(job_id)]
    return args

