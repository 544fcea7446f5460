"""Multi-process lost-update tests: 4 processes × 8 threads appending unique tokens to ONE
record through read → conditional write → retry on LOST, against the real services.

Zero lost updates is the only pass. The naive check-then-write arm runs in the same harness and
must lose updates, which shows the harness can fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy.orm import sessionmaker

from ifmatch.stores import Expectation
from ifmatch.stores.redis import RedisStore
from ifmatch.stores.sqlalchemy import SQLAlchemyStore
from services import Database

from .race import RaceReport, run_race
from .sa_support import Doc, create_tables, make_engine

pytestmark = pytest.mark.slow


class SQLRace:
    """A seeded record in a database, and how to read its final body."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        create_tables(self.engine)
        self.key = uuid.uuid4().hex
        store = SQLAlchemyStore(Doc, sessionmaker(self.engine))
        store.compare_and_set(self.key, Expectation(exists=False), {"body": ""})
        self.store = store

    def body(self) -> str:
        record = self.store.get(self.key)
        assert record is not None
        return str(record[1]["body"])

    def run(self, **spec: Any) -> RaceReport:
        spec = {"backend": "sqlalchemy", "url": self.url, "key": self.key, **spec}
        report = run_race(spec, self.body)
        print(spec.get("isolation_level"), spec.get("mode"), report.summary())
        return report


@pytest.fixture
def pg_race(postgres_db: Database) -> Iterator[SQLRace]:
    race = SQLRace(postgres_db.sqlalchemy_url())
    yield race
    race.engine.dispose()


@pytest.fixture
def maria_race(mariadb_db: Database) -> Iterator[SQLRace]:
    race = SQLRace(mariadb_db.sqlalchemy_url())
    yield race
    race.engine.dispose()


def test_sqlite_file(tmp_path: Path) -> None:
    race = SQLRace(f"sqlite:///{tmp_path / 'race.db'}")
    race.run(mode="own").assert_no_lost_updates()
    race.engine.dispose()


@pytest.mark.services
@pytest.mark.parametrize(
    ("isolation_level", "mode"),
    [
        ("READ COMMITTED", "own"),
        ("REPEATABLE READ", "session"),
        ("SERIALIZABLE", "session"),
    ],
)
def test_postgresql(pg_race: SQLRace, isolation_level: str, mode: str) -> None:
    pg_race.run(isolation_level=isolation_level, mode=mode).assert_no_lost_updates()


@pytest.mark.services
def test_postgresql_naive_check_then_write_loses_updates(pg_race: SQLRace) -> None:
    report = pg_race.run(isolation_level="READ COMMITTED", mode="own", naive=True)
    assert not report.errors
    assert report.lost_updates, "the naive arm lost nothing: the harness cannot detect a race"


@pytest.mark.services
@pytest.mark.parametrize("snapshot_isolation", [False, True])
def test_mariadb(maria_race: SQLRace, snapshot_isolation: bool) -> None:
    report = maria_race.run(mode="session", snapshot_isolation=snapshot_isolation)
    report.assert_no_lost_updates()


@pytest.mark.services
def test_redis(redis_url: str) -> None:
    prefix = f"ifmatch-race:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(redis_url)
    store = RedisStore(client, prefix=prefix)

    def race(key: str, **options: Any) -> RaceReport:
        store.compare_and_set(key, Expectation(exists=False), {"body": ""})

        def body() -> str:
            record = store.get(key)
            assert record is not None
            return bytes(record[1]["body"]).decode()

        spec = {"backend": "redis", "url": redis_url, "prefix": prefix, "key": key}
        return run_race({**spec, **options}, body)

    try:
        race("doc").assert_no_lost_updates()
        assert race("naive", naive=True).lost_updates
    finally:
        client.delete(*client.scan_iter(match=f"{prefix}*"))
        client.close()
