"""Every training method, declared once: its trainer function, what its result is, where it starts.

``travelbot train``'s choices, the Train tab's dropdown, config checks and the run's dispatch all derive
from ``TRAINING_METHODS``. A new method is one module with a ``train_<name>`` function of the
:class:`Trainer` signature, and one line here. The trainer modules import TRL, so each is imported only
when a run of its method starts.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from travelbot.models import Variant
    from travelbot.training.common import ProgressLog, RunPaths
    from travelbot.training.config import TrainConfig


class Trainer(Protocol):
    def __call__(self, config: TrainConfig, start: Variant, data_dir: Path, paths: RunPaths, progress: ProgressLog,
                 notes: list[str]) -> dict[str, Any]:
        """Train from ``start`` on the build in ``data_dir``, save into ``paths``; return the run's metrics."""
        ...


@dataclass(frozen=True)
class TrainingMethod:
    name: str  # what `travelbot train` takes
    description: str
    trainer: str  # "module:function", imported when a run starts
    variant_method: str | None  # the method label of the chat variant it makes (None: not a chat variant)
    default_start: str | None = None  # the variant it continues from unless told (None: the preset's base)

    def load(self) -> Trainer:
        module, function = self.trainer.split(":")
        return getattr(importlib.import_module(module), function)


TRAINING_METHODS: dict[str, TrainingMethod] = {m.name: m for m in (
    TrainingMethod("qlora", "supervised fine-tuning on question -> answer, over a 4-bit (NF4) base when the preset "
                   "says so", "travelbot.training.sft:train_sft", "qlora"),
    TrainingMethod("raft", "supervised fine-tuning on documents + question -> quoted reasoning and a marked answer",
                   "travelbot.training.sft:train_sft", "raft"),
    TrainingMethod("dpo", "direct preference optimisation on preference pairs, continuing a variant's adapter",
                   "travelbot.training.dpo:train_dpo", "dpo", default_start="raft"),
    TrainingMethod("reward", "a reward model (sequence classifier) on preference pairs, for rlhf",
                   "travelbot.training.reward:train_reward", None),
    TrainingMethod("rlhf", "online RL (GRPO) against a reward model, continuing a variant's adapter",
                   "travelbot.training.rlhf:train_rlhf", "rlhf", default_start="raft"),
)}
METHODS = tuple(TRAINING_METHODS)
