"""The leaderboard as it stands in the store: Bradley–Terry ratings from the votes, mean ratings per
criterion from the raters; used by the Arena tab and ``travelbot leaderboard``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from travelbot.config import get_settings
from travelbot.feedback.leaderboard import Leaderboard, RatingSummary, leaderboard, rating_summary
from travelbot.feedback.ratings import rating_rows
from travelbot.feedback.style import StyleControl, style_control
from travelbot.feedback.voter_quality import VoterCheck, store_battles
from travelbot.store import Store, get_store


@dataclass
class Standings:
    board: Leaderboard
    ratings: RatingSummary
    flagged_votes: int  # kept in the store, left out of the board unless asked for
    style: StyleControl | None = None  # the style-controlled board, when asked for
    left_out: dict[str, int] = field(default_factory=dict)  # votes not counted, by reason (voter_quality)
    voters: list[VoterCheck] = field(default_factory=list)  # the voter test, most suspect first

    def to_dict(self) -> dict[str, Any]:
        return {"leaderboard": self.board.to_dict(), "ratings": self.ratings.to_dict(),
                "flagged_votes": self.flagged_votes, "left_out": self.left_out,
                "flagged_voters": [v.to_dict() for v in self.voters if v.flagged],
                "style_control": self.style.to_dict() if self.style else None}


def standings(store: Store | None = None, *, rounds: int = 1000, seed: int = 0, include_flagged: bool = False,
              min_battles: int | None = None, with_style: bool = False) -> Standings:
    """Ratings with bootstrap intervals from every (unflagged) vote, and the rating summary. A variant with
    fewer than ``min_battles`` battles (default ``TRAVELBOT_LEADERBOARD_MIN_BATTLES``) is provisional.
    ``with_style`` adds the style-controlled ratings (``feedback.style``) from the same votes. Votes flagged
    for naming a model and the votes of voters the voter test flags are left out unless ``include_flagged``;
    repeated questions beyond the cap always (``feedback.voter_quality``)."""
    store = store or get_store()
    counted, left_out, voters = store_battles(store, include_flagged=include_flagged)
    flagged = sum(1 for row in counted if row["flagged"]) if include_flagged else left_out.get("flagged_vote", 0)
    if min_battles is None:
        min_battles = get_settings().leaderboard_min_battles
    board = leaderboard(counted, rounds=rounds, seed=seed, min_battles=min_battles)
    style = style_control(counted) if with_style else None
    return Standings(board, rating_summary(rating_rows(store)), flagged, style, left_out, voters)
