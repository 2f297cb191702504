"""Online RL against the reward model: GRPO (TRL) on travel questions.

    travelbot train rlhf --from raft --preset cpu-demo [--reward-model .travelbot/runs/reward-…]

The policy samples several answers per question; the reward model scores them; GRPO moves the
policy's adapter towards the better-scored answers. RAFT policies see their documents, and the
reward model judges the final answer after post-processing.
"""

from __future__ import annotations

import re
from typing import Any

from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from travelbot.config import get_settings
from travelbot.data.raft import parse_raft_answer
from travelbot.models.loading import base_weights_location
from travelbot.training.common import (
    ProgressCallback, load_policy, load_rows, lora_config, retrieval_meta, save_adapter, trainer_arguments,
)
from travelbot.training.reward import load_reward_model, newest_reward_model, score


RL_DOCUMENTS = 2  # sampling several answers per prompt is costly: RL prompts keep the oracle + one negative


def shorter_prompt(row: dict[str, Any]) -> str:
    """A RAFT prompt cut to the oracle document and one negative (same format the policy was trained on)."""
    content = row["messages"][0]["content"]
    blocks = re.findall(r"<DOCUMENT>.*?</DOCUMENT>", content, re.S)
    ids = row.get("document_ids") or []
    if len(blocks) != len(ids) or len(blocks) <= RL_DOCUMENTS:
        return content
    keep = sorted(range(len(ids)), key=lambda i: ids[i] != row.get("oracle_id"))[:RL_DOCUMENTS]
    kept = [blocks[i] for i in sorted(keep)]
    return "\n".join(kept) + content[content.rindex("</DOCUMENT>") + len("</DOCUMENT>"):]


def train_rlhf(config, start, data_dir, paths, progress, notes: list[str]) -> dict[str, Any]:
    settings = get_settings()
    # -- data: RAFT prompts (documents + question) for a RAFT policy, plain questions otherwise -------
    raft_policy = bool(start.retriever)
    rows = load_rows(data_dir, "raft" if raft_policy else "sft", "train")
    prompts = Dataset.from_list([
        {"prompt": [{"role": "system", "content": start.effective_system_prompt},
                    {"role": "user", "content": shorter_prompt(r) if raft_policy else r["messages"][0]["content"]}],
         "question": r.get("question") or r["messages"][0]["content"]}
        for r in rows
    ])

    # -- reward model ----------------------------------------------------------------------------
    reward_dir = newest_reward_model(settings.runs_dir, config.reward_model)
    reward_model, reward_tokenizer, _ = load_reward_model(base_weights_location(start.base, settings), None, notes,
                                                          adapter=reward_dir)

    def travel_reward(prompts, completions, question, **_: Any) -> list[float]:
        answers = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        if raft_policy:
            answers = [parse_raft_answer(a).answer for a in answers]
        return score(reward_model, reward_tokenizer, [[{"role": "user", "content": q}] for q in question], answers)

    def raft_format(completions, **_: Any) -> list[float]:
        """RAFT's own contract, rewarded beside the reward model: quote a document, then mark the answer."""
        answers = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [0.5 * parse_raft_answer(a).well_formed + 0.5 * bool(parse_raft_answer(a).quotes) for a in answers]

    # -- policy and trainer -------------------------------------------------------------------------
    model, tokenizer, device = load_policy(config, start, notes)
    args = GRPOConfig(**trainer_arguments(config, paths.root, device), num_generations=config.num_generations,
                      max_completion_length=config.max_completion_length)
    trainer = GRPOTrainer(
        model=model, reward_funcs=[travel_reward, raft_format] if raft_policy else [travel_reward], args=args, train_dataset=prompts, processing_class=tokenizer,
        peft_config=None if start.adapter is not None else lora_config(config), callbacks=[ProgressCallback(progress)],
    )

    # -- train and save --------------------------------------------------------------------------------
    result = trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    save_adapter(trainer.model, tokenizer, config, start, paths, retrieval_meta(start))
    return {"train_loss": result.training_loss, "reward_model": str(reward_dir), "reward_first": rewards[:1],
            "reward_last": rewards[-1:], "prompts": len(rows)}
