"""``AsyncSQLAlchemyStore.peek`` and ``SQLAlchemyStore.peek``: the validators as last committed,
in one statement on a pooled connection in autocommit, outside the caller's session, on SQLite,
PostgreSQL and MariaDB."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_scoped_session,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import scoped_session, sessionmaker

from ifmatch.stores import Expectation
from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore, SQLAlchemyStore

from .sa_support import Doc, create_tables, make_engine

VENDORS = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.services),
    pytest.param("mariadb", marks=pytest.mark.services),
]


@pytest.fixture(params=VENDORS)
def urls(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[str, str]]:
    """The synchronous and the asynchronous URL of one database holding ``Doc``'s table."""
    if request.param == "sqlite":
        path = tmp_path / "peek.db"
        sync_url, async_url = f"sqlite:///{path}", f"sqlite+aiosqlite:///{path}"
    else:
        name = "postgres_db" if request.param == "postgresql" else "mariadb_db"
        db = request.getfixturevalue(name)
        sync_url, async_url = db.sqlalchemy_url(), db.sqlalchemy_url(asynchronous=True)
    engine = make_engine(sync_url)
    create_tables(engine)
    engine.dispose()
    yield sync_url, async_url


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as loop:
        yield loop


@pytest.fixture
def engine(urls: tuple[str, str], runner: asyncio.Runner) -> Iterator[AsyncEngine]:
    # As a user creates it: no transaction recipe, the driver's own defaults.
    engine = create_async_engine(urls[1])
    yield engine
    runner.run(engine.dispose())


async def _fresh(sessions: async_sessionmaker[AsyncSession], key: str) -> None:
    store = AsyncSQLAlchemyStore(Doc, sessions)
    await store.compare_and_delete(key, Expectation(exists=None))
    await store.compare_and_set(key, Expectation(exists=False), {"body": "one"})


def test_peek_reads_what_was_committed_and_nothing_else(
    engine: AsyncEngine, runner: asyncio.Runner
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    store = AsyncSQLAlchemyStore(Doc, sessions)

    async def scenario() -> None:
        await _fresh(sessions, "peek-1")
        assert await store.peek("peek-1") == await store.read("peek-1")
        assert await store.peek("peek-absent") is None
        assert await store.peek("x" * 65) is None  # longer than the key column holds
        async with sessions() as writer:
            within = AsyncSQLAlchemyStore(Doc, writer)
            written = await within.compare_and_set("peek-1", Expectation(exists=True), {})
            assert written.snapshot is not None and written.snapshot.version == 2
            before = await store.peek("peek-1")  # the write is not committed yet
            assert before is not None and before.version == 1
            await writer.commit()
        after = await store.peek("peek-1")
        assert after == written.snapshot

    runner.run(scenario())


def test_peek_sends_one_statement_in_autocommit(
    engine: AsyncEngine, runner: asyncio.Runner
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    store = AsyncSQLAlchemyStore(Doc, sessions)
    runner.run(_fresh(sessions, "peek-2"))
    sent: list[tuple[str, Any]] = []

    def log(connection: Any, cursor: Any, statement: str, *rest: Any) -> None:
        level = connection.get_execution_options().get("isolation_level")
        sent.append((statement.split()[0], level))

    event.listen(engine.sync_engine, "before_cursor_execute", log)
    try:
        snapshot = runner.run(store.peek("peek-2"))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", log)
    assert snapshot is not None and snapshot.version == 1
    assert sent == [("SELECT", "AUTOCOMMIT")]


def test_peek_leaves_a_scoped_session_alone(engine: AsyncEngine, runner: asyncio.Runner) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    db = async_scoped_session(sessions, scopefunc=asyncio.current_task)
    store = AsyncSQLAlchemyStore(Doc, db)

    async def request() -> None:
        await _fresh(sessions, "peek-3")
        snapshot = await store.peek("peek-3")
        assert snapshot is not None and snapshot.version == 1
        assert not db.registry.has()  # no session created for the task, none to remove

    runner.run(request())
    own = AsyncSQLAlchemyStore(Doc, AsyncSession(engine))
    assert runner.run(own.peek("peek-3")) == runner.run(store.peek("peek-3"))


def test_a_store_without_an_engine_cannot_peek(runner: asyncio.Runner) -> None:
    unbound: async_sessionmaker[AsyncSession] = async_sessionmaker()
    with pytest.raises(TypeError, match="peek"):
        runner.run(AsyncSQLAlchemyStore(Doc, unbound).peek("any"))


# --- the synchronous store --------------------------------------------------------------------


@pytest.fixture
def sync_engine(urls: tuple[str, str]) -> Iterator[Engine]:
    engine = create_engine(urls[0])  # as a user creates it
    yield engine
    engine.dispose()


def test_sync_peek_reads_what_was_committed_in_one_statement(sync_engine: Engine) -> None:
    sessions = sessionmaker(sync_engine, expire_on_commit=False)
    store = SQLAlchemyStore(Doc, sessions)
    store.compare_and_delete("peek-s1", Expectation(exists=None))
    store.compare_and_set("peek-s1", Expectation(exists=False), {"body": "one"})
    assert store.peek("peek-s1") == store.read("peek-s1")
    assert store.peek("peek-absent") is None and store.peek("x" * 65) is None
    with sessions() as writer:
        written = SQLAlchemyStore(Doc, writer).compare_and_set(
            "peek-s1", Expectation(exists=True), {}
        )
        before = store.peek("peek-s1")
        assert before is not None and before.version == 1  # not committed yet
        writer.commit()
    assert store.peek("peek-s1") == written.snapshot
    sent: list[tuple[str, Any]] = []

    def log(connection: Any, cursor: Any, statement: str, *rest: Any) -> None:
        level = connection.get_execution_options().get("isolation_level")
        sent.append((statement.split()[0], level))

    scoped = scoped_session(sessions)
    in_scope = SQLAlchemyStore(Doc, scoped)
    event.listen(sync_engine, "before_cursor_execute", log)
    try:
        assert in_scope.peek("peek-s1") == written.snapshot
    finally:
        event.remove(sync_engine, "before_cursor_execute", log)
        scoped.remove()
    assert sent == [("SELECT", "AUTOCOMMIT")]


def test_a_sync_store_without_an_engine_cannot_peek() -> None:
    with pytest.raises(TypeError, match="peek"):
        SQLAlchemyStore(Doc, sessionmaker()).peek("any")
