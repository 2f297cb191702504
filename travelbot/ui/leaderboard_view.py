"""The leaderboard panel (shown in the Arena tab): ratings with intervals, head-to-head charts, ratings."""

from __future__ import annotations

import math

import gradio as gr

from travelbot.analysis import plots
from travelbot.errors import TravelbotError
from travelbot.feedback.standings import Standings, standings
from travelbot.format import interval
from travelbot.ui.common import error_note

BOARD_COLUMNS = ["rank", "variant", "rating [95% interval]", "battles", "wins", "losses", "ties"]
RATING_COLUMNS = ["variant", "criterion", "mean", "95% interval", "answers"]
AGREEMENT_COLUMNS = ["criterion", "Krippendorff's alpha", "answers with ≥2 raters", "raters"]


def tables(result: Standings) -> tuple[list[list], list[list], list[list], str]:
    board, ratings = result.board, result.ratings
    rows = [[r.rank, r.variant, r.label(), r.battles, r.wins, r.losses, r.ties] for r in board.ratings]
    scores = [[s.variant, s.criterion, None if math.isnan(s.mean) else round(s.mean, 2),
               interval(s.lower, s.upper, 2), s.n] for s in ratings.scores]
    agreement = [[a.criterion, None if math.isnan(a.alpha) else round(a.alpha, 3), a.n_items, a.n_raters]
                 for a in ratings.agreement]
    note = (f"{board.n_battles} votes counted · Bradley–Terry on an Elo-like scale (mean 1000) with a weak prior, "
            f"{board.rounds} bootstrap rounds (seed {board.seed}), 95% intervals; rank = 1 + variants whose "
            f"interval lies entirely above. {ratings.n_ratings} ratings by {ratings.n_raters} raters.")
    if result.flagged_votes:
        note += f" {result.flagged_votes} flagged votes left out (an answer named a model or vendor)."
    if any(r.provisional for r in board.ratings):
        note += (f"\n\nA variant with fewer than {board.min_battles} battles is **provisional**: its rating (≈) "
                 "is a rough guess, read it with its interval.")
    if board.votes_to_separate_top_two:
        note += f"\n\n**Top two.** {board.votes_to_separate_top_two.explanation}"
    return rows, scores, agreement, note


def refresh() -> list:
    """Recompute everything from the store."""
    try:
        result = standings()
    except TravelbotError as exc:
        return [error_note(str(exc)), *[gr.skip()] * 8]
    rows, scores, agreement, note = tables(result)
    return [note, rows, plots.rating_chart(result.board), plots.win_fraction_heatmap(result.board),
            plots.battle_count_heatmap(result.board), plots.pair_win_rate_chart(result.board), scores,
            plots.criteria_chart(result.ratings), agreement]


def build_leaderboard() -> list:
    """Lay out the leaderboard inside the current Blocks context. Returns the components :func:`refresh`
    fills, so the panel's owner decides when to compute it (opening the panel, a new vote)."""
    with gr.Row():
        note = gr.Markdown()
        refresh_button = gr.Button("↻ Refresh", size="sm", scale=0)
    board = gr.Dataframe(headers=BOARD_COLUMNS, interactive=False, label="Variants by human votes")
    rating = gr.Plot(label="Ratings with 95% intervals")
    with gr.Row():
        win_fraction = gr.Plot(label="Win fraction")
        battle_counts = gr.Plot(label="Battle counts")
    pair_rates = gr.Plot(label="Head-to-head win rates")
    gr.Markdown("#### Ratings (Rate tab)")
    scores = gr.Dataframe(headers=RATING_COLUMNS, interactive=False, label="Mean score per criterion")
    criteria = gr.Plot(label="Mean score per criterion")
    agreement = gr.Dataframe(headers=AGREEMENT_COLUMNS, interactive=False, label="Inter-rater agreement")
    outputs = [note, board, rating, win_fraction, battle_counts, pair_rates, scores, criteria, agreement]
    refresh_button.click(refresh, None, outputs, api_name="leaderboard")
    return outputs
