"""The Arena and Rate tabs in the whole dashboard, served for real and driven through gradio_client and
through Gradio's own queue protocol (to see every byte the browser would receive)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from tests.conftest import free_port
from tests.feedback.conftest import PAIR
from travelbot.config import get_settings, set_settings
from travelbot.feedback.ratings import rating_rows
from travelbot.feedback.votes import battle_rows
from travelbot.models import get_registry
from travelbot.store import get_store

pytestmark = pytest.mark.slow
KEY = "browser0123456789"


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    from travelbot.ui import build_app, css

    previous = get_settings()
    set_settings(replace(previous, arena_weights=f"*=0,{PAIR[0]}=1,{PAIR[1]}=1", max_new_tokens=12,
                         arena_max_turns=2, flag_words=""))
    app = build_app()
    app.queue(default_concurrency_limit=4)
    app.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, css=css())
    try:
        yield app.local_url
    finally:
        app.close()
        set_settings(previous)


def _text(message: dict) -> str:
    content = message["content"]
    return "".join(part.get("text", "") for part in content) if isinstance(content, list) else content


def test_a_battle_and_a_vote_through_gradio_client(app_url: str) -> None:
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    before = len(battle_rows())
    chat_a, chat_b, textbox, status = client.predict(
        message="Is Lisbon walkable?", chat_a=[], chat_b=[], voter_key=KEY, name="Tester", api_name="/arena_send")
    assert _text(chat_a[0]) == _text(chat_b[0]) == "Is Lisbon walkable?"
    assert _text(chat_a[1]).strip() and _text(chat_b[1]).strip() and textbox == ""
    assert "Vote, or ask a follow-up" in status
    chat_a, chat_b, _, status = client.predict(
        message="What about Porto?", chat_a=chat_a, chat_b=chat_b, voter_key=KEY, name="Tester",
        api_name="/arena_send")
    assert len(chat_a) == len(chat_b) == 4 and "reached its question limit" in status
    *_, status = client.predict(message="A third?", chat_a=chat_a, chat_b=chat_b, voter_key=KEY, name="Tester",
                                api_name="/arena_send")
    assert "at most 2 questions" in status

    reveal, status, _ = client.predict(key=KEY, who="Tester", api_name="/arena_vote_b")
    rows = battle_rows()
    assert len(rows) == before + 1
    vote = rows[-1]
    assert vote["winner"] == "model_b" and vote["voter_id"] == f"browser:{KEY}" and vote["voter_name"] == "Tester"
    assert vote["turn"] == 2 and vote["conversation_a"][0]["content"] == "Is Lisbon walkable?"
    assert f"**A** was **{vote['model_a']}**" in reveal and f"**B** was **{vote['model_b']}**" in reveal
    again, status, _ = client.predict(key=KEY, who="Tester", api_name="/arena_vote_a")
    assert again == "" and "already has a vote" in status
    assert len(battle_rows()) == before + 1

    # A new round is a new battle for the same person.
    client.predict(api_name="/arena_new_round")
    _, status, _ = client.predict(key=KEY, who="Tester", api_name="/arena_vote_tie")
    assert "Ask a question first" in status


def _queue(client: httpx.Client, config: dict, session: str, api_name: str, data: list) -> bytes:
    """Run one event as the browser does (join the queue, read the event stream); every byte received."""
    dependency = next(d for d in config["dependencies"] if d.get("api_name") == api_name)
    received = bytearray()
    joined = client.post("/gradio_api/queue/join", json={
        "data": data, "fn_index": dependency["id"], "trigger_id": dependency["targets"][0][0],
        "session_hash": session, "event_data": None})
    joined.raise_for_status()
    received += joined.content
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            received += line.encode() + b"\n"
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    assert message.get("success"), message
                    break
    return bytes(received)


def test_nothing_the_app_sends_names_a_side_before_the_vote(app_url: str) -> None:
    names = [*get_registry().variants(), *get_registry().bases()]
    session = uuid.uuid4().hex[:11]
    with httpx.Client(base_url=app_url, timeout=120) as client:
        page = client.get("/").text
        config = client.get("/config").json()
        components = {c["id"]: c for c in config["components"]}
        send = next(d for d in config["dependencies"] if d.get("api_name") == "arena_send")
        # The arena's own components start without any name in their values (the Chat tab lists them all).
        for component_id in {*send["inputs"], *send["outputs"]}:
            props = json.dumps(components[component_id].get("props", {}))
            assert not [n for n in names if n in props], components[component_id]
        sent = _queue(client, config, session, "arena_send", ["Is Oslo expensive?", None, [], [], KEY + "x", ""])
        sent += _queue(client, config, session, "arena_send", ["And Bergen?", None, [], [], KEY + "x", ""])
        assert b"Is Oslo expensive?" in sent and b"process_completed" in sent  # the capture is real
        leaked = [name for name in names if name.encode() in sent]
        assert leaked == [], f"sent before the vote: {leaked}"
        assert "arena-a" in page or "arena" in json.dumps(config)

        revealed = _queue(client, config, session, "arena_vote_a", [None, KEY + "x", ""])
        assert any(name.encode() in revealed for name in PAIR)  # the same capture sees the names after


def test_rating_through_gradio_client(app_url: str) -> None:
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    rater = "rater0123456789"
    first = client.predict(voter_key=rater, name="", api_name="/rate_next")
    question, answer, status = first[0], first[1], first[-1]
    assert question.strip() and answer.strip() and "You have rated 0 answers" in status
    assert not [n for n in get_registry().variants() if n in json.dumps(first)]
    result = client.predict(relevance="4", helpfulness="3", correctness=None, coherence="5", conciseness="4",
                            overall="4", comment="clear", voter_key=rater, name="Rita", api_name="/rate_submit")
    assert "You have rated 1 answer." in result[-1]
    row = rating_rows()[-1]
    assert row["rater_id"] == f"browser:{rater}" and row["rater_name"] == "Rita"
    assert row["scores"] == {"relevance": 4, "helpfulness": 3, "coherence": 5, "conciseness": 4, "overall": 4}
    assert row["comment"] == "clear" and row["answer"] == answer
    refused = client.predict(relevance="4", helpfulness=None, correctness=None, coherence=None, conciseness=None,
                             overall=None, comment="", voter_key=rater, name="", api_name="/rate_submit")
    assert "overall score" in refused[-1]
    assert get_store().count("ratings") == len(rating_rows())


def test_leaderboard_endpoint_has_the_votes(app_url: str) -> None:
    from gradio_client import Client

    note, board, *_ = Client(app_url, verbose=False).predict(api_name="/leaderboard")
    assert "votes counted" in note and "bootstrap rounds" in note
    variants = {row[1] for row in board["data"]}
    assert variants <= set(PAIR) and variants
    # A handful of test votes: every variant is provisional, its rating shown only with its interval.
    assert all(row[2].startswith("≈") and f"provisional, {row[3]} battle" in row[2] for row in board["data"])
    assert "**provisional**" in note and ("Top two" in note) == (len(variants) == 2)
