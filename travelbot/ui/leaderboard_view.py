"""The leaderboard panel (shown in the Arena tab): ratings with intervals, head-to-head charts, ratings."""

from __future__ import annotations

import math

import gradio as gr

from travelbot.analysis import plots
from travelbot.errors import TravelbotError
from travelbot.feedback.standings import Standings, standings
from travelbot.format import estimate, interval
from travelbot.ui.common import error_note

BOARD_COLUMNS = ["rank", "variant", "rating [95% interval]", "battles", "wins", "losses", "ties"]
RATING_COLUMNS = ["variant", "criterion", "mean", "95% interval", "answers"]
AGREEMENT_COLUMNS = ["criterion", "Krippendorff's alpha", "answers with ≥2 raters", "raters"]
VOTER_COLUMNS = ["voter", "votes", "p (adjusted for the looks)", "left out", "evidence"]
STYLE_COLUMNS = ["rank", "variant", "style-controlled [95% interval]", "raw (same votes)", "battles"]


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
    if result.left_out.get("flagged_voter"):
        flagged = sum(1 for v in result.voters if v.flagged)
        note += (f" {result.left_out['flagged_voter']} votes of {flagged} voter{'' if flagged == 1 else 's'} whose votes "
                 "are improbable under everyone else's left out (voter test, α = 0.05).")
    if result.left_out.get("repeated_question"):
        note += f" {result.left_out['repeated_question']} battles on a question asked more often than the cap left out."
    if any(r.provisional for r in board.ratings):
        note += (f"\n\nA variant with fewer than {board.min_battles} battles is **provisional**: its rating (≈) "
                 "is a rough guess, read it with its interval.")
    if board.votes_to_separate_top_two:
        note += f"\n\n**Top two.** {board.votes_to_separate_top_two.explanation}"
    return rows, scores, agreement, note


def style_tables(result: Standings) -> tuple[list[list], str]:
    """The style-controlled board and what each style covariate does to a vote."""
    style = result.style
    if style is None or not style.ratings:
        return [], ("Style control needs votes between at least two variants whose answers are stored "
                    f"({style.n_battles if style else 0} such votes so far).")
    rows = [[r.rank, r.variant, estimate(r.rating, r.lower, r.upper, 0), round(r.raw), r.battles]
            for r in style.ratings]
    note = (f"**Style control** (as LMArena): Bradley–Terry fitted jointly with the normalised differences of answer "
            f"length in tokens, markdown headers, list items and bold spans, on {style.n_battles} votes whose answers "
            "are stored. A rating here is what the variant would earn if its answers were styled like its opponents'.\n\n"
            + "\n".join(f"- {c.sentence}" for c in style.coefficients))
    return rows, note


def refresh(with_style: bool = False) -> list:
    """Recompute everything from the store (the style-controlled board too when asked for)."""
    try:
        result = standings(with_style=bool(with_style))
    except TravelbotError as exc:
        return [error_note(str(exc)), *[gr.skip()] * 10]
    rows, scores, agreement, note = tables(result)
    style_rows, style_note = style_tables(result) if with_style else ([], "")
    return [note, rows, gr.Dataframe(style_rows, visible=bool(with_style)), gr.Markdown(style_note, visible=bool(with_style)),
            plots.rating_chart(result.board), plots.win_fraction_heatmap(result.board),
            plots.battle_count_heatmap(result.board), plots.pair_win_rate_chart(result.board), scores,
            plots.criteria_chart(result.ratings), agreement]


def build_leaderboard() -> tuple[list, gr.Checkbox]:
    """Lay out the leaderboard inside the current Blocks context. Returns the components :func:`refresh`
    fills and the style-control switch (its input), so the panel's owner decides when to compute it
    (opening the panel, a new vote)."""
    with gr.Row():
        note = gr.Markdown()
        with gr.Column(scale=0, min_width=160):
            refresh_button = gr.Button("↻ Refresh", size="sm")
            with_style = gr.Checkbox(False, label="Style control",
                                     info="Hold answer length and markdown equal (LMArena's method)")
    board = gr.Dataframe(headers=BOARD_COLUMNS, interactive=False, label="Variants by human votes")
    style_board = gr.Dataframe(headers=STYLE_COLUMNS, interactive=False, visible=False,
                               label="Variants by human votes, style held equal")
    style_note = gr.Markdown(visible=False)
    rating = gr.Plot(label="Ratings with 95% intervals")
    with gr.Row():
        win_fraction = gr.Plot(label="Win fraction")
        battle_counts = gr.Plot(label="Battle counts")
    pair_rates = gr.Plot(label="Head-to-head win rates")
    gr.Markdown("#### Ratings (Rate tab)")
    scores = gr.Dataframe(headers=RATING_COLUMNS, interactive=False, label="Mean score per criterion")
    criteria = gr.Plot(label="Mean score per criterion")
    agreement = gr.Dataframe(headers=AGREEMENT_COLUMNS, interactive=False, label="Inter-rater agreement")
    outputs = [note, board, style_board, style_note, rating, win_fraction, battle_counts, pair_rates, scores,
               criteria, agreement]
    refresh_button.click(refresh, with_style, outputs, api_name="leaderboard")
    with_style.change(refresh, with_style, outputs, api_visibility="private")
    return outputs, with_style


def voter_table() -> tuple[list[list], str]:
    """The voter test over the store (admins): every tested voter, most suspect first, with the evidence."""
    from travelbot.feedback.voter_quality import ALPHA, MIN_VOTES, store_battles

    try:
        _, left_out, checks = store_battles()
    except TravelbotError as exc:
        return [], error_note(str(exc))
    tested = [c for c in checks if c.votes >= MIN_VOTES]
    rows = [[c.voter_name or c.voter_id, c.votes, round(c.p_value, 4), "yes" if c.flagged else "", c.evidence]
            for c in tested]
    flagged = sum(c.flagged for c in tested)
    note = (f"{len(tested)} voters with at least {MIN_VOTES} votes tested; {flagged} flagged at α = {ALPHA} "
            f"(their {left_out.get('flagged_voter', 0)} votes are kept but left out of the board and of preference "
            "datasets; `travelbot leaderboard --include-flagged` counts them). A vote's p-value comes from the other "
            "voters' record on the same pair; Fisher's method combines a voter's votes, looked at after 5, 10, 20, … "
            "votes (docs/feedback.md, *Voter quality*).")
    return rows, note
