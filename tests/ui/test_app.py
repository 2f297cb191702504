"""The dashboard, launched as a real server and driven through gradio_client."""

from __future__ import annotations

import os
import time
import urllib.request

import pytest

from tests.conftest import served_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(home):
    from gradio_client import Client

    with served_app({**os.environ, "TRAVELBOT_HOME": str(home)}, home / "server-app.log") as url:
        yield Client(url, verbose=False)


def _text(message: dict) -> str:
    content = message["content"]
    return "".join(part.get("text", "") for part in content) if isinstance(content, list) else content


def test_page_says_what_it_is(client):
    html = urllib.request.urlopen(client.src).read().decode()
    assert "travelbot" in html
    config = urllib.request.urlopen(client.src + "config").read().decode()
    # the embedded base is said to be a demo, in the header and in the Arena
    assert config.count("The embedded base is a 135M-parameter demo model") == 1 and "run on a small demo model" in config


def test_chat_answers_with_method_base_and_speed(client):
    textbox, conversation, status = client.predict(
        message="Is Rome expensive?", variant_name="smollm2-135m", system_prompt="",
        max_new_tokens=24, temperature=0.0, api_name="/chat",
    )
    assert textbox == "" and status == ""
    assert [m["role"] for m in conversation] == ["user", "assistant"]
    answer = _text(conversation[1])
    assert "base · base smollm2-135m" in answer and "tok/s" in answer
    assert answer.split("<sub>")[0].strip()


def test_chat_streams_in_several_updates(client):
    job = client.submit(
        message="Tell me about Kyoto in autumn.", variant_name="smollm2-135m", system_prompt="",
        max_new_tokens=32, temperature=0.0, api_name="/chat",
    )
    job.result(timeout=120)
    partial_answers = {_text(out[1][-1]) for out in job.outputs() if out[1]}
    assert len(partial_answers) > 3


def test_chat_with_an_adapter_variant_discovered_after_start(client, home, adapter_dir):
    import json
    import shutil

    late = home / "adapters" / "late-lora"
    shutil.copytree(adapter_dir, late)
    (late / "travelbot.json").write_text(json.dumps({"base": "smollm2-135m", "method": "qlora", "name": "late-lora"}))
    _, conversation, status = client.predict(
        message="Is Rome expensive?", variant_name="late-lora", system_prompt="",
        max_new_tokens=16, temperature=0.0, api_name="/chat",
    )
    assert status == ""
    assert "qlora · base smollm2-135m" in _text(conversation[-1])


@pytest.mark.parametrize(
    "message, expected",
    [("   ", "message is empty"), ("x" * 4001, "the limit is 4,000")],
)
def test_bad_messages_get_a_readable_note(client, message, expected):
    textbox, conversation, status = client.predict(
        message=message, variant_name="smollm2-135m", system_prompt="",
        max_new_tokens=16, temperature=0.0, api_name="/chat",
    )
    assert expected in status and conversation == []


def test_compare_streams_two_variants_side_by_side(client):
    status, *panels = client.predict(
        message="Is Rome expensive?", variant_names=["smollm2-135m", "smollm2-135m-precise"],
        max_new_tokens=16, temperature=0.0, api_name="/compare",
    )
    assert status == ""
    shown = [p for p in panels if p.get("visible")]
    assert len(shown) == 2
    assert shown[0]["value"].startswith("#### smollm2-135m\n") and "tok/s" in shown[0]["value"]
    assert shown[1]["value"].startswith("#### smollm2-135m-precise\n")


def test_compare_needs_two_variants(client):
    status, *panels = client.predict(
        message="Is Rome expensive?", variant_names=["smollm2-135m"], max_new_tokens=16, temperature=0.0,
        api_name="/compare",
    )
    assert "Pick between 2 and 4 variants" in status
    assert not any(p.get("visible") for p in panels)


def test_unknown_variant_is_a_readable_note(client):
    _, conversation, status = client.predict(
        message="hello", variant_name="gpt-9", system_prompt="", max_new_tokens=16, temperature=0.0, api_name="/chat"
    )
    assert "Unknown variant 'gpt-9'" in status and conversation == []


def test_stopping_an_answer_logs_it_as_cancelled(client, home):
    from travelbot.config import get_settings
    from travelbot.store import Store

    job = client.submit(
        message="Describe a two-week rail trip around Europe in detail.", variant_name="smollm2-135m",
        system_prompt="", max_new_tokens=1024, temperature=0.7, api_name="/chat",
    )
    deadline = time.time() + 60
    while len(job.outputs()) < 3 and time.time() < deadline:
        time.sleep(0.2)
    assert job.outputs(), "the answer should have started streaming"
    job.cancel()
    store = Store(get_settings().database_url)
    deadline = time.time() + 30
    while time.time() < deadline:
        cancelled = [t for t in store.turns() if t.finish_reason == "cancelled" and "rail trip" in t.messages[-1]["content"]]
        if cancelled:
            break
        time.sleep(0.5)
    assert cancelled and 0 < cancelled[0].completion_tokens < 1024


def test_data_tab_retrieves_passages(client):
    rows, note = client.predict(question="Is it safe to walk around Bangkok at night?", k=3, api_name="/retrieve")
    assert note == ""
    data = rows["data"] if isinstance(rows, dict) else rows
    assert len(data) == 3 and data[0][1].startswith("bangkok#")


def test_data_tab_adds_an_uploaded_guide(client, tmp_path):
    from gradio_client import handle_file

    guide = tmp_path / "faroe.md"
    guide.write_text("---\nid: faroe-upload\ntitle: Faroe Islands\n---\n## When to go\n\nJune for puffins.\n")
    junk = tmp_path / "junk.exe"
    junk.write_bytes(b"MZ")
    note = client.predict(files=[handle_file(str(guide)), handle_file(str(junk))], api_name="/add_source")
    assert "Added 1 guides" in note and "unsupported file type" in note
