"""1–5 ratings of single answers on the study's criteria, by several raters each.

Answers come from the store's chat turns (Chat, Compare and Arena) and evaluation runs; a rater sees the question and
the answer only — never the variant, never anyone else's scores. Each answer is offered until
``TRAVELBOT_RATING_OVERLAP`` different raters have scored it, answers closest to that goal first, so
every answer gets the overlap inter-rater agreement needs. A changed rating is a new row; the latest
row of a rater for an answer is the one that counts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from datetime import timedelta

from travelbot.config import Settings, get_settings
from travelbot.data.raft import shown_answer
from travelbot.errors import InvalidInputError
from travelbot.feedback import repository
from travelbot.feedback.voters import Voter
from travelbot.schema import utc_now
from travelbot.store import ChatTurn, Store, get_store
from travelbot.text import clean_text

RATING_CRITERIA = ("relevance", "helpfulness", "correctness", "coherence", "conciseness")  # the study's five, 1-5 each
OVERALL = "overall"
RATED = (*RATING_CRITERIA, OVERALL)  # what one rating scores, in this order
MAX_COMMENT_CHARS = 2000
POOL_SIZE = 5000  # most recent answers considered


@dataclass(frozen=True)
class RatingItem:
    """What a rater is shown: a question and one answer (the variant stays on the server)."""

    item_id: str
    question: str
    answer: str


def _turn_item(turn: ChatTurn) -> RatingItem:
    question = turn.prompt or next((m["content"] for m in reversed(turn.messages) if m.get("role") == "user"), "")
    return RatingItem(f"turn:{turn.id}", question, shown_answer(turn))


def _evaluation_items(store: Store, answer_id: int | None = None) -> list[tuple[RatingItem, str]]:
    """Answers from evaluation runs (golden questions), newest first."""
    return [(RatingItem(f"eval:{id_}", question, answer), variant)
            for id_, question, answer, variant in repository.answered_evaluation_answers(store, POOL_SIZE, answer_id)]


def rating_pool(store: Store | None = None) -> dict[str, tuple[RatingItem, str]]:
    """Rateable answers by item id — live chat turns and evaluation answers — each with its variant;
    identical answers of a variant to the same question are offered once."""
    store = store or get_store()
    pool: dict[str, tuple[RatingItem, str]] = {}
    seen: set[tuple[str, str, str]] = set()
    candidates = [(_turn_item(turn), turn.variant) for turn in reversed(repository.answered_turns(store, POOL_SIZE))]
    candidates += list(reversed(_evaluation_items(store)))
    for item, variant in candidates:
        key = (variant, item.question, item.answer)
        if item.answer.strip() and key not in seen:
            seen.add(key)
            pool[item.item_id] = (item, variant)
    return pool


def next_item(rater: Voter, *, store: Store | None = None, settings: Settings | None = None,
              rng: random.Random | None = None, evaluation_only: bool = False) -> RatingItem | None:
    """The next answer for this rater, or None when nothing is left that still needs their rating.

    ``evaluation_only`` serves answers to golden questions from evaluation runs only: the ratings that
    agreement analysis can set beside the metrics' scores of the same answers.
    """
    settings = settings or get_settings()
    store = store or get_store(settings)
    raters, mine = repository.raters_per_item(store, rater.id)
    open_items = [(raters.get(item_id, 0), item) for item_id, (item, _) in rating_pool(store).items()
                  if item_id not in mine and raters.get(item_id, 0) < settings.rating_overlap
                  and (not evaluation_only or item_id.startswith("eval:"))]
    if not open_items:
        return None
    most = max(count for count, _ in open_items)
    item = (rng or random.SystemRandom()).choice([item for count, item in open_items if count == most])
    offer(item.item_id, rater, store)
    return item


def offer(item_id: str, rater: Voter, store: Store | None = None) -> None:
    """Note that this answer is shown to this rater, who may then rate it."""
    repository.insert_offer(store or get_store(), item_id, rater.id)


def check_scores(scores: dict[str, Any], comment: str | None) -> tuple[dict[str, int], str | None]:
    """Scores as whole numbers 1–5 (criteria may be left blank, overall may not) and a trimmed comment."""
    clean: dict[str, int] = {}
    for criterion in RATED:
        value = scores.get(criterion)
        if value in (None, ""):
            if criterion == OVERALL:
                raise InvalidInputError("Give the answer an overall score from 1 to 5.")
            continue
        text = str(value).strip()
        number = int(text) if not isinstance(value, bool) and text.isdigit() else 0
        if isinstance(value, float) and value.is_integer():
            number = int(value)
        if not 1 <= number <= 5:
            raise InvalidInputError(f"{criterion.capitalize()} must be a whole number from 1 to 5, not {value!r}.")
        clean[criterion] = number
    unknown = set(scores) - set(RATED)
    if unknown:
        raise InvalidInputError(f"Unknown criteria {', '.join(sorted(unknown))}; use {', '.join(RATED)}.")
    comment = clean_text(comment or "").strip() or None
    if comment and len(comment) > MAX_COMMENT_CHARS:
        raise InvalidInputError(f"The comment is {len(comment):,} characters long; keep it to {MAX_COMMENT_CHARS:,}.")
    return clean, comment


def record_rating(item_id: str, scores: dict[str, Any], rater: Voter, comment: str | None = None, *,
                  store: Store | None = None, settings: Settings | None = None) -> int:
    """Store one rater's scores for one answer (a new row, also when they change their mind).

    Refused unless the answer was offered to this rater (by :func:`next_item`), and once the rater gave
    ``ratings_per_day`` ratings in the last 24 hours.
    """
    settings = settings or get_settings()
    store = store or get_store(settings)
    clean, comment = check_scores(scores, comment)
    kind, _, number = (item_id or "").partition(":")
    found: list[tuple[RatingItem, str]] = []
    if kind == "turn" and number.isdigit():
        found = [(_turn_item(t), t.variant) for t in repository.answered_turns(store, POOL_SIZE, int(number))]
    elif kind == "eval" and number.isdigit():
        found = _evaluation_items(store, int(number))
    if not found:
        raise InvalidInputError("That answer cannot be rated (it is unknown or unfinished); press “Next answer”.")
    item, variant = found[0]
    added = repository.add_rating(store, {
        "item_id": item.item_id, "variant": variant, "question": item.question, "answer": item.answer,
        "rater_id": rater.id, "rater_name": rater.name, "scores": clean, "comment": comment,
    }, since=utc_now() - timedelta(days=1), per_day=settings.ratings_per_day)
    if added.refused == "not offered":
        raise InvalidInputError("That answer was not shown to you, so you cannot rate it; press “Next answer”.")
    if added.id is None:
        raise InvalidInputError(f"You have given {added.recent} ratings in the last 24 hours, the most allowed; "
                                "thank you — come back tomorrow.")
    return added.id


def rating_rows(store: Store | None = None) -> list[dict[str, Any]]:
    """Every rating, oldest first (later rows of the same rater and answer supersede earlier ones)."""
    rows = repository.all_ratings(store or get_store())
    return [{**row, "created_at": row["created_at"].isoformat()} for row in rows]


def rated_count(rater: Voter, store: Store | None = None) -> int:
    """How many different answers this rater has scored."""
    return repository.rated_item_count(store or get_store(), rater.id)
