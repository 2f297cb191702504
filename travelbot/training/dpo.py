"""DPO: direct preference optimisation of a variant on preference pairs (the study's "RLHF" stage).

    travelbot train dpo --from raft --preset cpu-demo

Starting from a variant's adapter, that adapter keeps training and a frozen copy of the same
variant is the reference model, so the result is still one adapter on the base.
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from travelbot.training.common import (
    ProgressCallback, load_policy, load_rows, lora_config, retrieval_meta, save_adapter, trainer_arguments,
)


def preference_dataset(rows: list[dict[str, Any]], system: str | None = None) -> Dataset:
    """TRL preference rows; with ``system``, each prompt carries the system prompt the variant is served with."""
    with_system = lambda prompt: prompt if system is None or prompt[0]["role"] == "system" else [  # noqa: E731
        {"role": "system", "content": system}, *prompt]
    return Dataset.from_list([{"prompt": with_system(r["prompt"]), "chosen": r["chosen"], "rejected": r["rejected"]}
                              for r in rows])


def train_dpo(config, start, data_dir, paths, progress, notes: list[str]) -> dict[str, Any]:
    # -- data ------------------------------------------------------------------------------------
    # A RAFT start answers documents + question: it learns from the same pairs shown in that format
    # (builds before RAFT-format pairs existed fall back to the plain ones).
    raft_pairs = start.retriever and (data_dir / "raft_preferences" / "train.jsonl").exists()
    name = "raft_preferences" if raft_pairs else "preferences"
    train_rows = load_rows(data_dir, name, "train")
    eval_rows = load_rows(data_dir, name, "heldout", limit=config.eval_samples)

    system = start.effective_system_prompt

    # -- model and reference ----------------------------------------------------------------------
    model, tokenizer, device = load_policy(config, start, notes)
    reference = None
    if start.adapter is not None:
        reference, _, _ = load_policy(config, start, notes, trainable=False)
        reference = reference.merge_and_unload()  # a plain model: TRL's fused reference pass expects one
        reference.eval()

    # -- trainer ---------------------------------------------------------------------------------
    # With sft_weight > 0 the chosen answers' negative log-likelihood is added to the preference loss
    # (RPO, Pang et al. 2024): on pairs this easy to tell apart, plain DPO drives the margin up by making
    # both answers unlikely, and the policy drifts from the format it was trained to keep.
    loss = {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, config.sft_weight]} if config.sft_weight else {}
    args = DPOConfig(
        **trainer_arguments(config, paths.root, device, evaluate=bool(eval_rows)),
        beta=config.beta, max_length=config.max_length, **loss,
    )
    trainer = DPOTrainer(
        model=model, ref_model=reference, args=args, train_dataset=preference_dataset(train_rows, system),
        eval_dataset=preference_dataset(eval_rows, system) if eval_rows else None, processing_class=tokenizer,
        peft_config=None if start.adapter is not None else lora_config(config), callbacks=[ProgressCallback(progress)],
    )

    # -- train, evaluate, save ----------------------------------------------------------------------
    result = trainer.train()
    metrics: dict[str, Any] = {"train_loss": result.training_loss, "train_pairs": len(train_rows), "pairs": name,
                               "sft_weight": config.sft_weight}
    if eval_rows:
        evaluated = trainer.evaluate()
        metrics |= {k.removeprefix("eval_"): v for k, v in evaluated.items() if k.startswith("eval_")}
    save_adapter(trainer.model, tokenizer, config, start, paths, retrieval_meta(start))
    return metrics
