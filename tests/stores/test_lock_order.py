"""Guarded batches take their row locks in key order, so two batches over the same rows in
opposite orders never deadlock: with no retries left to hide a deadlock, every all-or-nothing
batch of writers racing in opposite orders applies, on PostgreSQL and MariaDB, through the
synchronous and the asynchronous SQLAlchemy store, and through the Django store. Results still
come back in the caller's order."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import sessionmaker

from ifmatch.stores import Expectation, Outcome
from ifmatch.stores.base import in_caller_order, lock_order
from ifmatch.stores.memory import MemoryStore
from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore, SQLAlchemyStore
from services import Database
from stores.sa_support import Base, Doc

KEYS = [f"row-{n}" for n in range(6)]
WRITERS, ROUNDS = 6, 8


def test_lock_order_sorts_keys_and_restores_the_callers_order() -> None:
    keys: list[Any] = ["c", "a", "b"]
    order = lock_order(keys)
    assert [keys[i] for i in order] == ["a", "b", "c"]
    assert in_caller_order(order, [f"result-{keys[i]}" for i in order]) == [
        "result-c",
        "result-a",
        "result-b",
    ]


def test_lock_order_of_mixed_keys_does_not_depend_on_the_callers_order() -> None:
    keys: list[Any] = [3, "b", 1, ("t", 2), "a", None]
    backwards = list(reversed(keys))
    ranked = [keys[i] for i in lock_order(keys)]
    assert sorted(lock_order(keys)) == list(range(len(keys)))
    assert ranked == [backwards[i] for i in lock_order(backwards)]
    assert [key for key in ranked if isinstance(key, int)] == [1, 3]
    assert [key for key in ranked if isinstance(key, str)] == ["a", "b"]


def _versions_in_callers_order(store: Any) -> None:
    """Keys seeded at versions 1, 2, 3 (a, b, c); a batch in the order c, a, b answers c's
    result first."""
    for count, key in enumerate(("a", "b", "c"), start=1):
        store.compare_and_set(key, Expectation(exists=False), {"body": key})
        for _ in range(count - 1):
            store.compare_and_set(key, Expectation(exists=True), {"body": key})
    results = store.compare_and_set_many(
        [(key, Expectation(exists=True), {"body": key + "!"}) for key in ("c", "a", "b")],
        all_or_nothing=True,
    )
    assert [(r.outcome, r.snapshot.version if r.snapshot else None) for r in results] == [
        (Outcome.WON, 4),
        (Outcome.WON, 2),
        (Outcome.WON, 3),
    ]


def test_memory_results_come_back_in_the_callers_order() -> None:
    _versions_in_callers_order(MemoryStore())


@pytest.fixture(params=["postgresql", "mariadb"])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    yield request.getfixturevalue("postgres_db" if request.param == "postgresql" else "mariadb_db")


def _batch(writer: int, round_: int) -> list[tuple[str, Expectation, dict[str, str]]]:
    keys = KEYS if writer % 2 == 0 else list(reversed(KEYS))
    return [(key, Expectation(exists=True), {"note": f"w{writer}r{round_}"}) for key in keys]


@contextmanager
def _seeded_sync(database: Database) -> Iterator[SQLAlchemyStore[str]]:
    engine = create_engine(database.sqlalchemy_url(), pool_size=WRITERS, max_overflow=0)
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(Doc.__table__.delete().where(Doc.id.in_(KEYS)))
    store: SQLAlchemyStore[str] = SQLAlchemyStore(Doc, sessionmaker(engine), retries=0)
    for key in KEYS:
        store.compare_and_set(key, Expectation(exists=False), {"body": ""})
    try:
        yield store
    finally:
        engine.dispose()


def test_sql_results_come_back_in_the_callers_order(database: Database) -> None:
    engine = create_engine(database.sqlalchemy_url())
    Base.metadata.create_all(engine)
    store: SQLAlchemyStore[str] = SQLAlchemyStore(Doc, sessionmaker(engine))
    with engine.begin() as connection:
        connection.execute(Doc.__table__.delete().where(Doc.id.in_(["a", "b", "c"])))
    _versions_in_callers_order(store)
    engine.dispose()


def test_sync_batches_in_opposite_orders_never_deadlock(database: Database) -> None:
    with _seeded_sync(database) as store:
        outcomes = _threads(store)
    assert outcomes == [Outcome.WON] * (WRITERS * ROUNDS * len(KEYS))


def _threads(store: SQLAlchemyStore[str]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    start = threading.Barrier(WRITERS)

    def writer(number: int) -> None:
        start.wait()
        for round_ in range(ROUNDS):
            results = store.compare_and_set_many(_batch(number, round_), all_or_nothing=True)
            with lock:
                outcomes.extend(result.outcome for result in results)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for key in KEYS:
        snapshot = store.read(key)
        assert snapshot is not None and snapshot.version == 1 + WRITERS * ROUNDS
    return outcomes


def test_async_batches_in_opposite_orders_never_deadlock(database: Database) -> None:
    with _seeded_sync(database):
        pass

    async def run() -> list[Outcome]:
        engine = create_async_engine(
            database.sqlalchemy_url(asynchronous=True), pool_size=WRITERS, max_overflow=0
        )
        store: AsyncSQLAlchemyStore[str] = AsyncSQLAlchemyStore(
            Doc, async_sessionmaker(engine), retries=0
        )
        outcomes: list[Outcome] = []

        async def writer(number: int) -> None:
            for round_ in range(ROUNDS):
                batch = _batch(number, round_)
                results = await store.compare_and_set_many(batch, all_or_nothing=True)
                outcomes.extend(result.outcome for result in results)

        try:
            await asyncio.gather(*(writer(n) for n in range(WRITERS)))
        finally:
            await engine.dispose()
        return outcomes

    assert asyncio.run(run()) == [Outcome.WON] * (WRITERS * ROUNDS * len(KEYS))
