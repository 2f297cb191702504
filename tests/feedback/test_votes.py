"""Tests for travelbot/feedback/votes.py and standings.py: FastChat rows out and in, and the board."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.feedback.conftest import PAIR, answered_battle
from tests.test_store import db_url  # noqa: F401 - the SQLite / PostgreSQL fixture
from travelbot.feedback import arena
from travelbot.feedback.standings import standings
from travelbot.feedback.voters import Voter
from travelbot.feedback.votes import battle_rows, export_votes, import_votes
from travelbot.schema import WINNERS
from travelbot.store import Store

ANA = Voter("browser:ana-0000000001", "Ana")


def _vote(store, settings, choice: str, seed: int = 0, answers=None):
    battle = answered_battle(store, settings, ANA, seed=seed, **({"answers": answers} if answers else {}))
    return arena.record_vote(battle.id, choice, ANA, store=store, settings=settings)


def test_export_writes_fastchat_battle_rows(store: Store, two_variants, tmp_path: Path) -> None:
    result = _vote(store, two_variants, "model_a",
                   answers=(("Is Kyoto busy in April?", "Yes, cherry blossom crowds.", "No."),
                            ("And in June?", "Rainy season.", "Hot.")))
    path = tmp_path / "votes.jsonl"
    assert export_votes(path, store) == 1
    row = json.loads(path.read_text(encoding="utf-8"))
    assert row["winner"] == "model_a" and {row["model_a"], row["model_b"]} == set(PAIR)
    assert row["model_a"] == result.model_a and row["judge"] == f"human:{ANA.id}"
    assert row["conversation_a"] == [
        {"role": "user", "content": "Is Kyoto busy in April?"},
        {"role": "assistant", "content": "Yes, cherry blossom crowds."},
        {"role": "user", "content": "And in June?"}, {"role": "assistant", "content": "Rainy season."}]
    assert row["conversation_b"][1]["content"] == "No."
    assert row["turn"] == 2 and row["anony"] is True and isinstance(row["tstamp"], float)
    assert row["voter_name"] == "Ana" and row["flagged"] is False and row["settings"]["temperature"] == 0.7


def test_import_round_trips_and_reports_bad_rows(db_url: str, two_variants, tmp_path: Path) -> None:  # noqa: F811
    source = Store(f"sqlite:///{tmp_path / 'source.db'}")
    for seed, choice in enumerate(["model_a", "tie", "tie (bothbad)"]):
        _vote(source, two_variants, choice, seed=seed)
    path = tmp_path / "votes.jsonl"
    export_votes(path, source)
    exported = battle_rows(source)
    source.close()
    with path.open("a", encoding="utf-8") as f:
        f.write("not json\n")
        f.write(json.dumps({"model_a": "x", "model_b": "x", "winner": "tie"}) + "\n")
        f.write(json.dumps({"model_a": "x", "model_b": "y", "winner": "model_c"}) + "\n")
        f.write(json.dumps({"model_a": "x", "model_b": "y", "winner": "tie", "conversation_a": "hello"}) + "\n")
        f.write(json.dumps({"model_a": "x", "model_b": "y", "winner": "tie", "tstamp": "yesterday"}) + "\n")
        f.write(json.dumps({"model_a": "gpt-4", "model_b": "vicuna-13b", "winner": "model_b", "judge": "arena_user",
                            "tstamp": 1700000000.5}) + "\n")  # a FastChat row without conversations

    target = Store(db_url)
    try:
        report = import_votes(path, target)
        assert report.loaded == 4 and report.refused == 5
        assert set(report.reasons) == {
            "malformed JSON", "model_a and model_b are the same model",
            "winner must be one of model_a, model_b, tie, tie (bothbad), not 'model_c'",
            "conversation_a must be a list of {role, content} messages with text content",
            "tstamp must be a number of seconds since 1970"}
        rows = battle_rows(target)
        keys = ("question_id", "model_a", "model_b", "winner", "conversation_a", "conversation_b", "turn")
        assert [{k: r[k] for k in keys} for r in rows[:3]] == [{k: r[k] for k in keys} for r in exported]
        assert rows[3]["tstamp"] == 1700000000.5 and rows[3]["judge"] == "arena_user"
        again = import_votes(path, target)  # importing twice adds nothing
        assert again.loaded == 0 and again.reasons["battle already in the store"] == 4
        assert target.count("votes") == 4
    finally:
        target.close()


def test_standings_count_unflagged_votes_with_intervals(store: Store, two_variants) -> None:
    from dataclasses import replace

    for seed in range(6):
        _vote(store, two_variants, "model_a" if seed % 3 else "tie", seed=seed)
    flagged = replace(two_variants, flag_words="chatgpt")
    _vote(store, flagged, "model_a", seed=9, answers=(("Who?", "ChatGPT here.", "A guide."),))
    result = standings(store, rounds=200)
    assert result.board.n_battles == 6 and result.flagged_votes == 1
    assert {r.variant for r in result.board.ratings} == set(PAIR)
    for rating in result.board.ratings:
        assert rating.lower <= rating.rating <= rating.upper
    assert standings(store, rounds=200, include_flagged=True).board.n_battles == 7
    assert json.dumps(result.to_dict())


def test_winners_are_fastchats() -> None:
    from travelbot.ui.arena_tab import VOTES

    assert WINNERS == ("model_a", "model_b", "tie", "tie (bothbad)")
    assert list(VOTES.values()) == list(WINNERS)  # each button is one of FastChat's winners


@pytest.mark.parametrize("winner", WINNERS)
def test_each_winner_is_recorded(store: Store, two_variants, winner: str) -> None:
    assert _vote(store, two_variants, winner).winner == winner
    assert battle_rows(store)[0]["winner"] == winner
