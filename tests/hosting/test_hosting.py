"""Hosted mode: where data lives, who is an admin (in a served app), ZeroGPU, mirroring to a Hub dataset."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest
from huggingface_hub import HfApi

from tests.hub_server import HubServer
from tests.ui.conftest import served_tab
from travelbot.config import Settings, get_settings, set_settings
from travelbot.errors import TravelbotError
from travelbot.hosting import ADMIN_ONLY, is_admin, mirror_feedback, require_admin, storage_warning
from travelbot.models.zerogpu import gpu


@pytest.fixture
def hosted():
    """The process settings switched to a Space whose admin is 'ana'; restored afterwards."""
    before = get_settings()
    settings = replace(before, mode="space", admins=("Ana",), space_id="team/travelbot")
    set_settings(settings)
    yield settings
    set_settings(before)


def test_space_mode_and_the_data_home(tmp_path: Path) -> None:
    assert Settings.from_env({}).mode == "local" and not Settings.from_env({}).hosted
    on_space = Settings.from_env({"SPACE_ID": "team/travelbot", "TRAVELBOT_PERSISTENT_DIR": str(tmp_path / "none")})
    assert on_space.hosted and on_space.home == Path(".travelbot") and not on_space.persistent
    with_storage = Settings.from_env({"SPACE_ID": "t/b", "TRAVELBOT_PERSISTENT_DIR": str(tmp_path)})
    assert with_storage.home == tmp_path / "travelbot" and with_storage.persistent
    forced = Settings.from_env({"TRAVELBOT_MODE": "space", "TRAVELBOT_ADMINS": "ana, bob ,",
                                "TRAVELBOT_PERSISTENT_DIR": str(tmp_path)})
    assert forced.hosted and forced.admins == ("ana", "bob")
    assert not Settings.from_env({"SPACE_ID": "t/b", "TRAVELBOT_MODE": "local"}).hosted
    with pytest.raises(TravelbotError, match="TRAVELBOT_MODE must be one of"):
        Settings.from_env({"TRAVELBOT_MODE": "cloud"})


def test_storage_warning_only_when_hosted_without_persistent_storage(tmp_path: Path) -> None:
    assert storage_warning(Settings.from_env({})) is None
    volatile = Settings.from_env({"SPACE_ID": "t/b", "TRAVELBOT_PERSISTENT_DIR": str(tmp_path / "none")})
    assert "votes, ratings and runs will be lost on restart" in storage_warning(volatile)
    mirrored = replace(volatile, mirror_repo="team/votes")
    assert "copied to the dataset team/votes every 30 minutes" in storage_warning(mirrored)
    assert storage_warning(Settings.from_env({"SPACE_ID": "t/b", "TRAVELBOT_PERSISTENT_DIR": str(tmp_path)})) is None


def test_admins_only_when_hosted() -> None:
    local = Settings()
    space = replace(local, mode="space", admins=("Ana",))
    assert is_admin(None, local) and is_admin("anyone", local)
    assert is_admin("ana", space) and not is_admin("bob", space) and not is_admin(None, space)
    with pytest.raises(TravelbotError, match="only its admins"):
        require_admin("bob", space)


def _profile(name: str) -> gr.OAuthProfile:
    return gr.OAuthProfile({"preferred_username": name, "name": name, "profile": "", "picture": ""})


def test_admin_handlers_are_refused_on_the_server(hosted) -> None:
    from travelbot.ui.admin import admin_only, admin_section

    calls = []

    def train(steps: float) -> str:
        calls.append(steps)
        return f"training for {int(steps)} steps"

    def stream(text: str):
        yield from text.split()

    def build(app: gr.Blocks) -> None:
        steps = gr.Number(3)
        note = gr.Markdown()
        with admin_section(app, "Training") as section:
            gr.Button("Start").click(admin_only(train), steps, note, api_name="train")
        gr.Button("Stream").click(admin_only(stream), gr.Textbox(), note, api_name="stream")
        assert section.visible is False  # hidden until the page learns the visitor is an admin

    with served_tab(build) as client:
        with pytest.raises(Exception, match="only its admins"):
            client.predict(5, api_name="/train")
        with pytest.raises(Exception, match="only its admins"):
            client.predict("a b", api_name="/stream")
    assert calls == []
    # the same wrapped handlers, called as gradio calls them for a signed-in user
    assert admin_only(train)(4, _profile("ana")) == "training for 4 steps" and calls == [4]
    assert list(admin_only(stream)("a b", _profile("ANA"))) == ["a", "b"]
    with pytest.raises(gr.Error, match="only its admins"):
        admin_only(train)(4, _profile("bob"))
    assert ADMIN_ONLY.startswith("On this Space")


def test_admin_handlers_work_for_everyone_locally() -> None:
    from travelbot.ui.admin import admin_only, admin_section

    def build(app: gr.Blocks) -> None:
        with admin_section(app, "Training") as section:
            gr.Button("Start").click(admin_only(lambda n: n * 2), gr.Number(2), gr.Number(), api_name="double")
        assert section.visible is True

    with served_tab(build) as client:
        assert client.predict(21, api_name="/double") == 42


def test_gpu_is_a_no_op_off_spaces_and_spaces_gpu_on_zerogpu(hosted, monkeypatch) -> None:
    def work() -> str:
        return "done"

    set_settings(replace(hosted, space_id=None))
    assert gpu(work) is work
    set_settings(hosted)
    wrapped = []
    zerogpu = types.ModuleType("spaces")
    zerogpu.GPU = lambda fn: wrapped.append(fn) or (lambda: "on gpu: " + fn())
    monkeypatch.setitem(sys.modules, "spaces", zerogpu)
    assert gpu(work)() == "on gpu: done" and wrapped == [work]
    monkeypatch.setitem(sys.modules, "spaces", types.ModuleType("spaces"))  # a package without GPU: unchanged
    assert gpu(work) is work


def test_mirror_copies_votes_and_ratings_to_a_dataset(store, monkeypatch) -> None:
    from tests.feedback.conftest import answered_battle
    from travelbot.feedback import arena
    from travelbot.feedback.ratings import offer, record_rating
    from travelbot.feedback.voters import Voter

    monkeypatch.setattr("travelbot.store.get_store", lambda *a, **k: store)
    settings = replace(get_settings(), arena_weights="*=0,smollm2-135m=1,smollm2-135m-precise=1", flag_words="",
                       mirror_repo="team/votes")
    voter = Voter("browser:mirror-000001", "Mo")
    battle = answered_battle(store, settings, voter)
    arena.record_vote(battle.id, "model_a", voter, store=store, settings=settings)
    from sqlalchemy import select

    from travelbot.schema import chat_turns

    with store.transaction() as conn:
        turn = conn.scalar(select(chat_turns.c.id).order_by(chat_turns.c.id))
    offer(f"turn:{turn}", voter, store)
    record_rating(f"turn:{turn}", {"overall": 4, "relevance": 5}, voter, store=store)
    with HubServer() as hub:
        counts = mirror_feedback(settings, api=HfApi(endpoint=hub.url, token="hf_test"))
        repo = hub.repos[("dataset", "team/votes")]
        assert counts == {"votes": 1, "ratings": 1}
        assert repo.options.get("private") is True or repo.options.get("visibility") == "private"
        rows = [json.loads(line) for line in repo.files["votes.jsonl"].decode().splitlines()]
        assert rows[0]["winner"] == "model_a" and rows[0]["voter_id"] == voter.id
        rating = json.loads(repo.files["ratings.jsonl"])
        assert rating["scores"] == {"overall": 4, "relevance": 5} and rating["item_id"] == f"turn:{turn}"
        assert repo.commits == ["travelbot feedback: 1 votes, 1 ratings"]
        hub.fail_next = 500
        with pytest.raises(TravelbotError, match="Could not copy votes and ratings to team/votes"):
            mirror_feedback(settings, api=HfApi(endpoint=hub.url, token="hf_test"))
    with pytest.raises(TravelbotError, match="Set TRAVELBOT_MIRROR_REPO"):
        mirror_feedback(replace(settings, mirror_repo=None))


def test_mirror_refuses_a_public_dataset() -> None:
    from tests.hub_server import Repo

    settings = replace(get_settings(), mirror_repo="team/open-votes")
    with HubServer() as hub:
        repo = hub.repos[("dataset", "team/open-votes")] = Repo({"name": "open-votes", "type": "dataset"})
        api = HfApi(endpoint=hub.url, token="hf_test")
        with pytest.raises(TravelbotError, match="The dataset team/open-votes is public, and votes and ratings hold "
                                                 "voter ids and conversations: make it private"):
            mirror_feedback(settings, api=api)
        assert repo.files == {} and repo.commits == [] and [m for m, _ in hub.requests] == ["GET"]
        repo.options["private"] = True  # made private on the Hub: mirroring goes ahead
        mirror_feedback(settings, api=api)
        assert set(repo.files) == {"votes.jsonl", "ratings.jsonl"} and len(repo.commits) == 1
