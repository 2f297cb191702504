"""Training methods are declared once; configs resolve from presets, method sections and overrides."""

from __future__ import annotations

import inspect

import pytest

from travelbot.errors import TravelbotError
from travelbot.models.registry import VARIANT_METHODS
from travelbot.training.config import resolve_config
from travelbot.training.methods import METHODS, TRAINING_METHODS, Trainer


def test_every_method_loads_a_trainer_of_the_one_signature():
    expected = list(inspect.signature(Trainer.__call__).parameters)[1:]  # without self
    for method in TRAINING_METHODS.values():
        trainer = method.load()
        assert list(inspect.signature(trainer).parameters) == expected, method.name
        assert method.variant_method is None or method.variant_method in VARIANT_METHODS


def test_the_cli_and_the_config_take_exactly_the_declared_methods():
    from travelbot.cli import train

    assert tuple(next(p for p in train.params if p.name == "method").type.choices) == METHODS
    assert resolve_config("dpo").from_variant == "raft" and resolve_config("rlhf").from_variant == "raft"
    assert resolve_config("qlora").base == "smollm2-135m" and resolve_config("qlora").from_variant is None
    with pytest.raises(TravelbotError, match="Unknown training method 'ppo'; use one of qlora, raft, dpo, reward, rlhf"):
        resolve_config("ppo")


def test_dpo_sft_weight_is_checked():
    assert resolve_config("dpo", overrides={"sft_weight": 1.0}).sft_weight == 1.0
    with pytest.raises(TravelbotError, match="sft_weight"):
        resolve_config("dpo", overrides={"sft_weight": -1})
