"""The database schema: every table, and the ordered migrations that create and change them.

Each migration builds its tables from a frozen ``_vN_*`` function, so a later change to the current
schema never rewrites history; ``metadata`` / ``TABLES`` describe the current schema for queries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive, we put UTC back); naive in = UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _v1_tables(md: MetaData) -> tuple[Table, Table]:
    """The schema as migration m001 created it; frozen, later changes go into new migrations."""
    conversations = Table(
        "conversations", md,
        Column("id", Text, primary_key=True), Column("kind", Text, nullable=False),
        Column("client_id", Text), Column("created_at", UTCDateTime, nullable=False))
    chat_turns = Table(
        "chat_turns", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("conversation_id", Text, ForeignKey("conversations.id"), nullable=False),
        Column("turn_index", Integer, nullable=False), Column("variant", Text, nullable=False),
        Column("base", Text, nullable=False), Column("method", Text, nullable=False),
        Column("messages", JSON, nullable=False), Column("answer", Text, nullable=False),
        Column("settings", JSON, nullable=False),
        Column("prompt_tokens", Integer, nullable=False), Column("completion_tokens", Integer, nullable=False),
        Column("seconds", Float, nullable=False), Column("first_token_seconds", Float),
        Column("finish_reason", Text, nullable=False), Column("error", Text), Column("client_id", Text),
        Column("created_at", UTCDateTime, nullable=False),
        Index("ix_chat_turns_conversation_id", "conversation_id"), Index("ix_chat_turns_variant", "variant"))
    return conversations, chat_turns


# The current schema, for queries: v1 plus whatever later migrations add (``Table.append_column``).
metadata = MetaData()
migrations_table = Table("_migrations", metadata, Column("name", Text, primary_key=True),
                         Column("applied_at", UTCDateTime, nullable=False))
conversations, chat_turns = _v1_tables(metadata)
TABLES: dict[str, Table] = {t.name: t for t in metadata.sorted_tables}

Migration = Callable[[Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Register a schema step; it runs once per database, in the order of definition, named by ``__name__``."""
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_conversations_and_chat_turns(conn: Connection) -> None:
    """Conversations and the turns logged in them."""
    md = MetaData()
    _v1_tables(md)
    md.create_all(conn)


JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def _v2_training_jobs(md: MetaData) -> Table:
    """The training_jobs table as migration m002 created it; frozen like v1."""
    return Table(
        "training_jobs", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("name", Text, nullable=False), Column("method", Text, nullable=False),
        Column("preset", Text, nullable=False), Column("status", Text, nullable=False),
        Column("device", Text, nullable=False), Column("pid", Integer),
        Column("config", JSON, nullable=False), Column("command", JSON),
        Column("run_dir", Text, nullable=False), Column("log_path", Text, nullable=False), Column("output_path", Text),
        Column("created_at", UTCDateTime, nullable=False), Column("started_at", UTCDateTime),
        Column("finished_at", UTCDateTime), Column("error", Text), Column("last_progress", JSON),
        Column("metrics", JSON),
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
                        name="ck_training_jobs_status"),
        Index("ix_training_jobs_status", "status"))


@migration
def m002_training_jobs(conn: Connection) -> None:
    """Training jobs: mutable records of child processes (queued -> running -> succeeded/failed/cancelled)."""
    md = MetaData()
    _v2_training_jobs(md)
    md.create_all(conn)


WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")  # FastChat's battle outcomes


def _v3_feedback_tables(md: MetaData) -> tuple[Table, Table, Table]:
    """Battles, votes and ratings as migration m003 created them; frozen like v1."""
    battles = Table(
        "battles", md,
        Column("id", Text, primary_key=True),
        Column("variant_a", Text, nullable=False), Column("variant_b", Text, nullable=False),
        Column("conversation_a", Text, ForeignKey("conversations.id")),
        Column("conversation_b", Text, ForeignKey("conversations.id")),
        Column("voter_id", Text, nullable=False), Column("voter_name", Text),
        Column("settings", JSON, nullable=False), Column("source", Text, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Index("ix_battles_pair", "variant_a", "variant_b"))
    votes = Table(
        "votes", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("battle_id", Text, ForeignKey("battles.id"), nullable=False),
        Column("model_a", Text, nullable=False), Column("model_b", Text, nullable=False),
        Column("winner", Text, nullable=False), Column("judge", Text, nullable=False),
        Column("voter_id", Text, nullable=False), Column("voter_name", Text),
        Column("conversation_a", JSON, nullable=False), Column("conversation_b", JSON, nullable=False),
        Column("turns", Integer, nullable=False), Column("settings", JSON, nullable=False),
        Column("flagged", Boolean, nullable=False), Column("flag_reason", Text),
        Column("source", Text, nullable=False), Column("created_at", UTCDateTime, nullable=False),
        # One vote per battle, enforced by the database so concurrent clicks cannot both land.
        UniqueConstraint("battle_id", name="uq_votes_battle_id"),
        CheckConstraint("winner IN ('model_a', 'model_b', 'tie', 'tie (bothbad)')", name="ck_votes_winner"),
        Index("ix_votes_voter_created", "voter_id", "created_at"))
    ratings = Table(
        "ratings", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("item_id", Text, nullable=False), Column("variant", Text, nullable=False),
        Column("question", Text, nullable=False), Column("answer", Text, nullable=False),
        Column("rater_id", Text, nullable=False), Column("rater_name", Text),
        Column("scores", JSON, nullable=False), Column("comment", Text),
        Column("created_at", UTCDateTime, nullable=False),
        Index("ix_ratings_item", "item_id"), Index("ix_ratings_rater", "rater_id"))
    return battles, votes, ratings


battles, votes, ratings = _v3_feedback_tables(metadata)
TABLES.update({t.name: t for t in (battles, votes, ratings)})
chat_turns.append_column(Column("prompt", Text))  # the user's message as typed (before any retrieved documents)


@migration
def m003_battles_votes_ratings(conn: Connection) -> None:
    """Arena battles, one vote per battle (a FastChat battle row) and 1-5 ratings, all append-only; and the
    user's message as typed on each chat turn (a RAFT prompt also carries retrieved documents)."""
    md = MetaData()
    _v1_tables(md)  # for the foreign keys to conversations
    _v3_feedback_tables(md)
    md.create_all(conn, tables=[md.tables["battles"], md.tables["votes"], md.tables["ratings"]])
    conn.exec_driver_sql("ALTER TABLE chat_turns ADD COLUMN prompt TEXT")


def _v4_evaluation_tables(md: MetaData) -> tuple[Table, ...]:
    """Evaluation runs, golden-set answers, per-answer scores and pairwise judge verdicts (m004); frozen."""
    eval_runs = Table(
        "eval_runs", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("status", Text, nullable=False), Column("variants", JSON, nullable=False),
        Column("split", Text, nullable=False), Column("question_limit", Integer),
        Column("scorers", JSON, nullable=False), Column("settings", JSON, nullable=False),
        Column("judge", JSON), Column("progress", JSON), Column("usage", JSON), Column("error", Text),
        Column("created_at", UTCDateTime, nullable=False), Column("finished_at", UTCDateTime),
        CheckConstraint("status IN ('running', 'succeeded', 'failed', 'cancelled')", name="ck_eval_runs_status"))
    eval_answers = Table(
        "eval_answers", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        # (variant, adapter revision, question, settings): a re-run reuses the answer instead of generating it
        Column("cache_key", Text, nullable=False),
        Column("variant", Text, nullable=False), Column("variant_revision", Text, nullable=False),
        Column("base", Text, nullable=False), Column("method", Text, nullable=False),
        Column("question_id", Text, nullable=False), Column("question", Text, nullable=False),
        Column("golden", Text), Column("answer", Text, nullable=False), Column("raw_answer", Text, nullable=False),
        Column("contexts", JSON, nullable=False), Column("settings", JSON, nullable=False),
        Column("prompt_tokens", Integer, nullable=False), Column("completion_tokens", Integer, nullable=False),
        Column("seconds", Float, nullable=False), Column("batch_size", Integer, nullable=False),
        Column("finish_reason", Text, nullable=False), Column("error", Text),
        Column("created_at", UTCDateTime, nullable=False),
        UniqueConstraint("cache_key", name="uq_eval_answers_cache_key"))
    eval_run_answers = Table(
        "eval_run_answers", md,
        Column("run_id", Integer, ForeignKey("eval_runs.id"), primary_key=True),
        Column("answer_id", Integer, ForeignKey("eval_answers.id"), primary_key=True))
    eval_scores = Table(
        "eval_scores", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("answer_id", Integer, ForeignKey("eval_answers.id"), nullable=False),
        Column("scorer", Text, nullable=False), Column("scorer_version", Text, nullable=False),
        Column("metric", Text, nullable=False), Column("value", Float), Column("missing", Text),
        Column("detail", JSON, nullable=False), Column("created_at", UTCDateTime, nullable=False),
        UniqueConstraint("answer_id", "scorer", "scorer_version", "metric", name="uq_eval_scores_key"),
        CheckConstraint("(value IS NULL) <> (missing IS NULL)", name="ck_eval_scores_value_or_missing"))
    judge_verdicts = Table(
        "judge_verdicts", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("cache_key", Text, nullable=False), Column("kind", Text, nullable=False),
        Column("question_id", Text, nullable=False),
        Column("answer_a", Integer, ForeignKey("eval_answers.id"), nullable=False),
        Column("answer_b", Integer, ForeignKey("eval_answers.id"), nullable=False),
        Column("variant_a", Text, nullable=False), Column("variant_b", Text, nullable=False),
        Column("judge_model", Text, nullable=False), Column("prompt_version", Text, nullable=False),
        Column("winner", Text), Column("missing", Text), Column("consistent", Boolean),
        Column("detail", JSON, nullable=False), Column("usage", JSON, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        UniqueConstraint("cache_key", name="uq_judge_verdicts_cache_key"))
    return eval_runs, eval_answers, eval_run_answers, eval_scores, judge_verdicts


eval_runs, eval_answers, eval_run_answers, eval_scores, judge_verdicts = _v4_evaluation_tables(metadata)
TABLES.update({t.name: t for t in (eval_runs, eval_answers, eval_run_answers, eval_scores, judge_verdicts)})


@migration
def m004_evaluation(conn: Connection) -> None:
    """Evaluation runs over the golden set: cached answers, per-answer scores, pairwise judge verdicts."""
    md = MetaData()
    tables = _v4_evaluation_tables(md)
    md.create_all(conn, tables=list(tables))


def _v5_judgments(md: MetaData) -> Table:
    """Imported pairwise human judgments (m005); frozen."""
    return Table(
        "judgments", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("set_name", Text, nullable=False), Column("item_id", Text, nullable=False),
        Column("prompt", Text, nullable=False),
        Column("response_a", Text), Column("response_b", Text),  # None: the source had no text (left out of text metrics)
        Column("reference", Text),
        Column("labels", JSON, nullable=False),  # annotator id -> "A" | "B" | "tie"
        Column("judges", JSON, nullable=False),  # judge name -> {"label", "raw", "reason", "reference"}
        Column("source", Text, nullable=False), Column("created_at", UTCDateTime, nullable=False),
        UniqueConstraint("set_name", "item_id", name="uq_judgments_set_item"))


judgments = _v5_judgments(metadata)
TABLES[judgments.name] = judgments


@migration
def m005_judgments(conn: Connection) -> None:
    """Imported human judgments (e.g. PandaLM's annotated test set), for agreement analysis."""
    md = MetaData()
    _v5_judgments(md)
    md.create_all(conn)


def _v6_rating_offers(md: MetaData) -> Table:
    """Which answer was shown to which rater (m006); a rating is accepted only for an answer offered to its
    rater. Frozen."""
    return Table(
        "rating_offers", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("item_id", Text, nullable=False), Column("rater_id", Text, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Index("ix_rating_offers_rater_item", "rater_id", "item_id"))


rating_offers = _v6_rating_offers(metadata)
TABLES[rating_offers.name] = rating_offers


@migration
def m006_rating_offers(conn: Connection) -> None:
    """Answers offered to raters, so a rating comes only from the rater an answer was shown to."""
    md = MetaData()
    _v6_rating_offers(md)
    md.create_all(conn)


def _v7_battle_judgments(md: MetaData) -> Table:
    """An LLM judge's verdict on an arena battle (m007), asked in both presentation orders; frozen."""
    return Table(
        "battle_judgments", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("battle_id", Text, nullable=False),  # battles.id (no foreign key: the migration stands alone)
        Column("judge_model", Text, nullable=False), Column("prompt_version", Text, nullable=False),
        Column("winner", Text), Column("missing", Text), Column("consistent", Boolean),
        Column("detail", JSON, nullable=False), Column("usage", JSON, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        UniqueConstraint("battle_id", "judge_model", name="uq_battle_judgments_battle_judge"),
        CheckConstraint("(winner IS NULL) <> (missing IS NULL)", name="ck_battle_judgments_winner_or_missing"))


battle_judgments = _v7_battle_judgments(metadata)
TABLES[battle_judgments.name] = battle_judgments


@migration
def m007_battle_judgments(conn: Connection) -> None:
    """The LLM judge's verdicts on arena battles, so every vote also measures the judge."""
    md = MetaData()
    _v7_battle_judgments(md)
    md.create_all(conn)


JOB_KINDS = ("train", "eval", "data")  # training runs, evaluation runs, dataset builds
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def _v8_jobs(md: MetaData) -> Table:
    """Every long job (training, evaluation, dataset build) as migration m008 created it; frozen."""
    return Table(
        "jobs", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("kind", Text, nullable=False), Column("name", Text, nullable=False),
        Column("status", Text, nullable=False), Column("device", Text, nullable=False), Column("pid", Integer),
        Column("config", JSON, nullable=False), Column("command", JSON),
        Column("run_dir", Text), Column("log_path", Text), Column("output_path", Text),
        Column("created_at", UTCDateTime, nullable=False), Column("started_at", UTCDateTime),
        Column("finished_at", UTCDateTime), Column("error", Text), Column("last_progress", JSON),
        Column("metrics", JSON),  # what the job produced: a run's metrics, an evaluation run id, a build id
        CheckConstraint("kind IN ('train', 'eval', 'data')", name="ck_jobs_kind"),
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name="ck_jobs_status"),
        Index("ix_jobs_status", "status"))


jobs = _v8_jobs(metadata)
TABLES[jobs.name] = jobs


@migration
def m008_jobs(conn: Connection) -> None:
    """One table for every long job: training jobs become kind "train" of ``jobs``, beside evaluation runs and
    dataset builds."""
    md = MetaData()
    new = _v8_jobs(md)
    old = _v2_training_jobs(md)
    new.create(conn)
    columns = [c.name for c in new.columns if c.name != "kind"]
    rows = [dict(row, kind="train") for row in conn.execute(old.select().with_only_columns(
        *[old.c[name] for name in columns])).mappings()]
    if rows:
        conn.execute(new.insert(), rows)
        if conn.dialect.name == "postgresql":  # ids were copied: the sequence goes on after them
            conn.execute(text("SELECT setval(pg_get_serial_sequence('jobs', 'id'), (SELECT max(id) FROM jobs))"))
    old.drop(conn)


# Which two models an imported judgment compares, where its source says (PandaLM's ``cmp_key``), so each
# judge's ranking of those models can be set against people's (m009).
judgments.append_column(Column("model_a", Text))
judgments.append_column(Column("model_b", Text))


@migration
def m009_judgment_models(conn: Connection) -> None:
    """The two models each imported judgment compares (empty where the source does not name them)."""
    conn.exec_driver_sql("ALTER TABLE judgments ADD COLUMN model_a TEXT")
    conn.exec_driver_sql("ALTER TABLE judgments ADD COLUMN model_b TEXT")


# Which back-end generated each variant's answers in an evaluation run (m010): llama.cpp, transformers or an
# endpoint answer the same question differently, and the run says which it was.
eval_runs.append_column(Column("backends", JSON))


@migration
def m010_run_backends(conn: Connection) -> None:
    """The back-end of each variant in an evaluation run (empty for runs made before)."""
    conn.exec_driver_sql("ALTER TABLE eval_runs ADD COLUMN backends JSON")
