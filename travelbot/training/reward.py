"""Reward model: a LoRA-tuned scalar head that scores answers, trained on preference pairs.

    travelbot train reward --base smollm2-135m --preset cpu-demo

Its held-out pairwise accuracy (does it score the chosen answer above the rejected one?) is saved
with the run. ``travelbot train rlhf`` then optimises a policy against it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from trl import RewardConfig, RewardTrainer

from travelbot.config import get_settings
from travelbot.errors import TravelbotError
from travelbot.models.loading import base_weights_location, choose_device
from travelbot.training.common import ProgressCallback, four_bit_config, load_rows, lora_config, trainer_arguments
from travelbot.training.dpo import preference_dataset

REWARD_DIR = "reward_model"


def load_reward_model(location, config, notes: list[str], adapter: Path | None = None):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = choose_device(get_settings().device)
    tokenizer = AutoTokenizer.from_pretrained(location)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    quantization = four_bit_config(config, notes) if config is not None else None
    model = AutoModelForSequenceClassification.from_pretrained(
        location, num_labels=1, quantization_config=quantization,
        dtype=torch.bfloat16 if device.startswith("cuda") else torch.float32,
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    if quantization is None:
        model.to(device)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter))
        model.eval()
    return model, tokenizer, device


def score(model, tokenizer, prompts: list[list[dict]], answers: list[str], batch_size: int = 8) -> list[float]:
    """Reward-model scores of answers to (chat) prompts."""
    texts = [tokenizer.apply_chat_template([*p, {"role": "assistant", "content": a}], tokenize=False)
             for p, a in zip(prompts, answers)]
    scores: list[float] = []
    device = next(model.parameters()).device
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True, truncation=True,
                          max_length=512).to(device)
        with torch.inference_mode():
            scores += model(**batch).logits[:, 0].float().tolist()
    return scores


def pairwise_accuracy(model, tokenizer, rows: list[dict[str, Any]]) -> dict[str, Any]:
    if not rows:
        return {"n": 0, "accuracy": None}
    prompts = [r["prompt"] for r in rows]
    chosen = score(model, tokenizer, prompts, [r["chosen"][-1]["content"] for r in rows])
    rejected = score(model, tokenizer, prompts, [r["rejected"][-1]["content"] for r in rows])
    wins = sum(c > r for c, r in zip(chosen, rejected))
    return {"n": len(rows), "accuracy": round(wins / len(rows), 4)}


def train_reward(config, start, data_dir, paths, progress, notes: list[str]) -> dict[str, Any]:
    # -- data ------------------------------------------------------------------------------------
    train_rows = load_rows(data_dir, "preferences", "train")
    heldout = load_rows(data_dir, "preferences", "heldout")

    # -- model -----------------------------------------------------------------------------------
    if start.adapter is not None:
        notes.append("A reward model starts from the base weights; the start variant's adapter is not used.")
    location = base_weights_location(start.base, get_settings())
    model, tokenizer, device = load_reward_model(location, config, notes)
    before = pairwise_accuracy(model, tokenizer, heldout)  # the untrained head: a chance-level reference

    # -- trainer ---------------------------------------------------------------------------------
    args = RewardConfig(**trainer_arguments(config, paths.root, device), max_length=config.max_length)
    trainer = RewardTrainer(model=model, args=args, train_dataset=preference_dataset(train_rows),
                            processing_class=tokenizer, peft_config=lora_config(config, "SEQ_CLS"),
                            callbacks=[ProgressCallback(progress)])

    # -- train, evaluate, save ----------------------------------------------------------------------
    result = trainer.train()
    trainer.model.eval()
    after = pairwise_accuracy(trainer.model, tokenizer, heldout)
    target = paths.root / REWARD_DIR
    trainer.model.save_pretrained(target, safe_serialization=True)
    (target / "travelbot.json").write_text(json.dumps({"kind": "reward", "base": start.base.name, "name": config.name}))
    return {"train_loss": result.training_loss, "train_pairs": len(train_rows),
            "heldout_accuracy": after, "heldout_accuracy_untrained": before}


def newest_reward_model(runs_dir: Path, explicit: str | None) -> Path:
    if explicit:
        path = Path(explicit)
        path = path / REWARD_DIR if (path / REWARD_DIR).exists() else path
        if not (path / "adapter_config.json").exists():
            raise TravelbotError(f"{explicit} is not a reward model run; train one with `travelbot train reward`.")
        return path
    found = sorted(runs_dir.glob(f"*/{REWARD_DIR}/adapter_config.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise TravelbotError("No reward model yet: run `travelbot train reward` first (or pass --reward-model).")
    return found[-1].parent
