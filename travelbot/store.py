"""The single source of truth: conversations, chat turns, jobs, battles, votes and ratings
in one SQL database (SQLite or PostgreSQL).

The schema (``travelbot.schema``) evolves through ``MIGRATIONS``, an ordered list of small named steps
recorded in ``_migrations``, so an old database upgrades in place. People's input is append-only.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc, func, insert, inspect, make_url, pool, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from travelbot.config import Settings, get_settings
from travelbot.errors import TravelbotError
from travelbot.schema import (  # noqa: F401
    JOB_STATUSES,
    MIGRATIONS,
    TABLES,
    WINNERS,
    utc_now,
    battles,
    chat_turns,
    conversations,
    eval_answers,
    metadata,
    migration,
    migrations_table,
    ratings,
    jobs as jobs_table,
    votes,
)


@dataclass
class ChatTurn:
    """One model answer in a conversation, with the exact prompt and settings that produced it."""

    conversation_id: str
    turn_index: int
    variant: str
    base: str
    method: str
    messages: list[dict]
    answer: str
    settings: dict
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    first_token_seconds: float | None = None
    finish_reason: str = ""
    error: str | None = None
    client_id: str | None = None
    prompt: str | None = None  # the user's message as typed
    created_at: datetime | None = None
    id: int | None = None


_TURN_COLUMNS = [chat_turns.c[f.name] for f in fields(ChatTurn)]


def _mask(url: str) -> tuple[str, str | None]:
    """The URL with its password hidden, and the password (to scrub it from driver messages)."""
    try:
        parsed = make_url(url)
        return parsed.render_as_string(hide_password=True), parsed.password
    except Exception:  # noqa: BLE001 - a URL too broken to parse: hide from "user:" up to the last "@"
        at = url.rfind("@")
        scheme = url.find("://", 0, max(at, 0))
        start = scheme + 3 if scheme >= 0 else url.rfind(" ", 0, max(at, 0)) + 1
        colon = url.find(":", start, max(at, 0))
        if at < 0 or colon < 0:
            return url, None
        return url[: colon + 1] + "***" + url[at:], url[colon + 1 : at] or None


def _sqlstate(err: BaseException) -> str | None:
    orig = getattr(err, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def _denied(err: BaseException) -> bool:
    """PostgreSQL's insufficient_privilege (e.g. no CREATE on schema public, the default since 15)."""
    return _sqlstate(err) == "42501"


def _disk_full(err: BaseException) -> bool:
    """SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100) or the system's ENOSPC."""
    orig = getattr(err, "orig", None) or err
    return (((getattr(orig, "sqlite_errorcode", None) or 0) & 0xFF) == sqlite3.SQLITE_FULL
            or _sqlstate(err) == "53100" or getattr(orig, "errno", None) == errno.ENOSPC)


def _database_error(url: str, err: BaseException) -> TravelbotError:
    """One sentence naming the (masked) URL, what went wrong and what to do."""
    shown, password = _mask(url)
    lines = str(getattr(err, "orig", None) or err).strip().splitlines()
    reason = lines[0].strip() if lines else type(err).__name__
    if password:  # drivers may echo it; match it as a whole token so "b" does not garble "MySQLdb"
        reason = re.sub(rf"(?<![A-Za-z0-9]){re.escape(password)}(?![A-Za-z0-9])", "***", reason)
    if _disk_full(err):
        hint = ("the disk holding it is full: free some space there, or move TRAVELBOT_HOME (or TRAVELBOT_DB_URL) "
                "to a disk with room; nothing already stored is lost")
    elif isinstance(err, exc.ArgumentError):
        hint = ("check the spelling of TRAVELBOT_DB_URL, e.g. sqlite:///path/to/travelbot.db or "
                "postgresql+psycopg://user:password@host:5432/dbname")
    elif isinstance(err, ImportError):
        hint = "install the database driver it names, or use a sqlite:/// or postgresql+psycopg:// URL"
    elif isinstance(err, OSError):
        hint = "choose a folder you can write to in TRAVELBOT_DB_URL or TRAVELBOT_HOME"
    elif _denied(err):
        hint = "grant that user CREATE on the schema, or point TRAVELBOT_DB_URL at a database it owns"
    elif url.startswith("sqlite"):
        hint = "check that the file is readable and writable and that no other program holds it locked"
    else:
        hint = "check that the server is running and reachable and that the user, password and database are right"
    return TravelbotError(f"Cannot use the database {shown} ({reason}); {hint}.")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _sqlite_engine(url: str) -> Engine:
    """A file SQLite engine tuned for a web app's threads plus a CLI writing at the same time."""
    database = make_url(url).database or ""
    memory = database in ("", ":memory:") or "mode=memory" in url
    if not memory and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {"poolclass": pool.StaticPool} if memory else {}
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                           json_serializer=_json, **extra)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, so DDL is transactional too
        for pragma in ("busy_timeout = 30000", "journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the lock up front so the busy timeout applies instead of a failed upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

    return engine


class Store:
    """Conversations and chat turns in one database; safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            backend = make_url(url).get_backend_name()
            if backend == "sqlite":
                self.engine = _sqlite_engine(url)
            else:
                args = {"connect_timeout": 10} if backend == "postgresql" else {}
                self.engine = create_engine(url, pool_pre_ping=True, json_serializer=_json, connect_args=args)
        except (exc.ArgumentError, ImportError, OSError) as err:
            raise _database_error(url, err) from None
        memory = backend == "sqlite" and isinstance(self.engine.pool, pool.StaticPool)
        # An in-memory SQLite database is one shared connection, so its users must take turns.
        self._lock: contextlib.AbstractContextManager[Any] = threading.RLock() if memory else contextlib.nullcontext()
        try:
            self.migrate()
        except BaseException:
            self.engine.dispose()
            raise

    @contextlib.contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Connection]:
        """One transaction for the services' own queries (``write=True`` takes SQLite's write lock up front)."""
        with self._tx(write=write) as conn:
            yield conn

    @contextlib.contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[Connection]:
        """One transaction; database trouble (server gone, file locked) becomes a TravelbotError."""
        try:
            with self._lock, self.engine.connect() as conn:
                conn.execution_options(write=write)
                with conn.begin():
                    yield conn
        except exc.DBAPIError as err:
            if isinstance(err, (exc.OperationalError, exc.InterfaceError)) or _denied(err):
                raise _database_error(self.url, err) from None
            raise

    def migrate(self) -> list[str]:
        """Apply pending migrations in order, in one transaction; return the names applied now."""
        with self._tx() as conn:  # look first, so opening an up-to-date database never takes the write lock
            if inspect(conn).has_table("_migrations"):
                done = set(conn.scalars(select(migrations_table.c.name)))
                if all(step.__name__ in done for step in MIGRATIONS):
                    return []
        with self._tx(write=True) as conn:
            if conn.dialect.name == "postgresql":  # two processes starting at once take turns
                conn.execute(text("SELECT pg_advisory_xact_lock(7470746271)"))
            migrations_table.create(conn, checkfirst=True)
            done = set(conn.scalars(select(migrations_table.c.name)))
            applied = []
            for step in MIGRATIONS:
                if step.__name__ not in done:
                    step(conn)
                    conn.execute(insert(migrations_table).values(name=step.__name__, applied_at=utc_now()))
                    applied.append(step.__name__)
            return applied

    def new_conversation(self, *, kind: str = "chat", client_id: str | None = None) -> str:
        """Start a conversation ("chat", "compare", ...) and return its id (uuid4 hex)."""
        conversation_id = uuid.uuid4().hex
        with self._tx(write=True) as conn:
            conn.execute(insert(conversations).values(
                id=conversation_id, kind=kind, client_id=client_id, created_at=utc_now()))
        return conversation_id

    def log_turn(self, turn: ChatTurn) -> int:
        """Append a turn and return its row id; an unknown conversation id is created as a "chat"."""
        row = {k: v for k, v in asdict(turn).items() if k != "id"}
        row["created_at"] = row["created_at"] or utc_now()
        with self._tx(write=True) as conn:
            self._ensure_conversation(conn, turn.conversation_id, turn.client_id, row["created_at"])
            return int(conn.execute(insert(chat_turns).values(**row)).inserted_primary_key[0])

    @staticmethod
    def _ensure_conversation(conn: Connection, cid: str, client_id: str | None, at: datetime) -> None:
        values = {"id": cid, "kind": "chat", "client_id": client_id, "created_at": at}
        dialect_insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}.get(conn.dialect.name)
        if dialect_insert is not None:
            conn.execute(dialect_insert(conversations).values(**values).on_conflict_do_nothing())
        elif conn.scalar(select(conversations.c.id).where(conversations.c.id == cid)) is None:
            conn.execute(insert(conversations).values(**values))

    def turns(self, conversation_id: str | None = None, *, limit: int | None = None) -> list[ChatTurn]:
        """Turns oldest first (insertion order), of one conversation or all; ``limit`` keeps the most recent N."""
        query = select(*_TURN_COLUMNS).order_by(chat_turns.c.id.desc())
        if conversation_id is not None:
            query = query.where(chat_turns.c.conversation_id == conversation_id)
        if limit is not None:
            query = query.limit(max(limit, 0))
        with self._tx() as conn:
            rows = conn.execute(query).mappings().all()
        return [ChatTurn(**row) for row in reversed(rows)]

    def conversation(self, conversation_id: str) -> dict | None:
        """The conversation's ``id``, ``kind``, ``client_id`` and ``created_at``, or None if unknown."""
        with self._tx() as conn:
            row = conn.execute(select(conversations).where(conversations.c.id == conversation_id)).mappings().first()
        return dict(row) if row else None

    def count(self, table: str) -> int:
        """Number of rows in one of ``TABLES``."""
        if table not in TABLES:
            raise ValueError(f"Unknown table {table!r}; expected one of {', '.join(sorted(TABLES))}.")
        with self._tx() as conn:
            return int(conn.scalar(select(func.count()).select_from(TABLES[table])) or 0)

    # Jobs (training, evaluation, dataset builds): unlike chat turns these rows change as a job runs
    # (see travelbot.jobs).

    def add_job(self, **values: Any) -> int:
        """Insert a job row (columns of ``jobs``) and return its id."""
        with self._tx(write=True) as conn:
            return int(conn.execute(insert(jobs_table).values(**values)).inserted_primary_key[0])

    def update_job(self, job_id: int, *, only_if: str | Sequence[str] | None = None, **values: Any) -> bool:
        """Change a job's columns, only while its status is ``only_if`` when given; True if a row changed."""
        query = update(jobs_table).where(jobs_table.c.id == job_id).values(**values)
        if only_if is not None:
            query = query.where(jobs_table.c.status.in_([only_if] if isinstance(only_if, str) else list(only_if)))
        with self._tx(write=True) as conn:
            return conn.execute(query).rowcount > 0

    def job(self, job_id: int) -> dict | None:
        """One job as a dict of its columns, or None if unknown."""
        with self._tx() as conn:
            row = conn.execute(select(jobs_table).where(jobs_table.c.id == job_id)).mappings().first()
        return dict(row) if row else None

    def evaluated_variants(self) -> set[str]:
        """Every variant with answers to golden questions in the store."""
        with self.transaction() as conn:
            return set(conn.scalars(select(eval_answers.c.variant).distinct()))

    def jobs(self, *, status: str | Sequence[str] | None = None, kind: str | None = None, limit: int | None = None,
             oldest_first: bool = False) -> list[dict]:
        """Jobs, newest first (or oldest first), optionally only those of a kind or with the given status(es)."""
        order = jobs_table.c.id.asc() if oldest_first else jobs_table.c.id.desc()
        query = select(jobs_table).order_by(order)
        if status is not None:
            query = query.where(jobs_table.c.status.in_([status] if isinstance(status, str) else list(status)))
        if kind is not None:
            query = query.where(jobs_table.c.kind == kind)
        if limit is not None:
            query = query.limit(max(limit, 0))
        with self._tx() as conn:
            return [dict(row) for row in conn.execute(query).mappings().all()]

    def claim_job(self, limits: Mapping[str, int]) -> dict | None:
        """Mark the oldest startable queued job running and return it, or None.

        A job is startable when it has a command and its device runs fewer than ``limits[device]`` jobs.
        Counting and claiming happen in one write transaction, so dispatchers in several processes take turns.
        """
        with self._tx(write=True) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7470746272)"))
            running: dict[str, int] = dict(conn.execute(
                select(jobs_table.c.device, func.count()).where(jobs_table.c.status == "running")
                .group_by(jobs_table.c.device)).all())
            queued = conn.execute(select(jobs_table.c.id, jobs_table.c.device)
                                  .where(jobs_table.c.status == "queued", jobs_table.c.command.is_not(None))
                                  .order_by(jobs_table.c.id)).all()
            for job_id, device in queued:
                if running.get(device, 0) < limits.get(device, 1):
                    conn.execute(update(jobs_table).where(jobs_table.c.id == job_id)
                                 .values(status="running", started_at=utc_now()))
                    row = conn.execute(select(jobs_table).where(jobs_table.c.id == job_id)).mappings().first()
                    return dict(row) if row else None
            return None

    def close(self) -> None:
        """Release connections and forget this store in ``get_store``'s cache."""
        with _stores_lock:
            if _stores.get(self.url) is self:
                del _stores[self.url]
        self.engine.dispose()


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def get_store(settings: Settings | None = None) -> Store:
    """The process-wide store for the configured database URL, opened (and migrated) on first use."""
    url = (settings or get_settings()).database_url
    with _stores_lock:
        if url not in _stores:
            _stores[url] = Store(url)
        return _stores[url]
