"""SQLAlchemy stores under the isolation levels that turn a lost race into an error:
serialization failures, snapshot-isolation errors and deadlocks become LOST, never an
exception, and the current state reported with LOST is read outside the failed snapshot."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from ifmatch.stores import CASResult, Expectation, Outcome
from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore, SQLAlchemyStore, is_retryable_conflict
from services import Database

from .sa_support import Doc, create_tables, make_async_engine, make_engine

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def pg_url(postgres_db: Database) -> str:
    url = postgres_db.sqlalchemy_url()
    engine = make_engine(url)
    create_tables(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def maria_url(mariadb_db: Database) -> str:
    url = mariadb_db.sqlalchemy_url()
    engine = make_engine(url)
    create_tables(engine)
    engine.dispose()
    return url


@pytest.fixture
def pg_rr(pg_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(pg_url, isolation_level="REPEATABLE READ")
    yield sessionmaker(engine)
    engine.dispose()


def seed(factory: sessionmaker[Session]) -> str:
    key = uuid.uuid4().hex
    SQLAlchemyStore(Doc, factory).compare_and_set(key, Expectation(exists=False), {"body": "0"})
    return key


def concurrent_update(factory: sessionmaker[Session], key: str, version: int) -> CASResult:
    result = SQLAlchemyStore(Doc, factory).compare_and_set(key, Expectation.version(version), {})
    assert result.won
    return result


@pytest.mark.parametrize("level", ["REPEATABLE READ", "SERIALIZABLE"])
def test_postgresql_serialization_failure_is_lost_with_the_fresh_state(
    pg_url: str, level: str
) -> None:
    engine = make_engine(pg_url, isolation_level=level)
    factory = sessionmaker(engine)
    key = seed(factory)
    with factory() as session:
        store = SQLAlchemyStore(Doc, session)
        seen = store.read(key)  # the request's read: the transaction snapshot starts here
        assert seen is not None
        other = concurrent_update(factory, key, 1)
        # Same version as our snapshot, but another transaction changed the row since:
        # PostgreSQL raises 40001, which must come back as LOST with the committed state.
        result = store.compare_and_set(key, Expectation.version(seen.version), {"body": "x"})
        assert result == CASResult(Outcome.LOST, other.snapshot)
        assert session.execute(text("select 1")).scalar() == 1  # the session is usable again
    engine.dispose()


def test_postgresql_lost_at_repeatable_read_reports_state_outside_the_snapshot(
    pg_rr: sessionmaker[Session],
) -> None:
    key = seed(pg_rr)
    with pg_rr() as session:
        store = SQLAlchemyStore(Doc, session)
        assert store.read(key).version == 1  # type: ignore[union-attr]
        other = concurrent_update(pg_rr, key, 1)
        assert store.read(key).version == 1  # type: ignore[union-attr]  # our snapshot
        result = store.compare_and_set(key, Expectation.version(7), {"body": "x"})
        assert result == CASResult(Outcome.LOST, other.snapshot)


def test_postgresql_deadlock_is_lost_not_an_error(pg_url: str) -> None:
    engine = create_engine(pg_url)
    factory = sessionmaker(engine)
    a, b = seed(factory), seed(factory)
    first, second = factory(), factory()
    results: dict[str, CASResult] = {}
    try:
        SQLAlchemyStore(Doc, first).compare_and_set(a, Expectation(), {"body": "1"})
        SQLAlchemyStore(Doc, second).compare_and_set(b, Expectation(), {"body": "2"})

        def cross(name: str, session: Session, key: str) -> None:
            results[name] = SQLAlchemyStore(Doc, session).compare_and_set(key, Expectation(), {})

        threads = [
            threading.Thread(target=cross, args=("first", first, b)),
            threading.Thread(target=cross, args=("second", second, a)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        outcomes = sorted(result.outcome.value for result in results.values())
        assert outcomes == ["lost", "won"]  # 40P01 for one, which was rolled back
    finally:
        first.close()
        second.close()
        engine.dispose()


@pytest.mark.parametrize("snapshot_isolation", [False, True])
def test_mariadb_repeatable_read_stale_write_is_lost_with_the_fresh_state(
    maria_url: str, snapshot_isolation: bool
) -> None:
    engine = make_engine(maria_url, snapshot_isolation=snapshot_isolation)
    factory = sessionmaker(engine)
    key = seed(factory)
    with factory() as session:
        level = session.connection().get_isolation_level()
        assert level == "REPEATABLE READ"
        store = SQLAlchemyStore(Doc, session)
        seen = store.read(key)  # opens the InnoDB read view
        assert seen is not None
        other = concurrent_update(factory, key, 1)
        # ON: ER_CHECKREAD 1020 (transaction rolled back); OFF: the locking UPDATE sees the
        # newer version and matches nothing. Either way: LOST, with the committed state,
        # although a plain SELECT in this transaction would still see version 1.
        result = store.compare_and_set(key, Expectation.version(seen.version), {"body": "x"})
        assert result == CASResult(Outcome.LOST, other.snapshot)
    engine.dispose()


def test_mariadb_snapshot_isolation_error_is_classified_as_retryable(maria_url: str) -> None:
    engine = make_engine(maria_url, snapshot_isolation=True)
    factory = sessionmaker(engine)
    key = seed(factory)
    with factory() as session:
        session.execute(text("SELECT version FROM ifmatch_docs WHERE id = :k"), {"k": key}).one()
        concurrent_update(factory, key, 1)
        with pytest.raises(Exception) as caught:
            session.execute(text("UPDATE ifmatch_docs SET note = 'x' WHERE id = :k"), {"k": key})
        assert is_retryable_conflict(caught.value)  # so the test above exercised 1020
    engine.dispose()


def test_mariadb_without_found_rows_a_no_op_write_still_wins(mariadb_db: Database) -> None:
    import pymysql

    def connect() -> Any:  # deliberately without CLIENT.FOUND_ROWS
        return pymysql.connect(
            host=mariadb_db.host,
            port=mariadb_db.port,
            user=mariadb_db.user,
            password=mariadb_db.password,
            database=mariadb_db.name,
            client_flag=0,
        )

    engine = create_engine("mysql+pymysql://", creator=connect)
    create_tables(engine)
    factory = sessionmaker(engine)
    key = seed(factory)
    with engine.begin() as connection:  # proof that this connection counts *changed* rows
        same = text("UPDATE ifmatch_docs SET body = body WHERE id = :k")
        assert connection.execute(same, {"k": key}).rowcount == 0
    store = SQLAlchemyStore(Doc, factory)
    for version in (1, 2):
        assert store.compare_and_set(key, Expectation.version(version), {"body": "0"}).won
    engine.dispose()


def test_async_postgresql_serialization_failure_is_lost(postgres_db: Database, pg_url: str) -> None:
    async def scenario() -> None:
        engine = make_async_engine(
            postgres_db.sqlalchemy_url(asynchronous=True), isolation_level="REPEATABLE READ"
        )
        factory: async_sessionmaker[AsyncSession] = async_sessionmaker(engine)
        own = AsyncSQLAlchemyStore(Doc, factory)
        key = uuid.uuid4().hex
        await own.compare_and_set(key, Expectation(exists=False), {"body": "0"})
        async with factory() as session:
            store = AsyncSQLAlchemyStore(Doc, session)
            assert (await store.read(key)).version == 1  # type: ignore[union-attr]
            other = await own.compare_and_set(key, Expectation.version(1), {})
            result = await store.compare_and_set(key, Expectation.version(1), {"body": "x"})
            assert result == CASResult(Outcome.LOST, other.snapshot)
            stale = await store.compare_and_set(key, Expectation.version(9), {})
            assert stale == CASResult(Outcome.LOST, other.snapshot)
        await engine.dispose()

    asyncio.run(scenario())
