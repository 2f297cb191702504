"""QLoRA and RAFT: supervised fine-tuning of a LoRA adapter with TRL's SFTTrainer.

    travelbot train qlora --base smollm2-135m --preset cpu-demo
    travelbot train raft  --base smollm2-135m --preset cpu-demo

QLoRA trains on the SFT dataset (question -> answer) over a 4-bit NF4 base; RAFT trains on the RAFT
dataset (documents + question -> quoted reasoning + answer), and its variant retrieves at inference.
Both learn the answer only (the prompt is context, not a target), under the system prompt they are served with.
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset
from trl import SFTConfig, SFTTrainer

from travelbot.training.common import (
    ProgressCallback, load_policy, load_rows, lora_config, retrieval_meta, save_adapter, trainer_arguments,
)


def prompt_completion(messages: list[dict[str, str]], system: str) -> dict[str, list[dict[str, str]]]:
    """A chat row as TRL's conversational prompt/completion: the loss falls on the answer alone, and the
    prompt carries the system prompt the variant is served with (else the template would add its own)."""
    if messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system}, *messages]
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def train_sft(config, start, data_dir, paths, progress, notes: list[str]) -> dict[str, Any]:
    # -- data ------------------------------------------------------------------------------------
    name = "raft" if config.method == "raft" else "sft"
    train_rows = load_rows(data_dir, name, "train")
    eval_rows = load_rows(data_dir, name, "heldout", limit=config.eval_samples)
    system = start.effective_system_prompt
    train = Dataset.from_list([prompt_completion(r["messages"], system) for r in train_rows])
    evaluation = Dataset.from_list([prompt_completion(r["messages"], system) for r in eval_rows]) if eval_rows else None

    # -- model -----------------------------------------------------------------------------------
    model, tokenizer, device = load_policy(config, start, notes)

    # -- trainer ---------------------------------------------------------------------------------
    args = SFTConfig(
        **trainer_arguments(config, paths.root, device, evaluate=evaluation is not None),
        max_length=config.max_length, packing=config.packing, completion_only_loss=True,
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=train, eval_dataset=evaluation, processing_class=tokenizer,
        peft_config=None if start.adapter is not None else lora_config(config), callbacks=[ProgressCallback(progress)],
    )

    # -- train, evaluate, save ----------------------------------------------------------------------
    result = trainer.train()
    metrics = {"train_loss": result.training_loss, "train_rows": len(train_rows)}
    if evaluation is not None:
        logged = [h["eval_loss"] for h in trainer.state.log_history if "eval_loss" in h]
        metrics["eval_loss"] = logged[-1] if logged else trainer.evaluate()["eval_loss"]
    extra = retrieval_meta(data_dir=data_dir) if config.method == "raft" else {}
    save_adapter(trainer.model, tokenizer, config, start, paths, extra)
    return metrics
