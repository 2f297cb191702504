"""The dashboard as the public reaches it: every attack is a real request (gradio_client or raw HTTP) against
a launched server, in-process on loopback or as a subprocess bound the way a Space or a LAN would bind it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import free_port, served_app
from tests.feedback.conftest import PAIR
from tests.openai_server import OpenAIServer
from travelbot.config import JudgeSettings, get_settings, set_settings
from travelbot.store import get_store

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
KEY = "public0123456789"


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """The whole dashboard launched as ``travelbot serve`` launches it, on loopback; yields its URL."""
    from travelbot.ui import launch

    previous = get_settings()
    set_settings(replace(previous, arena_weights=f"*=0,{PAIR[0]}=1,{PAIR[1]}=1", max_new_tokens=8, flag_words="",
                         requests_per_minute=0))
    app = launch(host="127.0.0.1", port=free_port(), prevent_thread_lock=True)
    base = get_settings()
    try:
        yield app.local_url
    finally:
        app.close()
        set_settings(previous)
    assert base.host == "127.0.0.1"


@pytest.fixture
def settings_for_test(served):
    """Change the running server's settings for one test; restored afterwards."""
    before = get_settings()

    def change(**values):
        set_settings(replace(before, **values))

    yield change
    set_settings(before)


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def _listening_ip(port: int) -> str | None:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port:
            return conn.laddr.ip
    return None


# ---------------------------------------------------------------- 1, 2: binding and admin actions


def test_a_space_listens_where_the_platform_asks_and_fails_closed(home, tmp_path) -> None:
    port = free_port()
    env = {**os.environ, "TRAVELBOT_HOME": str(home), "SPACE_ID": "team/travelbot", "GRADIO_SERVER_NAME": "0.0.0.0",
           "GRADIO_SERVER_PORT": str(port), "TRAVELBOT_PERSISTENT_DIR": str(tmp_path / "no-storage")}
    env.pop("TRAVELBOT_HOST", None)
    env.pop("TRAVELBOT_PORT", None)
    with served_app(env, tmp_path / "space.log", cwd=REPO, command=[sys.executable, "app.py"], port=port) as url:
        assert _listening_ip(port) == "0.0.0.0"
        assert httpx.get(url).status_code == 200
        client = _client(url)
        with pytest.raises(Exception, match="only its admins"):
            client.predict(files=[], api_name="/add_source")
        _, _, _, status = client.predict(message="Is Lisbon walkable?", chat_a=[], chat_b=[], voter_key=KEY,
                                         name="", api_name="/arena_send")
        assert "need Hugging Face sign-in" in status
        rated = client.predict(voter_key=KEY, name="", api_name="/rate_next")
        assert "need Hugging Face sign-in" in rated[-1]
    with get_store().transaction() as conn:
        from sqlalchemy import func, select

        from travelbot.schema import battles
        assert conn.scalar(select(func.count()).select_from(battles).where(battles.c.voter_id == f"browser:{KEY}")) == 0


def test_a_server_on_another_address_refuses_admin_actions(home, tmp_path) -> None:
    port = free_port()
    env = {**os.environ, "TRAVELBOT_HOME": str(home)}
    env.pop("TRAVELBOT_OPEN", None)
    command = [sys.executable, "-m", "travelbot", "serve", "--host", "0.0.0.0", "--port", str(port)]
    with served_app(env, tmp_path / "lan.log", command=command, port=port) as url:
        assert _listening_ip(port) == "0.0.0.0"
        client = _client(url)
        for api, args in (("/add_source", {"files": []}), ("/start_training", None), ("/build_datasets", None)):
            with pytest.raises(Exception, match="listens on 0.0.0.0"):
                client.predict(**args, api_name=api) if args else client.predict(api_name=api)
        assert "TRAVELBOT_OPEN is on" not in httpx.get(url + "config").text


def test_open_admin_is_announced_and_lets_visitors_in(served, settings_for_test) -> None:
    settings_for_test(host="0.0.0.0")
    with pytest.raises(Exception, match="listens on 0.0.0.0"):
        _client(served).predict(files=[], api_name="/add_source")
    settings_for_test(host="0.0.0.0", open_admin=True)
    assert "Choose files" in _client(served).predict(files=[], api_name="/add_source")
    from travelbot.hosting import open_warning
    assert "every visitor" in open_warning()


def test_oauth_outside_a_space_is_refused_at_start(home) -> None:
    env = {**os.environ, "TRAVELBOT_HOME": str(home), "OAUTH_CLIENT_ID": "abc"}
    env.pop("SYSTEM", None)
    done = subprocess.run([sys.executable, "-m", "travelbot", "serve", "--port", str(free_port())], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "not a Hugging Face Space" in done.stderr


def test_a_typed_judge_url_never_receives_the_servers_key(served, settings_for_test) -> None:
    from travelbot import jobs

    settings_for_test(openai_api_key="sk-server-secret", openai_base_url=None, judge=JudgeSettings())
    with OpenAIServer() as judge:
        # a new answer length each time, so the judge is asked again rather than read from the cache
        for typed_key, expected, tokens in (("", "Bearer not-needed", 16), ("sk-typed", "Bearer sk-typed", 32)):
            asked = len(judge.authorizations)
            status = _client(served).predict(
                variants=[PAIR[0]], split="dev", scorers=["judge"], limit=1, max_new_tokens=tokens,
                judge_model="judge-x", judge_base_url=judge.base_url, judge_key=typed_key, api_name="/evaluate")
            job_id = int(status.split()[1])  # the run is a job: a child process with the server's settings
            deadline = time.monotonic() + 300
            while jobs.get_job(job_id)["status"] in jobs.ACTIVE:
                assert time.monotonic() < deadline
                time.sleep(0.5)
            job = jobs.get_job(job_id)
            assert job["status"] == "succeeded", job["error"]
            assert "sk-typed" not in json.dumps(job, default=str)  # the typed key is in no row and no command
            assert len(judge.authorizations) > asked, "the judge was never asked"
            assert set(judge.authorizations[asked:]) == {expected}


# ---------------------------------------------------------------- 3: uploads


def test_uploads_over_the_limit_are_refused_and_nothing_is_kept(served) -> None:
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder())
    before = {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()
    too_big = b"x" * ((get_settings().max_upload_mb + 1) * 1024 * 1024)
    answer = httpx.post(served + "gradio_api/upload", files={"files": ("big.txt", too_big)}, timeout=60)
    assert answer.status_code == 413, answer.text[:200]
    after = {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()
    assert not [p for p in after - before if p.stat().st_size >= len(too_big)]
    small = httpx.post(served + "gradio_api/upload", files={"files": ("small.txt", b"hello")}, timeout=60)
    assert small.status_code == 200


# ---------------------------------------------------------------- 4: votes and ratings


def test_a_rating_is_accepted_only_from_the_rater_it_was_shown_to(served) -> None:
    client = _client(served)
    client.predict(message="Is Porto hilly?", chat_a=[], chat_b=[], voter_key=KEY, name="",
                   api_name="/arena_send")  # something to rate
    shown = client.predict(voter_key=KEY, name="", api_name="/rate_next")
    assert shown[1].strip()
    ratings = get_store().count("ratings")
    forged = client.predict(relevance="5", helpfulness=None, correctness=None, coherence=None, conciseness=None,
                            overall="5", comment="", voter_key="someone-else-0001", name="", api_name="/rate_submit")
    assert "was not shown to you" in forged[-1] and get_store().count("ratings") == ratings


def test_ratings_are_capped_per_day(served, settings_for_test) -> None:
    settings_for_test(ratings_per_day=0)
    client = _client(served)
    client.predict(message="Is Oslo pricey?", chat_a=[], chat_b=[], voter_key=KEY + "c", name="",
                   api_name="/arena_send")
    client.predict(voter_key=KEY + "c", name="", api_name="/rate_next")
    refused = client.predict(relevance=None, helpfulness=None, correctness=None, coherence=None, conciseness=None,
                             overall="4", comment="", voter_key=KEY + "c", name="", api_name="/rate_submit")
    assert "0 ratings in the last 24 hours" in refused[-1]


# ---------------------------------------------------------------- 5: blindness


def test_a_failing_side_is_reported_in_one_fixed_sentence(served, settings_for_test, home) -> None:
    models = home / "models.toml"
    models.write_text('[bases.remote]\nendpoint = "http://127.0.0.1:9/v1"\nmodel = "secret-model-7b"\n')
    try:
        settings_for_test(arena_weights=f"*=0,remote=1,{PAIR[0]}=1", flag_words="")
        _, _, _, status = _client(served).predict(message="Is Lisbon walkable?", chat_a=[], chat_b=[],
                                                  voter_key=KEY + "f", name="", api_name="/arena_send")
    finally:
        models.unlink()
    assert "could not answer: something went wrong on the server" in status
    assert "127.0.0.1:9" not in status and "secret-model" not in status and "remote" not in status


# ---------------------------------------------------------------- 6, 8: cost and abuse limits


def _battles() -> int:
    return get_store().count("battles")


@pytest.mark.parametrize("message", ["   ", "x" * 4001])
def test_a_refused_arena_message_leaves_no_battle_behind(served, message) -> None:
    before, conversations = _battles(), get_store().count("conversations")
    _, _, _, status = _client(served).predict(message=message, chat_a=[], chat_b=[], voter_key=KEY + "m", name="",
                                              api_name="/arena_send")
    assert "⚠️" in status
    assert _battles() == before and get_store().count("conversations") == conversations


def test_system_prompt_and_conversation_are_capped_before_generating(served, settings_for_test) -> None:
    client = _client(served)
    turns = get_store().count("chat_turns")
    *_, status = client.predict(message="Hi", variant_name=PAIR[0], system_prompt="x" * 12_000, max_new_tokens=16,
                                temperature=0, api_name="/chat")
    assert "system prompt is 12,000 characters long" in status
    settings_for_test(max_prompt_tokens=64)
    *_, status = client.predict(message="Lisbon " * 100, variant_name=PAIR[0], system_prompt="", max_new_tokens=16,
                                temperature=0, api_name="/chat")
    assert "tokens long" in status and "the limit is 64" in status
    assert get_store().count("chat_turns") == turns


def test_control_and_bidi_characters_are_not_stored(served) -> None:
    _client(served).predict(message="Is Lisbon\u202e walkable?\x07", variant_name=PAIR[0], system_prompt="",
                            max_new_tokens=16, temperature=0, api_name="/chat")
    assert get_store().turns()[-1].prompt == "Is Lisbon walkable?"


def test_questions_per_minute_are_limited_per_visitor(served, settings_for_test) -> None:
    settings_for_test(requests_per_minute=1, host="0.0.0.0")  # a loopback-only server has no visitors to limit
    client = _client(served)
    first = client.predict(message="Is Rome busy in May?", variant_name=PAIR[0], system_prompt="",
                           max_new_tokens=16, temperature=0, api_name="/chat")
    second = client.predict(message="And in June?", variant_name=PAIR[0], system_prompt="",
                            max_new_tokens=16, temperature=0, api_name="/chat")
    assert "⚠️" not in first[-1] and "questions in the last minute" in second[-1]


def test_the_page_limits_what_it_sends_and_shows(served) -> None:
    config = httpx.get(served + "config").json()
    components = config["components"]
    timers = [c for c in components if c["type"] == "timer"]
    assert timers and not [t for t in timers if t["props"].get("active")], "a timer ticks in every open page"
    by_id = {c["props"].get("elem_id"): c for c in components if c["props"].get("elem_id")}
    assert by_id["rate-question"]["type"] == by_id["rate-answer"]["type"] == "textbox"  # never Markdown
    limit = get_settings().max_message_chars
    boxes = [c for c in components if c["type"] == "textbox" and "a longer paste is cut" in
             str(c["props"].get("placeholder"))]
    assert len(boxes) == 3 and {b["props"]["max_length"] for b in boxes} == {limit}
    assert config.get("max_file_size") == get_settings().max_upload_mb * 1024 * 1024
    assert json.dumps(config).count("TRAVELBOT_OPEN is on") == 0


def test_a_message_as_long_as_the_box_allows_is_accepted(served) -> None:
    limit = get_settings().max_message_chars
    message = ("Is Lisbon walkable? " * limit)[:limit]
    *_, status = _client(served).predict(message=message, variant_name=PAIR[0], system_prompt="", max_new_tokens=16,
                                         temperature=0, api_name="/chat")
    assert "⚠️" not in status
