"""A tiny real world for the tests: a temporary data home, real SQLite, the embedded model."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from travelbot.config import Settings, set_settings

TRAVEL_QUESTION = [{"role": "user", "content": "What is the best time of year to visit Kyoto?"}]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served_app(env: dict[str, str], log_path: Path, timeout: float = 180, cwd: Path | None = None,
               command: list[str] | None = None, port: int | None = None) -> Iterator[str]:
    """``travelbot serve`` (or ``command``, which must listen on ``port``) on a free port as a subprocess;
    yields its loopback URL once it answers."""
    port = port or free_port()
    command = command or [sys.executable, "-m", "travelbot", "serve", "--port", str(port)]
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"the server exited: {log_path.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not start in {timeout:.0f} s: {log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="session", autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data home per test session: the converted base is cached here once for all tests."""
    path = tmp_path_factory.mktemp("travelbot-home")
    os.environ["TRAVELBOT_HOME"] = str(path)  # for subprocesses (CLI, server)
    set_settings(Settings(home=path))
    return path


@pytest.fixture(scope="session")
def registry(home: Path):
    from travelbot.models import get_registry

    return get_registry()


@pytest.fixture(scope="session")
def base_variant(registry):
    return registry.variant("smollm2-135m")


@pytest.fixture(scope="session")
def backend(base_variant):
    """The transformers back-end of the embedded base (its torch model), whichever back-end serves chat."""
    from travelbot.models import backend_for

    return backend_for(base_variant.base, kind="transformers")


def _save_random_lora(model, out: Path, meta: dict | None, rank: int = 8, seed: int = 0) -> Path:
    """A real PEFT LoRA adapter with non-zero weights (B is random, not zero as at initialisation)."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    peft_model = get_peft_model(
        model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear", init_lora_weights=False)
    )
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.mul_(3.0)  # strong enough to change greedy output on the first tokens
    peft_model.save_pretrained(out)
    if meta is not None:
        (out / "travelbot.json").write_text(json.dumps(meta), encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def adapter_dir(home: Path, backend) -> Path:
    """A LoRA adapter for the embedded base, discovered as variant ``test-lora``."""
    from transformers import AutoModelForCausalLM

    cache = next((home / "bases").iterdir())
    model = AutoModelForCausalLM.from_pretrained(cache)
    return _save_random_lora(
        model, home / "adapters" / "test-lora", {"base": "smollm2-135m", "method": "qlora", "name": "test-lora"}
    )


@pytest.fixture(scope="session")
def foreign_adapter_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real LoRA adapter for a different (tiny, randomly initialised) Llama base."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2,
    )
    return _save_random_lora(LlamaForCausalLM(config), tmp_path_factory.mktemp("foreign") / "foreign-lora", None)


@pytest.fixture
def store(tmp_path: Path):
    from travelbot.store import Store

    store = Store(f"sqlite:///{tmp_path / 'test.db'}")
    yield store
    store.close()


def find_pandalm() -> Path | None:
    """The PandaLM human-annotated test set in the shared benchmarks folder beside the checkout."""
    here = Path(__file__).resolve()
    for root in (*here.parents[1:3], Path("/work")):
        folder = root / "shared" / "benchmarks" / "pandalm"
        if (folder / "testset-v1.json").is_file():
            return folder
    return None


@pytest.fixture(scope="session")
def pandalm_dir() -> Path:
    folder = find_pandalm()
    if folder is None:
        pytest.skip("the PandaLM test set (shared/benchmarks/pandalm) is not on this machine")
    return folder


# llama.cpp's native objects can abort the interpreter while it finalises ("terminate called without an active
# exception", exit 134) after every test has passed; the run's own status is reported instead.
_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
