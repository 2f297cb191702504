"""Each chart draws a small board or summary, and says so plainly when there is nothing to draw."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from travelbot.analysis.plots import (
    battle_count_heatmap,
    criteria_chart,
    pair_win_rate_chart,
    rating_chart,
    win_fraction_heatmap,
)
from travelbot.feedback.leaderboard import leaderboard, rating_summary

BOARD_CHARTS = [rating_chart, win_fraction_heatmap, battle_count_heatmap, pair_win_rate_chart]


@pytest.fixture(scope="module")
def board():
    rows = ([{"model_a": "qlora", "model_b": "raft", "winner": "model_b"}] * 6
            + [{"model_a": "raft", "model_b": "rlhf", "winner": "tie"}] * 2
            + [{"model_a": "rlhf", "model_b": "qlora", "winner": "model_a"}] * 3
            + [{"model_a": "qlora", "model_b": "rlhf", "winner": "model_a"}])
    return leaderboard(rows, rounds=200)


@pytest.fixture(scope="module")
def summary():
    rows = [{"item_id": f"q{i}", "rater_id": r, "variant": v, "scores": {"overall": 1 + (i + len(v)) % 5,
                                                                         "relevance": 3}}
            for i in range(4) for r in ("ann", "bob") for v in ("qlora", "raft")]
    return rating_summary(rows)


def _annotations(figure: go.Figure) -> list[str]:
    return [a.text for a in figure.layout.annotations]


@pytest.mark.parametrize("chart", BOARD_CHARTS)
def test_board_charts_draw_traces(chart, board):
    figure = chart(board)
    assert isinstance(figure, go.Figure) and len(figure.data) >= 1
    assert figure.layout.title.text
    assert "No votes yet" not in _annotations(figure)
    figure.to_json()  # serialisable, nan included


def test_rating_chart_whiskers_match_intervals(board):
    trace = rating_chart(board).data[0]
    assert list(trace.x) == board.variants
    first = board.ratings[0]
    assert trace.error_y.array[0] == pytest.approx(first.upper - first.rating)
    assert trace.error_y.arrayminus[0] == pytest.approx(first.rating - first.lower)


def test_heatmaps_follow_board_order(board):
    heatmap = win_fraction_heatmap(board).data[0]
    assert list(heatmap.x) == list(heatmap.y) == board.variants
    assert [list(row) for row in heatmap.z] == board.win_fraction
    assert "row" in win_fraction_heatmap(board).layout.title.text
    assert [list(row) for row in battle_count_heatmap(board).data[0].z] == board.battle_counts


def test_pair_chart_has_half_line(board):
    figure = pair_win_rate_chart(board)
    assert len(figure.data[0].x) == len(board.pairs)
    assert any(shape.x0 == 0.5 for shape in figure.layout.shapes)


def test_criteria_chart_groups_variants(summary):
    figure = criteria_chart(summary)
    assert [trace.name for trace in figure.data] == ["qlora", "raft"]
    assert list(figure.data[0].x) == ["relevance", "overall"]
    assert figure.layout.barmode == "group"


@pytest.mark.parametrize("chart", BOARD_CHARTS)
def test_empty_board_says_no_votes(chart):
    figure = chart(leaderboard([], rounds=200))
    assert figure.data == () and _annotations(figure) == ["No votes yet"]


def test_empty_summary_says_no_ratings():
    figure = criteria_chart(rating_summary([]))
    assert figure.data == () and _annotations(figure) == ["No ratings yet"]
