"""Tests for travelbot/store.py on real databases: SQLite files, and PostgreSQL when TRAVELBOT_TEST_PG_URL is set."""

from __future__ import annotations

import errno
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import MetaData, create_engine, insert, inspect, make_url, text

from travelbot import schema
from travelbot import store as store_module
from travelbot.config import Settings, set_settings
from travelbot.errors import TravelbotError
from travelbot.store import ChatTurn, Store, get_store

PG_ADMIN_URL = os.environ.get("TRAVELBOT_TEST_PG_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A URL to a fresh, empty database: a SQLite file, or a uniquely named PostgreSQL database dropped after."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nested' / 'travelbot.db'}"
        return
    if not PG_ADMIN_URL:
        pytest.skip("TRAVELBOT_TEST_PG_URL is not set (run `eval \"$(bash .ci/postgres.sh)\"` to test PostgreSQL)")
    name = f"travelbot_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'travelbot.db'}"


def make_turn(conversation_id: str, turn_index: int = 0, **overrides) -> ChatTurn:
    fields = dict(
        conversation_id=conversation_id, turn_index=turn_index, variant="mistral-raft", base="mistral-7b",
        method="raft",
        messages=[{"role": "system", "content": "Tu es un guide de voyage."},
                  {"role": "user", "content": "Où manger à Zürich? 🍫 東京も教えて"}],
        answer="Essayez le Café Sprüngli — ça vaut le détour.",
        settings={"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 256, "stop": ["</s>"]},
    )
    fields.update(overrides)
    return ChatTurn(**fields)


def test_round_trip_every_field(db_url: str) -> None:
    store = Store(db_url)
    cid = store.new_conversation(kind="compare", client_id="browser-1")
    created = datetime(2024, 5, 17, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    turn = make_turn(cid, 3, prompt_tokens=41, completion_tokens=97, seconds=2.5, first_token_seconds=0.125,
                     finish_reason="stop", error="partial: stream cut", client_id="browser-1", created_at=created)
    row_id = store.log_turn(turn)
    [back] = store.turns(cid)
    assert back.id == row_id
    assert back.created_at == created and back.created_at.tzinfo is not None
    assert back.created_at.utcoffset() == timedelta(0)
    assert back == ChatTurn(**{**turn.__dict__, "id": row_id, "created_at": back.created_at})
    conversation = store.conversation(cid)
    assert conversation is not None
    assert {k: conversation[k] for k in ("id", "kind", "client_id")} == {
        "id": cid, "kind": "compare", "client_id": "browser-1"}
    assert conversation["created_at"].tzinfo is not None
    assert store.conversation("no-such-id") is None
    store.close()


def test_log_turn_fills_created_at_and_defaults(db_url: str) -> None:
    store = Store(db_url)
    cid = store.new_conversation()
    before = datetime.now(UTC)
    store.log_turn(make_turn(cid))
    [back] = store.turns(cid)
    assert before - timedelta(seconds=1) <= back.created_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert (back.prompt_tokens, back.seconds, back.first_token_seconds, back.error) == (0, 0.0, None, None)
    store.close()


def test_log_turn_creates_unknown_conversation(db_url: str) -> None:
    store = Store(db_url)
    store.log_turn(make_turn("made-up-id", client_id="c9"))
    assert store.conversation("made-up-id")["kind"] == "chat"
    assert store.count("conversations") == 1
    store.close()


def test_reopen_keeps_rows_and_migrates_once(db_url: str) -> None:
    first = Store(db_url)
    cid = first.new_conversation()
    for i in range(3):
        first.log_turn(make_turn(cid, i))
    assert first.migrate() == []
    first.close()

    second = Store(db_url)
    assert second.migrate() == []
    assert second.count("_migrations") == len(store_module.MIGRATIONS)
    assert [t.turn_index for t in second.turns(cid)] == [0, 1, 2]
    assert second.count("conversations") == 1
    second.close()


def test_old_database_upgrades_in_place(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    head = list(store_module.MIGRATIONS)
    monkeypatch.setattr(store_module, "MIGRATIONS", head[:1])  # a database from the first release
    old = Store(db_url)
    cid = old.new_conversation()
    row = {k: v for k, v in asdict(make_turn(cid)).items() if k not in ("id", "prompt")}  # the first release's columns
    with old.transaction(write=True) as conn:
        conn.execute(insert(store_module.chat_turns).values(**{**row, "created_at": datetime.now(UTC)}))
    old.close()

    def m999_chat_turns_note(conn) -> None:
        conn.execute(text("ALTER TABLE chat_turns ADD COLUMN note TEXT"))

    monkeypatch.setattr(store_module, "MIGRATIONS", [*head, m999_chat_turns_note])
    upgraded = Store(db_url)
    with upgraded.engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM _migrations ORDER BY applied_at, name")).scalars().all()
    assert names[0] == head[0].__name__
    assert sorted(names) == sorted([m.__name__ for m in head] + ["m999_chat_turns_note"])
    assert [t.answer for t in upgraded.turns(cid)] == [make_turn(cid).answer]
    assert "note" in {c["name"] for c in inspect(upgraded.engine).get_columns("chat_turns")}
    upgraded.log_turn(make_turn(cid, 1))  # the store still writes to the upgraded table
    assert upgraded.migrate() == []
    upgraded.close()


def test_training_jobs_become_train_jobs_of_the_one_jobs_table(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    head = list(store_module.MIGRATIONS)
    before = [m for m in head if m.__name__ < "m008"]
    monkeypatch.setattr(store_module, "MIGRATIONS", before)  # a database from before m008_jobs
    old = Store(db_url)
    legacy = schema._v2_training_jobs(MetaData())
    row = {"name": "qlora-1", "method": "qlora", "preset": "cpu-demo", "status": "succeeded", "device": "cpu",
           "config": {"method": "qlora", "preset": "cpu-demo"}, "command": ["travelbot", "train"], "run_dir": "/r",
           "log_path": "/r/trainer_log.jsonl", "created_at": datetime.now(UTC), "metrics": {"train_loss": 0.5}}
    with old.transaction(write=True) as conn:
        conn.execute(insert(legacy).values(id=7, **row))
    old.close()

    monkeypatch.setattr(store_module, "MIGRATIONS", head)
    upgraded = Store(db_url)
    assert not inspect(upgraded.engine).has_table("training_jobs")
    job = upgraded.job(7)
    assert job["kind"] == "train" and job["name"] == "qlora-1" and job["metrics"] == {"train_loss": 0.5}
    assert job["config"]["method"] == "qlora" and job["log_path"] == "/r/trainer_log.jsonl"
    new_id = upgraded.add_job(kind="eval", name="dev", status="queued", device="cpu", config={},
                              created_at=datetime.now(UTC))
    assert new_id == 8  # ids go on after the copied rows (PostgreSQL's sequence too)
    assert [j["id"] for j in upgraded.jobs(kind="train")] == [7]
    upgraded.close()


def test_migrate_reports_what_it_applied(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(sqlite_url)
    assert store.migrate() == []

    def m999_extra_index(conn) -> None:
        conn.execute(text("CREATE INDEX ix_chat_turns_method ON chat_turns (method)"))

    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, m999_extra_index])
    assert store.migrate() == ["m999_extra_index"]
    assert store.migrate() == []
    store.close()


def test_a_failing_migration_leaves_nothing_behind(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def m998_half_done(conn) -> None:
        conn.execute(text("CREATE TABLE half (x INTEGER)"))
        raise RuntimeError("boom")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, m998_half_done])
    with pytest.raises(RuntimeError):
        Store(sqlite_url)
    monkeypatch.undo()
    store = Store(sqlite_url)  # the whole first migrate() rolled back, so this starts from scratch
    assert "half" not in inspect(store.engine).get_table_names()
    assert store.count("_migrations") == len(store_module.MIGRATIONS)
    store.close()


def test_turns_order_and_limit(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    a, b = store.new_conversation(), store.new_conversation()
    for i in range(5):
        store.log_turn(make_turn(a, i))
        store.log_turn(make_turn(b, i, variant="other"))
    assert [t.turn_index for t in store.turns(a)] == [0, 1, 2, 3, 4]
    assert [t.turn_index for t in store.turns(a, limit=2)] == [3, 4]
    everything = store.turns()
    assert len(everything) == 10 and [t.id for t in everything] == sorted(t.id for t in everything)
    assert [(t.conversation_id, t.turn_index) for t in store.turns(limit=3)] == [(b, 3), (a, 4), (b, 4)]
    assert store.turns(limit=0) == []
    assert store.turns("unknown") == []
    store.close()


def test_count_known_and_unknown_tables(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    cid = store.new_conversation()
    store.log_turn(make_turn(cid))
    assert (store.count("conversations"), store.count("chat_turns")) == (1, 1)
    with pytest.raises(ValueError, match="chat_turns"):
        store.count("chat_turns; DROP TABLE chat_turns")
    store.close()


def test_get_store_is_cached_per_url(tmp_path) -> None:
    one = Settings(home=tmp_path / "one")
    two = Settings(home=tmp_path / "two")
    first = get_store(one)
    try:
        assert get_store(one) is first
        assert get_store(Settings(home=tmp_path / "one", port=1234)) is first  # same URL, same store
        other = get_store(two)
        assert other is not first and other.url != first.url
        set_settings(one)
        assert get_store() is first
        first.close()
        assert get_store(one) is not first  # closing forgets it
    finally:
        set_settings(None)
        for s in list(store_module._stores.values()):
            s.close()


def test_get_store_is_thread_safe(tmp_path) -> None:
    settings = Settings(home=tmp_path)
    got: list[Store] = []
    threads = [threading.Thread(target=lambda: got.append(get_store(settings))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in got}) == 1
    got[0].close()


def test_concurrent_writes_from_threads(db_url: str) -> None:
    store = Store(db_url)
    cid = store.new_conversation()
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(25):
                store.log_turn(make_turn(cid, worker * 100 + i, variant=f"v{worker}"))
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count("chat_turns") == 200
    assert len({t.turn_index for t in store.turns(cid)}) == 200
    store.close()


def test_a_second_store_on_the_same_file_writes_too(sqlite_url: str) -> None:
    """Like the web app and a CLI at once: two engines, one file, interleaved writes."""
    web, cli = Store(sqlite_url), Store(sqlite_url)
    cid = web.new_conversation()
    for i in range(10):
        (web if i % 2 else cli).log_turn(make_turn(cid, i))
    assert [t.turn_index for t in web.turns(cid)] == list(range(10))
    with web.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    web.close()
    cli.close()


def test_in_memory_sqlite_works_across_threads() -> None:
    store = Store("sqlite://")
    cid = store.new_conversation()
    threads = [threading.Thread(target=lambda i=i: store.log_turn(make_turn(cid, i))) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count("chat_turns") == 4
    store.close()


@pytest.mark.parametrize("url", [
    "nosuchdialect://alice:s3cr3t-pw@db.example.com/travel",
    "postgresql+psycopg://alice:s3cr3t-pw@127.0.0.1:1/travel",
    "postgresql+nosuchdriver://alice:s3cr3t-pw@127.0.0.1/travel",
    "this is not a url alice:s3cr3t-pw@",
])
def test_bad_url_is_one_clear_sentence_without_the_password(url: str) -> None:
    with pytest.raises(TravelbotError) as caught:
        Store(url)
    message = str(caught.value)
    assert "s3cr3t-pw" not in message
    assert "TRAVELBOT_DB_URL" in message or "server" in message
    assert "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_unwritable_sqlite_location_is_a_travelbot_error(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(TravelbotError, match="Cannot use the database"):
        Store(f"sqlite:///{blocker / 'sub' / 'travelbot.db'}")


def test_a_full_disk_says_so_and_keeps_what_is_stored(tmp_path) -> None:
    from sqlalchemy import event

    url = f"sqlite:///{tmp_path / 'travelbot.db'}"
    store = Store(url)
    conversation = store.new_conversation()
    store.log_turn(make_turn(conversation, 0))
    with store.transaction() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

    def no_room(dbapi_conn, _record) -> None:  # the file may not grow: SQLite answers SQLITE_FULL, as on a full disk
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(store.engine, "connect", no_room)
    store.engine.dispose()
    with pytest.raises(TravelbotError) as caught:
        store.log_turn(make_turn(conversation, 1, answer="long " * 200_000))
    assert str(caught.value) == (
        f"Cannot use the database {url} (database or disk is full); the disk holding it is full: free some space "
        "there, or move TRAVELBOT_HOME (or TRAVELBOT_DB_URL) to a disk with room; nothing already stored is lost.")
    assert [t.turn_index for t in store.turns(conversation)] == [0]
    store.close()
    reopened = Store(url)
    assert [t.answer for t in reopened.turns(conversation)] == [make_turn(conversation, 0).answer]
    reopened.close()
    no_space = store_module._database_error(url, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert "the disk holding it is full" in str(no_space)
