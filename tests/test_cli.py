"""The travelbot command, run as a real subprocess on the embedded model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "travelbot", *args], capture_output=True, text=True, timeout=timeout
    )


def test_variants_json_lists_the_embedded_base(home):
    result = run("variants", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    names = {v["name"]: v for v in data["variants"]}
    assert names["smollm2-135m"]["method"] == "base"
    assert names["smollm2-135m"]["backend"] == "transformers"


def test_chat_json_answers_and_logs_the_turn(home, backend):
    result = run("chat", "smollm2-135m", "Is Lisbon walkable?", "--max-new-tokens", "16", "--temperature", "0", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["answer"].strip() and data["variant"] == "smollm2-135m"
    assert 0 < data["tokens"] <= 16 and data["seconds"] > 0
    from travelbot.store import Store
    from travelbot.config import get_settings

    turns = Store(get_settings().database_url).turns(data["conversation_id"])
    assert [t.answer for t in turns] == [data["answer"]]


def test_chat_streams_plain_text(home, backend):
    result = run("chat", "smollm2-135m-precise", "Name one museum in Paris.", "--max-new-tokens", "12")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "tok/s" in result.stderr


def test_unknown_variant_exits_2_with_one_sentence(home):
    result = run("chat", "nope", "hello")
    assert result.returncode == 2
    assert result.stderr.startswith("Error: Unknown variant 'nope'; known variants:")
    assert "Traceback" not in result.stderr


def test_empty_message_exits_2(home):
    result = run("chat", "smollm2-135m", "   ")
    assert result.returncode == 2
    assert "message is empty" in result.stderr and "Traceback" not in result.stderr
