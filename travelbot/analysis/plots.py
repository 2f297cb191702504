"""Plotly figures of the leaderboard, the rating summary and the verdict's cost and quality: pure functions, data in, ``go.Figure`` out."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import plotly.graph_objects as go

if TYPE_CHECKING:
    from travelbot.analysis.verdict import Verdict
    from travelbot.feedback.leaderboard import Leaderboard, RatingSummary

NO_VOTES = "No votes yet"
NO_RATINGS = "No ratings yet"


def _empty(title: str, message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                          font={"size": 18})
    figure.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False})
    return figure


def _below(value: float, lower: float) -> float | None:
    return value - lower if math.isfinite(lower) else None


def _above(value: float, upper: float) -> float | None:
    return upper - value if math.isfinite(upper) else None


def _percent(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def rating_chart(board: Leaderboard) -> go.Figure:
    """Ratings best first, with whiskers from the bootstrap interval."""
    title = f"Bradley–Terry rating (Elo scale) with {_percent(board.confidence)} bootstrap interval"
    if not board.ratings:
        return _empty(title, NO_VOTES)
    rows = board.ratings
    figure = go.Figure(go.Scatter(
        x=[r.variant for r in rows], y=[r.rating for r in rows], mode="markers",
        marker={"size": 10},
        error_y={"type": "data", "symmetric": False, "array": [_above(r.rating, r.upper) for r in rows],
                 "arrayminus": [_below(r.rating, r.lower) for r in rows]},
        customdata=[[r.rank, r.battles, r.wins, r.losses, r.ties, r.lower, r.upper] for r in rows],
        hovertemplate=("<b>%{x}</b><br>rating %{y:.0f} [%{customdata[5]:.0f}, %{customdata[6]:.0f}]"
                       "<br>rank %{customdata[0]}; %{customdata[1]} battles: %{customdata[2]} won, "
                       "%{customdata[3]} lost, %{customdata[4]} tied<extra></extra>"),
        name="rating",
    ))
    figure.add_hline(y=board.center, line_dash="dot", line_color="grey")
    figure.update_layout(title=title, xaxis_title="variant", yaxis_title="rating", showlegend=False)
    return figure


def _heatmap(board: Leaderboard, values: list[list], text: list[list[str]], title: str, colour: str,
             zmin: float | None, zmax: float | None, hover: str) -> go.Figure:
    figure = go.Figure(go.Heatmap(
        z=values, x=board.variants, y=board.variants, text=text, texttemplate="%{text}",
        colorscale=colour, zmin=zmin, zmax=zmax, hovertemplate=hover + "<extra></extra>",
    ))
    figure.update_layout(title=title, xaxis_title="model B (column)", yaxis_title="model A (row)",
                         yaxis_autorange="reversed", xaxis_side="top")
    return figure


def win_fraction_heatmap(board: Leaderboard) -> go.Figure:
    """Cell (row, column): share of their decided battles (ties left out) that the row variant won."""
    title = "Win fraction: row beat column<br><sup>decided battles only, ties left out</sup>"
    if not board.ratings:
        return _empty(title, NO_VOTES)
    text = [["" if v is None else f"{v:.2f}" for v in row] for row in board.win_fraction]
    return _heatmap(board, board.win_fraction, text, title, "RdBu", 0.0, 1.0,
                    "%{y} beat %{x} in %{z:.0%} of decided battles")


def battle_count_heatmap(board: Leaderboard) -> go.Figure:
    """Cell (row, column): number of battles between the two variants, ties included."""
    title = "Battles between row and column<br><sup>ties included</sup>"
    if not board.ratings:
        return _empty(title, NO_VOTES)
    text = [[str(v) if i != j else "" for j, v in enumerate(row)] for i, row in enumerate(board.battle_counts)]
    return _heatmap(board, board.battle_counts, text, title, "Blues", 0, None, "%{y} vs %{x}: %{z} battles")


def pair_win_rate_chart(board: Leaderboard) -> go.Figure:
    """Per pair: share won by the first variant (ties as halves), with Wilson whiskers and a 0.5 line."""
    title = (f"Head-to-head win rate of the first variant (ties count half), "
             f"{_percent(board.confidence)} Wilson interval")
    if not board.pairs:
        return _empty(title, NO_VOTES)
    pairs = board.pairs
    figure = go.Figure(go.Scatter(
        x=[p.win_rate_a for p in pairs], y=[f"{p.variant_a} vs {p.variant_b}" for p in pairs], mode="markers",
        marker={"size": 10},
        error_x={"type": "data", "symmetric": False, "array": [_above(p.win_rate_a, p.upper) for p in pairs],
                 "arrayminus": [_below(p.win_rate_a, p.lower) for p in pairs]},
        customdata=[[p.battles, p.wins_a, p.wins_b, p.ties] for p in pairs],
        hovertemplate=("<b>%{y}</b><br>win rate %{x:.2f}<br>%{customdata[0]} battles: %{customdata[1]} - "
                       "%{customdata[2]}, %{customdata[3]} tied<extra></extra>"),
        name="win rate",
    ))
    figure.add_vline(x=0.5, line_dash="dash", line_color="grey")
    figure.update_layout(title=title, xaxis_title="win rate of the first variant", xaxis_range=[0, 1],
                         yaxis_autorange="reversed", showlegend=False)
    return figure


def criteria_chart(summary: RatingSummary) -> go.Figure:
    """Grouped bars: mean 1–5 score per criterion, one bar per variant, with bootstrap whiskers."""
    title = f"Mean rating per criterion (1–5) with {_percent(summary.confidence)} bootstrap interval"
    if not summary.scores:
        return _empty(title, NO_RATINGS)
    figure = go.Figure()
    for variant in summary.variants:
        rows = [s for s in summary.scores if s.variant == variant]
        figure.add_trace(go.Bar(
            name=variant, x=[s.criterion for s in rows], y=[s.mean for s in rows],
            error_y={"type": "data", "symmetric": False, "array": [_above(s.mean, s.upper) for s in rows],
                     "arrayminus": [_below(s.mean, s.lower) for s in rows]},
            customdata=[[s.n] for s in rows],
            hovertemplate="<b>%{fullData.name}</b><br>%{x}: %{y:.2f} over %{customdata[0]} answers<extra></extra>",
        ))
    figure.update_layout(title=title, barmode="group", xaxis_title="criterion", yaxis_title="mean score",
                         yaxis_range=[0, 5.2], legend_title="variant")
    return figure


def metric_correlation_heatmap(metrics: list[str], matrix: list[list[float | None]], n: int) -> go.Figure:
    """Spearman correlation between every two metrics over the same answers (the study's figure)."""
    title = f"Spearman correlation between metrics over {n} evaluation answers"
    if not metrics:
        return _empty(title, "No evaluation scores yet")
    text = [["" if v is None else f"{v:.2f}" for v in row] for row in matrix]
    figure = go.Figure(go.Heatmap(z=matrix, x=metrics, y=metrics, text=text, texttemplate="%{text}",
                                  colorscale="RdBu", zmin=-1, zmax=1, hoverongaps=False))
    figure.update_layout(title=title, yaxis_autorange="reversed")
    return figure


def metric_rating_scatter(points: list[tuple[float, float, str]], metric: str, criterion: str = "overall") -> go.Figure:
    """Metric value against mean human rating (on one criterion) per answer, one colour per variant, with a
    least-squares line."""
    import numpy as np

    figure = go.Figure()
    title = f"{metric} vs mean {criterion} rating ({len(points)} rated evaluation answers)"
    if len(points) < 2:
        figure.add_annotation(text="No rated evaluation answers with this metric yet", showarrow=False,
                              x=0.5, y=0.5, xref="paper", yref="paper")
        figure.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False})
        return figure
    for variant in sorted({p[2] for p in points}):
        mine = [p for p in points if p[2] == variant]
        figure.add_trace(go.Scatter(x=[p[0] for p in mine], y=[p[1] for p in mine], mode="markers", name=variant))
    x, y = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    if np.ptp(x) > 0:
        slope, intercept = np.polyfit(x, y, 1)
        line = np.linspace(x.min(), x.max(), 2)
        figure.add_trace(go.Scatter(x=line, y=slope * line + intercept, mode="lines", name="least-squares fit",
                                    line={"dash": "dash"}))
    figure.update_layout(title=title, xaxis_title=metric, yaxis_title=f"mean {criterion} rating (1–5)")
    return figure


def cost_quality(found: Verdict) -> go.Figure:
    """People's rating against training time and against first-token latency; the front marked."""
    chart = go.Figure()
    rated = [r for r in found.rows if r.people_rating]
    from travelbot.analysis.verdict import pareto_front

    if not rated:
        chart.add_annotation(text="No votes yet: the chart needs people's ratings (Arena)", showarrow=False,
                               x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 16})
        chart.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, height=320)
        return chart
    for axis, label, kind, cost in (("x", "training (s)", "training",  # a base costs no training
                                     lambda r: 0.0 if r.method == "base" else (r.training or {}).get("seconds")),
                                    ("x2", "first token (s)", "latency", lambda r: (r.serving or {}).get("first_token_s"))):
        front = set(pareto_front(found.rows, kind))
        points = [r for r in rated if cost(r) is not None]
        chart.add_trace(go.Scatter(
            x=[cost(r) for r in points], y=[r.people_rating["value"] for r in points], xaxis=axis, mode="markers+text",
            text=[r.variant + (" ★" if r.variant == found.recommended else "") for r in points],
            textposition="top center", name=label,
            marker={"size": 12, "symbol": ["diamond" if r.variant in front else "circle" for r in points]},
            error_y={"type": "data", "symmetric": False,
                     "array": [r.people_rating["upper"] - r.people_rating["value"] for r in points],
                     "arrayminus": [r.people_rating["value"] - r.people_rating["lower"] for r in points]}))
    chart.update_layout(
        height=380, showlegend=False, margin={"l": 50, "r": 10, "t": 30, "b": 40},
        xaxis={"domain": [0, 0.47], "title": "training time (s)"},
        xaxis2={"domain": [0.53, 1], "title": "first token, median (s)"},
        yaxis={"title": "people's rating (Bradley–Terry)"},
        title="Quality against cost (◆ on the front: nothing better and cheaper; ★ recommended)")
    return chart
