"""Every training method end to end on the real embedded model: a few steps, finite loss, a working adapter."""

from __future__ import annotations

import json
import math

import pytest
import torch

from travelbot.config import Settings, get_settings, set_settings
from travelbot.errors import TravelbotError
from travelbot.training import resolve_config
from travelbot.training.run import run_training

pytestmark = pytest.mark.slow
FAST = {"max_steps": 2, "max_length": 160, "per_device_train_batch_size": 2, "eval_samples": 2, "eval_steps": 50,
        "learning_rate": 5e-3, "lora_r": 4, "load_in_4bit": False}


@pytest.fixture
def runs_home(home, tmp_path):
    """Runs in a fresh folder per test, sharing the session's converted base."""
    previous = get_settings()
    settings = Settings(home=home, assets_dir=previous.assets_dir)
    set_settings(settings)
    yield settings
    set_settings(previous)


def _logits(variant, text="Tell me about Lisbon."):
    from travelbot.models import backend_for

    backend = backend_for(variant.base, kind="transformers")
    ids = backend.prompt_ids([{"role": "user", "content": text}])
    adapter = backend._adapter_name(variant)  # loads it (taking the lock) before we hold the lock

    with backend.lock, torch.inference_mode():
        from transformers import DynamicCache

        return backend._forward(adapter, ids, DynamicCache()).clone()


def _check_run(summary, settings, method):
    assert summary["status"] == "succeeded"
    assert math.isfinite(summary["metrics"]["train_loss"])
    root = settings.runs_dir / summary["name"]
    for name in ("config.json", "run.json", "metrics.json", "trainer_log.jsonl"):
        assert (root / name).exists(), name
    events = [json.loads(line) for line in (root / "trainer_log.jsonl").read_text().splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "end" and events[-1]["status"] == "succeeded"
    assert any(e["event"] == "log" and e.get("loss") is not None and e["max_steps"] == 2 for e in events)
    run = json.loads((root / "run.json").read_text())
    assert run["dataset_manifest_sha256"] and run["code_revision"]
    return root


def test_qlora_in_4bit_trains_and_its_adapter_changes_output(runs_home, dataset, base_variant, tmp_path):
    from travelbot.models import get_registry

    config = resolve_config("qlora", base="smollm2-135m", dataset=str(dataset), name="t-qlora",
                            overrides={**FAST, "load_in_4bit": True, "max_steps": 2})
    summary = run_training(config)
    root = _check_run(summary, runs_home, "qlora")
    assert not any("plain LoRA" in n for n in summary["notes"])  # bitsandbytes NF4 ran on the CPU
    behaviour = summary["metrics"]["behaviour"]
    assert behaviour["questions"] > 0 and 0 <= behaviour["reference_f1_after"] <= 1
    variant = get_registry().variant("t-qlora")
    assert variant.method == "qlora" and variant.adapter == root / "adapter"
    assert not list(root.glob("**/*.bin")) and (root / "adapter" / "adapter_model.safetensors").exists()
    before, after = _logits(base_variant), _logits(variant)
    assert (after - before).abs().max() > 1e-3
    assert torch.equal(_logits(base_variant), before)  # the base is unchanged

    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from travelbot.training.export import export_adapter, merge_adapter, push_to_hub

    exported = export_adapter("t-qlora", tmp_path / "exported", "shipped-qlora")
    assert {t.dtype for t in load_file(exported / "adapter_model.safetensors").values()} == {torch.float16}
    assert json.loads((exported / "travelbot.json").read_text())["name"] == "shipped-qlora"
    assert (exported / "training_config.json").exists() and (exported / "metrics.json").exists()
    merged = merge_adapter("t-qlora", tmp_path / "merged")
    from travelbot.models import backend_for

    ids = backend_for(base_variant.base, kind="transformers").prompt_ids([{"role": "user", "content": "Tell me about Lisbon."}])
    with torch.inference_mode():
        merged_logits = AutoModelForCausalLM.from_pretrained(merged)(input_ids=ids).logits[:, -1, :]
    assert torch.allclose(merged_logits, after, atol=1e-3)
    with pytest.raises(TravelbotError, match="HF_TOKEN"):
        push_to_hub(merged, "someone/travelbot-qlora")


def test_raft_variant_retrieves_and_dpo_rlhf_continue_from_it(runs_home, dataset, store):
    from travelbot.chat import reply
    from travelbot.models import get_registry

    raft = run_training(resolve_config("raft", base="smollm2-135m", dataset=str(dataset), name="t-raft",
                                       overrides=FAST), check_behaviour=False)
    _check_run(raft, runs_home, "raft")
    variant = get_registry().variant("t-raft")
    assert variant.method == "raft" and variant.retriever == "corpus"
    assert variant.settings.max_new_tokens == 384 > variant.base.settings.max_new_tokens  # room for quotes + answer
    answer = reply(variant, "Is it safe to walk around Bangkok at night?", store=store, max_new_tokens=16, temperature=0)
    answer.result()
    assert len(answer.passages) == 4 and "<DOCUMENT>" in answer.generation.messages[-1]["content"]
    assert answer.raft is not None and isinstance(answer.answer, str)

    dpo = run_training(resolve_config("dpo", from_variant="raft", dataset=str(dataset), name="t-dpo",
                                      overrides={**FAST, "sft_weight": 0.5}), check_behaviour=False)
    _check_run(dpo, runs_home, "dpo")
    assert dpo["metrics"]["sft_weight"] == 0.5  # DPO + NLL of the chosen answers (RPO) ran
    assert dpo["start_variant"] == "t-raft"
    assert get_registry().variant("t-dpo").retriever == "corpus"

    reward = run_training(resolve_config("reward", base="smollm2-135m", dataset=str(dataset), name="t-reward",
                                         overrides=FAST), check_behaviour=False)
    root = _check_run(reward, runs_home, "reward")
    accuracy = reward["metrics"]["heldout_accuracy"]
    assert accuracy["n"] == 2 and 0 <= accuracy["accuracy"] <= 1
    assert "t-reward" not in get_registry().variants()  # a reward model is not a chat variant
    assert (root / "reward_model" / "adapter_config.json").exists()

    rlhf = run_training(resolve_config("rlhf", from_variant="t-raft", dataset=str(dataset), name="t-rlhf",
                                       overrides={**FAST, "max_steps": 1, "num_generations": 2,
                                                  "max_completion_length": 8}), check_behaviour=False)
    assert rlhf["status"] == "succeeded" and rlhf["metrics"]["reward_model"].endswith("reward_model")
    assert get_registry().variant("t-rlhf").method == "rlhf"


def test_bad_training_requests_are_one_sentence(runs_home, dataset):
    with pytest.raises(TravelbotError, match="Unknown preset"):
        resolve_config("qlora", preset="tpu-pod", base="smollm2-135m")
    with pytest.raises(TravelbotError, match="Unknown training setting"):
        resolve_config("qlora", base="smollm2-135m", overrides={"warp_speed": 9})
    with pytest.raises(TravelbotError, match="must be a number"):
        resolve_config("qlora", base="smollm2-135m", overrides={"learning_rate": "fast"})
    # As typed on the command line: "2e-4" is a number although YAML 1.1 reads it as text.
    assert resolve_config("qlora", base="smollm2-135m", overrides={"learning_rate": "2e-4"}).learning_rate == 2e-4
    with pytest.raises(TravelbotError, match="either a base"):
        resolve_config("qlora", base="smollm2-135m", from_variant="x")
    with pytest.raises(TravelbotError, match="not a dataset build"):
        run_training(resolve_config("qlora", base="smollm2-135m", dataset="/nonexistent", name="t-bad", overrides=FAST))
    failed = json.loads((runs_home.runs_dir / "t-bad" / "run.json").read_text())
    assert failed["status"] == "failed" and "not a dataset build" in failed["error"]
    with pytest.raises(TravelbotError, match="already exists"):
        run_training(resolve_config("qlora", base="smollm2-135m", dataset="/nonexistent", name="t-bad", overrides=FAST))
