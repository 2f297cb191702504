"""The feedback service's SQL, all of it: battles, votes, the LLM judge's verdicts on battles, rating
offers and ratings, and the chat turns and evaluation answers offered for rating. Each function opens its
own transaction and returns plain values; a check and the write it guards share one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, exc, func, insert, select, text
from sqlalchemy.engine import Connection

from travelbot.schema import battle_judgments, battles, chat_turns, eval_answers, rating_offers, ratings, utc_now, votes
from travelbot.store import ChatTurn, Store


@dataclass(frozen=True)
class Added:
    """What a guarded insert did: the new row's id, or why nothing was added."""

    id: int | None = None
    refused: str | None = None  # "voted" (the battle has a vote), "not offered" (not shown to the rater), "cap"
    recent: int = 0  # the person's rows since ``since`` when refused for the cap


def _recent(conn: Connection, table: Table, person: str, person_id: str, since: datetime) -> int:
    return conn.scalar(select(func.count()).select_from(table)
                       .where(table.c[person] == person_id, table.c.created_at >= since)) or 0


# ---- battles and votes ----

def battle_pair_counts(store: Store) -> list[tuple[str, str, int]]:
    """(variant A, variant B, battles) per ordered pair."""
    with store.transaction() as conn:
        rows = conn.execute(select(battles.c.variant_a, battles.c.variant_b, func.count())
                            .group_by(battles.c.variant_a, battles.c.variant_b)).all()
    return [tuple(row) for row in rows]


def insert_battle(store: Store, battle: Mapping[str, Any]) -> None:
    with store.transaction(write=True) as conn:
        conn.execute(insert(battles).values(**battle))


def battle_row(store: Store, battle_id: str) -> dict[str, Any] | None:
    with store.transaction() as conn:
        row = conn.execute(select(battles).where(battles.c.id == battle_id)).mappings().first()
    return None if row is None else dict(row)


def battle_has_vote(store: Store, battle_id: str) -> bool:
    with store.transaction() as conn:
        return conn.scalar(select(votes.c.id).where(votes.c.battle_id == battle_id)) is not None


def add_vote(store: Store, row: Mapping[str, Any], *, since: datetime, per_day: int) -> Added:
    """Insert the vote unless its battle has one (also when a concurrent vote lands first) or its voter cast
    ``per_day`` votes since ``since``; one transaction (on PostgreSQL one voter's votes take turns)."""
    try:
        with store.transaction(write=True) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:voter))"), {"voter": row["voter_id"]})
            if conn.scalar(select(votes.c.id).where(votes.c.battle_id == row["battle_id"])) is not None:
                return Added(refused="voted")
            today = _recent(conn, votes, "voter_id", row["voter_id"], since)
            if today >= per_day:
                return Added(refused="cap", recent=today)
            return Added(int(conn.execute(insert(votes).values(**row)).inserted_primary_key[0]))
    except exc.IntegrityError:  # one vote per battle: a concurrent click on the same battle got there first
        return Added(refused="voted")


def vote_rows(store: Store, *, include_flagged: bool = True) -> list[dict[str, Any]]:
    """Every vote's row, oldest first."""
    query = select(votes).order_by(votes.c.id)
    if not include_flagged:
        query = query.where(votes.c.flagged.is_(False))
    with store.transaction() as conn:
        return [dict(row) for row in conn.execute(query).mappings().all()]


def add_imported_votes(store: Store, rows: Sequence[Mapping[str, Any]], source: str) -> list[bool]:
    """Insert each vote row with its battle, unless that battle is already stored (or came earlier in
    ``rows``); one transaction. Whether each row was added."""
    added = []
    with store.transaction(write=True) as conn:
        known = set(conn.scalars(select(battles.c.id)))
        for row in rows:
            added.append(row["battle_id"] not in known)
            if not added[-1]:
                continue
            known.add(row["battle_id"])
            conn.execute(insert(battles).values(
                id=row["battle_id"], variant_a=row["model_a"], variant_b=row["model_b"], conversation_a=None,
                conversation_b=None, voter_id=row["voter_id"], voter_name=row["voter_name"],
                settings=row["settings"], source=source, created_at=row["created_at"]))
            conn.execute(insert(votes).values(**row, source=source))
    return added


# ---- the LLM judge on battles ----

def battles_to_judge(store: Store, judge_model: str, battle_ids: Sequence[str] | None = None
                     ) -> tuple[list[tuple[str, list, list]], set[str]]:
    """(battle id, conversation A, conversation B) of each unflagged vote, oldest first (only ``battle_ids``
    unless None), and the battles this judge has judged; one transaction."""
    query = select(votes.c.battle_id, votes.c.conversation_a, votes.c.conversation_b) \
        .where(votes.c.flagged.is_(False)).order_by(votes.c.id)
    if battle_ids is not None:
        query = query.where(votes.c.battle_id.in_(list(battle_ids)))
    with store.transaction() as conn:
        rows = [tuple(row) for row in conn.execute(query).all()]
        done = set(conn.scalars(select(battle_judgments.c.battle_id)
                                .where(battle_judgments.c.judge_model == judge_model)))
    return rows, done


def save_battle_judgments(store: Store, judge_model: str, verdicts: Sequence[Mapping[str, Any]]) -> None:
    """Store the judge's verdicts (each with ``battle_id``), replacing its earlier verdict on the same
    battle; one transaction."""
    with store.transaction(write=True) as conn:
        for verdict in verdicts:
            conn.execute(delete(battle_judgments).where(battle_judgments.c.battle_id == verdict["battle_id"],
                                                        battle_judgments.c.judge_model == judge_model))
            conn.execute(insert(battle_judgments).values(**verdict, judge_model=judge_model, created_at=utc_now()))


def decided_battle_judgments(store: Store) -> list[tuple[str, str, str]]:
    """(judge model, battle id, winner) of every verdict that has a winner."""
    with store.transaction() as conn:
        rows = conn.execute(select(battle_judgments.c.judge_model, battle_judgments.c.battle_id,
                                   battle_judgments.c.winner).where(battle_judgments.c.winner.is_not(None))).all()
    return [tuple(row) for row in rows]


# ---- ratings ----

_TURN_COLUMNS = [chat_turns.c[f.name] for f in fields(ChatTurn)]


def answered_turns(store: Store, limit: int, turn_id: int | None = None) -> list[ChatTurn]:
    """The newest ``limit`` chat turns that finished with an answer, newest first (only ``turn_id`` unless None)."""
    query = (select(*_TURN_COLUMNS)
             .where(chat_turns.c.error.is_(None), chat_turns.c.finish_reason.in_(("stop", "length")),
                    chat_turns.c.answer != "")
             .order_by(chat_turns.c.id.desc()).limit(limit))
    if turn_id is not None:
        query = query.where(chat_turns.c.id == turn_id)
    with store.transaction() as conn:
        return [ChatTurn(**row) for row in conn.execute(query).mappings().all()]


def answered_evaluation_answers(store: Store, limit: int, answer_id: int | None = None
                                ) -> list[tuple[int, str, str, str]]:
    """(id, question, answer, variant) of the newest ``limit`` evaluation answers without an error, newest
    first (only ``answer_id`` unless None)."""
    query = (select(eval_answers.c.id, eval_answers.c.question, eval_answers.c.answer, eval_answers.c.variant)
             .where(eval_answers.c.error.is_(None), eval_answers.c.answer != "")
             .order_by(eval_answers.c.id.desc()).limit(limit))
    if answer_id is not None:
        query = query.where(eval_answers.c.id == answer_id)
    with store.transaction() as conn:
        return [tuple(row) for row in conn.execute(query).all()]


def raters_per_item(store: Store, rater_id: str) -> tuple[dict[str, int], set[str]]:
    """Item id -> how many different raters rated it, and the items this rater rated; one transaction."""
    with store.transaction() as conn:
        raters = dict(conn.execute(select(ratings.c.item_id, func.count(ratings.c.rater_id.distinct()))
                                   .group_by(ratings.c.item_id)).all())
        mine = set(conn.scalars(select(ratings.c.item_id).where(ratings.c.rater_id == rater_id)))
    return raters, mine


def insert_offer(store: Store, item_id: str, rater_id: str) -> None:
    with store.transaction(write=True) as conn:
        conn.execute(insert(rating_offers).values(item_id=item_id, rater_id=rater_id, created_at=utc_now()))


def add_rating(store: Store, rating: Mapping[str, Any], *, since: datetime, per_day: int) -> Added:
    """Insert the rating if its item was offered to its rater and the rater gave fewer than ``per_day``
    ratings since ``since``; one transaction."""
    with store.transaction(write=True) as conn:
        offered = conn.scalar(select(rating_offers.c.id).where(rating_offers.c.item_id == rating["item_id"],
                                                               rating_offers.c.rater_id == rating["rater_id"]).limit(1))
        if offered is None:
            return Added(refused="not offered")
        today = _recent(conn, ratings, "rater_id", rating["rater_id"], since)
        if today >= per_day:
            return Added(refused="cap", recent=today)
        return Added(int(conn.execute(insert(ratings).values(**rating, created_at=utc_now())).inserted_primary_key[0]))


def all_ratings(store: Store) -> list[dict[str, Any]]:
    """Every rating's row, oldest first."""
    with store.transaction() as conn:
        return [dict(row) for row in conn.execute(select(ratings).order_by(ratings.c.id)).mappings().all()]


def rated_item_count(store: Store, rater_id: str) -> int:
    """How many different items this rater rated."""
    with store.transaction() as conn:
        return int(conn.scalar(select(func.count(ratings.c.item_id.distinct()))
                               .where(ratings.c.rater_id == rater_id)) or 0)


def battle_judgment_consistency(store: Store) -> list[tuple[str, bool]]:
    """(judge model, whether its two presentation orders agreed) of every battle verdict asked in both orders."""
    with store.transaction() as conn:
        rows = conn.execute(select(battle_judgments.c.judge_model, battle_judgments.c.consistent)
                            .where(battle_judgments.c.consistent.is_not(None))).all()
    return [(model, bool(consistent)) for model, consistent in rows]
