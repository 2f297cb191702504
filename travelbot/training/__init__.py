"""Fine-tuning: QLoRA, RAFT, DPO, reward models and online RL, each a short story over TRL."""

from travelbot.training.config import METHODS, TrainConfig, list_presets, resolve_config, train_command

__all__ = ["METHODS", "TrainConfig", "list_presets", "resolve_config", "train_command"]
