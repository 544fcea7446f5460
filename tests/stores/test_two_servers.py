"""Two separate server processes on different ports sharing one PostgreSQL database, with
clients alternating between them: identical ETags for the same version from both, and zero
lost updates, with If-Match and with If-Unmodified-Since only (and app clocks an hour apart,
writing many times a second)."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from ifmatch.core import parse_http_date
from ifmatch.stores import Expectation
from ifmatch.stores.sqlalchemy import SQLAlchemyStore
from services import PYTHON, Database, free_port, running_server, subprocess_env

from .sa_support import Doc, create_tables, make_engine

pytestmark = [pytest.mark.slow, pytest.mark.services]

CLIENTS = 8
TOKENS = 4


@contextlib.contextmanager
def server(url: str, *, skew: float = 0, workers: int = 2, threads: int = 4) -> Iterator[str]:
    port = free_port()
    argv = [
        PYTHON, "-m", "gunicorn", "stores.cas_app:app", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--threads", str(threads), "--worker-class",
        "gthread" if threads > 1 else "sync", "--graceful-timeout", "2", "--log-level", "warning",
    ]  # fmt: skip
    env = subprocess_env(
        IFMATCH_TEST_DB_URL=url, IFMATCH_TEST_CLOCK_SKEW=str(skew), IFMATCH_TEST_HOOKS="1"
    )
    with running_server(argv, port, env=env):
        yield f"http://127.0.0.1:{port}"


@dataclass
class Seen:
    """What the clients were told, across all servers."""

    acked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    etags: dict[int, set[str]] = field(default_factory=dict)
    last_modified: dict[int, set[str]] = field(default_factory=dict)
    dates: list[datetime] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, response: httpx.Response) -> None:
        with self.lock:
            version = response.json()["version"]
            self.etags.setdefault(version, set()).add(response.headers["ETag"])
            self.last_modified.setdefault(version, set()).add(response.headers["Last-Modified"])
            sent = parse_http_date(response.headers["Last-Modified"])
            date = parse_http_date(response.headers["Date"])
            assert sent is not None and date is not None
            assert sent <= date, response.headers  # RFC 9110 §8.8.2.1, whatever the clocks


def append(bases: list[str], doc: str, token: str, seen: Seen, *, by_date: bool) -> bool:
    """GET → PUT If-Match (or If-Unmodified-Since) → retry on 412, alternating servers."""
    with httpx.Client(timeout=30) as client:
        for attempt in range(40 if by_date else 400):
            base = bases[attempt % len(bases)]
            got = client.get(f"{base}/docs/{doc}")
            got.raise_for_status()
            seen.observe(got)
            if by_date:
                condition = {"If-Unmodified-Since": got.headers["Last-Modified"]}
            else:
                condition = {"If-Match": got.headers["ETag"]}
            body = f"{got.json()['body']} {token}".strip()
            put = client.put(f"{base}/docs/{doc}", json={"body": body}, headers=condition)
            if put.status_code == 200:
                return True
            assert put.status_code == 412, put.text
    return False


def run_clients(bases: list[str], doc: str, *, by_date: bool = False) -> Seen:
    seen = Seen()

    def client(number: int) -> None:
        for i in range(TOKENS):
            token = f"c{number}.{i}"
            try:
                ok = append(
                    bases[number % 2 :] + bases[: number % 2], doc, token, seen, by_date=by_date
                )
            except httpx.HTTPError:
                ok = False
            with seen.lock:
                (seen.acked if ok else seen.errors).append(token)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return seen


@dataclass
class Shared:
    url: str
    engine: Engine
    store: SQLAlchemyStore[str]
    doc: str


@pytest.fixture
def database(postgres_db: Database) -> Iterator[Shared]:
    url = postgres_db.sqlalchemy_url()
    engine = make_engine(url)
    create_tables(engine)
    store: SQLAlchemyStore[str] = SQLAlchemyStore(Doc, sessionmaker(engine))
    doc = uuid.uuid4().hex
    store.compare_and_set(doc, Expectation(exists=False), {"body": ""})
    yield Shared(url, engine, store, doc)
    engine.dispose()


def final_tokens(store: SQLAlchemyStore[str], doc: str) -> list[str]:
    record = store.get(doc)
    assert record is not None
    return str(record[1]["body"]).split()


def assert_nothing_lost(seen: Seen, present: list[str]) -> None:
    assert not seen.errors, seen.errors
    assert len(seen.acked) == CLIENTS * TOKENS
    assert sorted(present) == sorted(seen.acked)  # every ack present once, nothing else


def test_two_servers_give_identical_etags_and_lose_nothing(database: Shared) -> None:
    url, store, doc = database.url, database.store, database.doc
    with server(url) as first, server(url) as second:
        seen = run_clients([first, second], doc)
    assert_nothing_lost(seen, final_tokens(store, doc))
    assert len(seen.etags) > CLIENTS * TOKENS // 2  # many versions observed, via both servers
    assert all(len(tags) == 1 for tags in seen.etags.values()), seen.etags
    assert all(len(dates) == 1 for dates in seen.last_modified.values())


def test_if_unmodified_since_only_with_app_clocks_an_hour_apart(database: Shared) -> None:
    url, store, doc, engine = database.url, database.store, database.doc, database.engine
    with server(url, skew=-3600) as behind, server(url, skew=3600) as ahead:
        dates = {
            base: parse_http_date(httpx.get(f"{base}/docs/{doc}").headers["Date"])
            for base in (behind, ahead)
        }
        seen = run_clients([behind, ahead], doc, by_date=True)
    assert dates[ahead] - dates[behind] > timedelta(minutes=110)  # the skew is real
    # No lost update: every acknowledged token is in the document once, nothing else is.
    # (Writes far faster than one a second: a version that shares its second with an earlier
    # one cannot be named by a date, so later writers of that second get 412 until another
    # write; the clients give up after a while, unacknowledged, which is no loss.)
    present = final_tokens(store, doc)
    assert seen.acked
    assert sorted(present) == sorted(seen.acked)
    # Last-Modified follows the database clock, whichever app server wrote it: the stored date
    # to the second from the server whose clock is ahead, never later than the Date of the
    # server whose clock is behind (which then sends its Date, RFC 9110 §8.8.2.1).
    database_now = _database_now(engine)
    moments = [parse_http_date(v) for values in seen.last_modified.values() for v in values]
    assert all(moment is not None and moment <= database_now for moment in moments)
    assert max(moments) > database_now - timedelta(minutes=30)  # type: ignore[type-var, operator]


def _database_now(engine: Engine) -> datetime:
    with engine.connect() as connection:
        value = connection.execute(text("select now()")).scalar_one()
    assert isinstance(value, datetime)
    return value.astimezone(UTC)
