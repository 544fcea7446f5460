"""Faults in bounded loops: a database connection terminated mid-transaction, a server worker
SIGKILLed between the UPDATE and the COMMIT, Redis restarted mid-operation.

Each write is either applied and acknowledged, or not applied and reported as an error (for
Redis, an error on the write itself may have been applied: its reply can be lost). Never
acknowledged and missing, never half-applied (every applied write appends exactly one token and
bumps the version by one), and no row left locked afterwards.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from ifmatch.stores import Expectation, Outcome, StoreUnavailable
from ifmatch.stores.redis import RedisStore
from ifmatch.stores.sqlalchemy import SQLAlchemyStore
from services import Database, free_port

from .redis_server import throwaway_redis
from .sa_support import Doc, create_tables, make_engine
from .test_two_servers import server

pytestmark = [pytest.mark.slow, pytest.mark.services]


@dataclass
class Ledger:
    acked: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)  # reported as an error: must be absent
    in_doubt: set[str] = field(default_factory=set)  # the reply was lost: may be present
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, token: str) -> None:
        with self.lock:
            getattr(self, kind).add(token)

    def check(self, version: int, tokens: list[str]) -> None:
        print(f"acked={len(self.acked)} failed={len(self.failed)} in_doubt={len(self.in_doubt)}")
        present = set(tokens)
        assert len(tokens) == len(present), "a token was applied twice"
        assert version == len(tokens) + 1, "version and body disagree: a half-applied write"
        assert self.acked <= present, f"acknowledged but missing: {self.acked - present}"
        assert not present & self.failed, f"reported failed but applied: {present & self.failed}"
        assert present <= self.acked | self.in_doubt


def seed(factory: sessionmaker[Session]) -> str:
    key = uuid.uuid4().hex
    SQLAlchemyStore(Doc, factory).compare_and_set(key, Expectation(exists=False), {"body": ""})
    return key


def final(factory: sessionmaker[Session], key: str) -> tuple[int, list[str]]:
    record = SQLAlchemyStore(Doc, factory).get(key)
    assert record is not None
    return record[0].version, str(record[1]["body"]).split()


def assert_row_not_locked(engine: Engine, key: str) -> None:
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL lock_timeout = '2s'"))
        update = text("UPDATE ifmatch_docs SET note = 'checked' WHERE id = :k")
        assert connection.execute(update, {"k": key}).rowcount == 1
        others = text(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON l.relation = c.oid "
            "WHERE c.relname = 'ifmatch_docs' AND l.pid <> pg_backend_pid()"
        )
        assert connection.execute(others).scalar_one() == 0


@pytest.fixture
def pg(postgres_db: Database) -> Iterator[tuple[Engine, sessionmaker[Session]]]:
    engine = make_engine(postgres_db.sqlalchemy_url(), pool_size=6, max_overflow=0)
    create_tables(engine)
    yield engine, sessionmaker(engine)
    engine.dispose()


class Terminator:
    """Terminates a backend from another connection, waiting until it is gone."""

    def __init__(self, engine: Engine) -> None:
        self.connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.lock = threading.Lock()
        self.count = 0

    def kill(self, session: Session) -> None:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with self.lock:
            terminate = text("SELECT pg_terminate_backend(:pid, 5000)")
            assert self.connection.execute(terminate, {"pid": pid}).scalar_one()
            self.count += 1


def test_postgresql_connection_terminated_mid_transaction(
    pg: tuple[Engine, sessionmaker[Session]],
) -> None:
    engine, factory = pg
    key = seed(factory)
    terminator = Terminator(engine)
    ledger = Ledger()
    local = threading.local()

    @event.listens_for(factory, "before_commit")
    def _kill_in_the_stores_own_transaction(session: Session) -> None:
        if getattr(local, "kill_own", False):
            local.kill_own = False
            terminator.kill(session)

    def write(token: str, fault: str | None) -> None:
        own = SQLAlchemyStore(Doc, factory)
        for _ in range(200):
            snapshot, values = own.get(key)  # type: ignore[misc]
            expect, body = Expectation.version(snapshot.version), f"{values['body']} {token}"
            if fault == "own-before-commit":  # inside the store's own transaction
                local.kill_own = True
                outcome = own.compare_and_set(key, expect, {"body": body.strip()}).outcome
                local.kill_own = False
            else:
                with factory() as session:
                    if fault == "before-update":
                        terminator.kill(session)
                    store = SQLAlchemyStore(Doc, session)
                    outcome = store.compare_and_set(key, expect, {"body": body.strip()}).outcome
                    if fault == "before-commit" and outcome is Outcome.WON:
                        terminator.kill(session)
                    session.commit()
            if outcome is Outcome.WON:
                ledger.add("acked", token)
                return

    def worker(number: int) -> None:
        rng = random.Random(number)
        for i in range(10):
            token = f"w{number}.{i}"
            fault = rng.choice([None, None, "before-update", "before-commit", "own-before-commit"])
            try:
                write(token, fault)
            except (StoreUnavailable, DBAPIError):
                assert fault is not None, f"{token} failed without a fault"
                ledger.add("failed", token)

    run_threads(worker, [(n,) for n in range(4)])
    terminator.connection.close()
    assert terminator.count >= 10 and ledger.failed and ledger.acked
    ledger.check(*final(factory, key))
    assert_row_not_locked(engine, key)


def test_server_worker_killed_between_update_and_commit(
    pg: tuple[Engine, sessionmaker[Session]], postgres_db: Database
) -> None:
    engine, factory = pg
    key = seed(factory)
    ledger = Ledger()

    def client(base: str, number: int) -> None:
        with httpx.Client(timeout=30) as http:
            for i in range(4):
                token, die = f"c{number}.{i}", (number + i) % 3 == 0
                for _ in range(200):
                    got = http.get(f"{base}/docs/{key}")
                    body = f"{got.json()['body']} {token}".strip()
                    headers = {"If-Match": got.headers["ETag"]}
                    if die:
                        headers["X-Test-Die"] = "before-commit"
                    try:
                        put = http.put(f"{base}/docs/{key}", json={"body": body}, headers=headers)
                    except httpx.TransportError:
                        assert die, f"{token}: connection error without a kill"
                        ledger.add("failed", token)
                        break
                    if put.status_code == 200:
                        assert not die, f"{token}: acknowledged although its worker was killed"
                        ledger.add("acked", token)
                        break
                    assert put.status_code == 412, put.text

    with server(postgres_db.sqlalchemy_url(), workers=3, threads=1) as base:
        run_threads(client, [(base, n) for n in range(6)])
    assert len(ledger.failed) >= 6 and ledger.acked
    ledger.check(*final(factory, key))
    assert_row_not_locked(engine, key)


def test_redis_restarted_mid_operation() -> None:
    port = free_port()
    ledger = Ledger()
    with throwaway_redis(port) as server_process:
        client = redis.Redis(port=port, retry=Retry(NoBackoff(), 0), socket_timeout=5)
        store = RedisStore(client)
        store.compare_and_set("doc", Expectation(exists=False), {"body": ""})

        def writer(number: int) -> None:
            for i in range(12):
                token = f"w{number}.{i}"
                append_to_redis(store, token, ledger)
                time.sleep(0.01)

        def restarter() -> None:
            for _ in range(4):  # restart while the writers run
                time.sleep(0.15)
                server_process.restart()

        run_threads(
            lambda n: restarter() if n < 0 else writer(n), [(-1,), *[(n,) for n in range(4)]]
        )
        record = store.get("doc")
        client.close()
    assert record is not None and ledger.acked
    ledger.check(record[0].version, bytes(record[1]["body"]).decode().split())


def append_to_redis(store: RedisStore, token: str, ledger: Ledger) -> None:
    for _ in range(200):
        try:
            record = store.get("doc")
        except StoreUnavailable:
            ledger.add("failed", token)  # nothing was written for this token
            return
        assert record is not None
        snapshot, values = record
        body = f"{bytes(values['body']).decode()} {token}".strip()
        try:
            result = store.compare_and_set(
                "doc", Expectation.version(snapshot.version), {"body": body}
            )
        except StoreUnavailable:
            ledger.add("in_doubt", token)  # the script may have run before the connection died
            return
        if result.won:
            ledger.add("acked", token)
            return


def run_threads(target: Callable[..., None], arguments: list[tuple[Any, ...]]) -> None:
    """Run ``target`` once per argument tuple in threads; re-raise the first failure."""
    failures: list[BaseException] = []

    def guarded(*args: Any) -> None:
        try:
            target(*args)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=args) for args in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    if failures:
        raise failures[0]
