"""The board from the store: the provisional mark follows TRAVELBOT_LEADERBOARD_MIN_BATTLES, in the result,
its JSON and ``travelbot leaderboard``."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from tests.feedback.conftest import answered_battle
from travelbot.cli import main
from travelbot.config import Settings, get_settings, set_settings
from travelbot.errors import TravelbotError
from travelbot.feedback import arena
from travelbot.feedback.standings import standings
from travelbot.feedback.voters import Voter
from travelbot.store import Store

ANA = Voter("browser:ana-0000000001", "Ana")


@pytest.fixture
def four_votes(store: Store, two_variants) -> Store:
    for seed in range(4):
        battle = answered_battle(store, two_variants, ANA, seed=seed)
        arena.record_vote(battle.id, "model_a" if seed else "tie", ANA, store=store, settings=two_variants)
    return store


def test_the_setting_is_read_from_the_environment() -> None:
    assert Settings().leaderboard_min_battles == Settings.from_env({}).leaderboard_min_battles == 20
    assert Settings.from_env({"TRAVELBOT_LEADERBOARD_MIN_BATTLES": "5"}).leaderboard_min_battles == 5
    assert Settings.from_env({"TRAVELBOT_LEADERBOARD_MIN_BATTLES": "-3"}).leaderboard_min_battles == 0
    with pytest.raises(TravelbotError, match="TRAVELBOT_LEADERBOARD_MIN_BATTLES must be a whole number"):
        Settings.from_env({"TRAVELBOT_LEADERBOARD_MIN_BATTLES": "many"})


def test_standings_mark_variants_below_the_minimum_provisional(four_votes: Store) -> None:
    previous = get_settings()
    try:
        set_settings(replace(previous, leaderboard_min_battles=20))
        board = standings(four_votes, rounds=200).board
        assert board.min_battles == 20 and all(r.provisional and r.battles == 4 for r in board.ratings)
        data = json.loads(json.dumps(standings(four_votes, rounds=200).to_dict(), allow_nan=False))
        assert [r["provisional"] for r in data["leaderboard"]["ratings"]] == [True, True]
        assert "more votes" in data["leaderboard"]["votes_to_separate_top_two"]["explanation"]
        set_settings(replace(previous, leaderboard_min_battles=4))
        assert not any(r.provisional for r in standings(four_votes, rounds=200).board.ratings)
        assert all(r.provisional for r in standings(four_votes, rounds=200, min_battles=5).board.ratings)
    finally:
        set_settings(previous)


def test_cli_never_prints_a_provisional_rating_alone(four_votes: Store) -> None:
    previous = get_settings()
    set_settings(replace(previous, db_url=four_votes.url, leaderboard_min_battles=20))
    try:
        result = CliRunner().invoke(main, ["leaderboard", "--rounds", "200"])
    finally:
        set_settings(previous)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].startswith("top two: ") and "more votes between them" in lines[1]
    rows = [line for line in lines if "≈" in line and "·" in line]
    assert len(rows) == 2 and all("provisional, 4 battles" in row and " [" in row for row in rows)
    assert "provisional: fewer than 20 battles" in result.output


def test_the_leaderboard_panel_shows_provisional_ratings_with_intervals_and_the_top_two(four_votes: Store) -> None:
    from travelbot.ui.leaderboard_view import BOARD_COLUMNS, tables

    result = standings(four_votes, rounds=200, min_battles=20)
    rows, _, _, note = tables(result)
    assert len(rows) == 2 and all(len(row) == len(BOARD_COLUMNS) for row in rows)
    for row, rating in zip(rows, result.board.ratings, strict=True):
        assert row[2] == f"≈{rating.rating:.0f} [{rating.lower:.0f}, {rating.upper:.0f}] · provisional, 4 battles"
    assert "fewer than 20 battles is **provisional**" in note
    assert note.index("**Top two.**") > note.index("votes counted")
    assert result.board.votes_to_separate_top_two.explanation in note
    rows, _, _, note = tables(standings(four_votes, rounds=200, min_battles=4))
    assert not any("provisional" in row[2] for row in rows) and "provisional" not in note


def test_style_control_from_the_store_in_the_result_the_cli_and_the_panel(store: Store, tmp_path) -> None:
    """Votes imported as FastChat rows with their answers: the style-controlled board beside the raw one."""
    import numpy as np

    from travelbot.feedback.simulation import Truth, simulate
    from travelbot.feedback.votes import import_votes
    from travelbot.jsonl import write_jsonl
    from travelbot.ui.leaderboard_view import STYLE_COLUMNS, style_tables

    truth = Truth({"terse": 1080, "wordy": 920}, {"terse": 30, "wordy": 90}, length_beta=2.0)
    rows = [{**row, "question_id": f"sim-{i}", "voter_id": f"sim:{i % 7}", "tstamp": 1.7e9 + i}
            for i, row in enumerate(simulate(truth, 120, np.random.default_rng(0)))]
    write_jsonl(tmp_path / "battles.jsonl", rows)
    assert import_votes(tmp_path / "battles.jsonl", store).loaded == 120
    plain = standings(store, rounds=200)
    assert plain.style is None and plain.to_dict()["style_control"] is None
    result = standings(store, rounds=200, with_style=True)
    assert result.style.n_battles == 120 and {r.variant for r in result.style.ratings} == {"terse", "wordy"}
    raw = {r.variant: r.rating for r in result.board.ratings}
    assert {r.variant: round(r.raw) for r in result.style.ratings} == {k: round(v) for k, v in raw.items()}
    assert result.to_dict()["style_control"]["coefficients"][0]["style"] == "length"
    table, note = style_tables(result)
    assert len(table) == 2 and all(len(row) == len(STYLE_COLUMNS) for row in table)
    assert "**Style control**" in note and result.style.coefficients[0].sentence in note
    previous = get_settings()
    set_settings(replace(previous, db_url=store.url))
    try:
        output = CliRunner().invoke(main, ["leaderboard", "--rounds", "200", "--style-control"]).output
    finally:
        set_settings(previous)
    assert "style control (120 votes with both answers stored" in output
    assert result.style.coefficients[0].sentence in output


def test_a_contrarian_voter_is_left_out_of_the_board_and_listed_with_the_evidence(store: Store, tmp_path) -> None:
    import numpy as np

    from tests.feedback.test_voter_quality import votes
    from travelbot.feedback.votes import import_votes
    from travelbot.jsonl import write_jsonl

    rng = np.random.default_rng(4)
    rows = [row for v in range(15) for row in votes(rng, f"sim:h{v}", 20)] + votes(rng, "sim:contrarian", 30, True)
    for i, row in enumerate(rows):  # distinct questions, so the question cap leaves nothing out
        row.update(question_id=f"q{i}", tstamp=1.7e9 + i)
        row["conversation_a"][0]["content"] = row["conversation_b"][0]["content"] = f"question {i}"
    write_jsonl(tmp_path / "battles.jsonl", rows)
    assert import_votes(tmp_path / "battles.jsonl", store).loaded == len(rows)
    result = standings(store, rounds=200)
    assert result.left_out == {"flagged_voter": 30} and result.board.n_battles == len(rows) - 30
    assert [v["voter_id"] for v in result.to_dict()["flagged_voters"]] == ["sim:contrarian"]
    assert standings(store, rounds=200, include_flagged=True).board.n_battles == len(rows)
    previous = get_settings()
    set_settings(replace(previous, db_url=store.url))
    try:
        from travelbot.ui.leaderboard_view import tables, voter_table

        output = CliRunner().invoke(main, ["leaderboard", "--rounds", "200"]).output
        table, note = voter_table()
    finally:
        set_settings(previous)
    assert "flagged voter sim:contrarian (30 votes, left out): " in output
    assert table[0][0] == "sim:contrarian" and table[0][3] == "yes" and "1 flagged at α = 0.05" in note
    assert "30 votes of 1 voter whose votes are improbable" in tables(result)[3]
