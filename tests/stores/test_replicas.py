"""PostgreSQL primary + streaming replica (started by the tests, replica lag injected):
reads from the replica, the guarded write on the primary, read-your-writes from the tag."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import sessionmaker

from ifmatch.integrations.replicas import ReadYourWritesWSGI
from ifmatch.stores import Expectation, Outcome
from ifmatch.stores.replicas import ReplicaReads, needs_primary, seen_versions, versions_named
from ifmatch.stores.sqlalchemy import SQLAlchemyStore
from integrations.example_models import Document
from integrations.example_models import create_tables as create_example_tables
from pg_replica import PgPair
from stores.race import run_race
from stores.sa_support import Doc, create_tables

LAG_MS = 150


def test_versions_named_by_precondition_fields() -> None:
    assert versions_named(['"v3"']) == 3
    assert versions_named(['W/"v3", "v12"', '"v7"']) == 12
    assert versions_named(['"v4~1a2b3c4d"', '"v9-gzip"']) == 9
    assert versions_named(["*"]) is None
    assert versions_named(['"abc"', '"v03"']) is None
    assert versions_named(["v3"]) is None  # malformed: the integration answers 400 itself
    assert versions_named([]) is None
    with seen_versions(['"v5"']) as seen:
        assert seen == 5
    assert needs_primary(4, 5) and needs_primary(None, 5)
    assert not needs_primary(5, 5) and not needs_primary(4, None)


@pytest.fixture(scope="module")
def pg(pg_pair: PgPair) -> PgPair:
    primary = create_engine(pg_pair.primary_url)
    create_tables(primary)
    primary.dispose()
    create_example_tables(pg_pair.primary_url)
    pg_pair.wait_caught_up()
    return pg_pair


@pytest.fixture(scope="module")
def engines(pg: PgPair) -> Iterator[tuple[Engine, Engine]]:
    primary = create_engine(pg.primary_url, pool_size=10)
    replica = create_engine(pg.replica_url, pool_size=10)
    yield primary, replica
    primary.dispose()
    replica.dispose()


def stores(
    engines: tuple[Engine, Engine], *, read_your_writes: bool, model: Any = Doc
) -> ReplicaReads[str]:
    primary, replica = engines
    return ReplicaReads(
        SQLAlchemyStore(model, sessionmaker(primary)),
        SQLAlchemyStore(model, sessionmaker(replica)),
        read_your_writes=read_your_writes,
    )


@pytest.mark.services
def test_the_guarded_write_runs_on_the_primary(pg: PgPair, engines: tuple[Engine, Engine]) -> None:
    """The replica lags: a read there is stale, but the write is checked against the primary
    and the lost race reports the primary's version."""
    pg.set_lag(LAG_MS)
    store = stores(engines, read_your_writes=False)
    key = uuid.uuid4().hex
    created = store.compare_and_set(key, Expectation(exists=False), {"body": "a"})
    assert created.outcome is Outcome.WON
    assert store.read(key) is None  # not on the replica yet
    second = store.compare_and_set(key, Expectation.version(1), {"body": "b"})
    assert second.outcome is Outcome.WON
    stale = store.compare_and_set(key, Expectation.version(1), {"body": "c"})
    assert stale.outcome is Outcome.LOST
    assert stale.snapshot is not None and stale.snapshot.version == 2
    with seen_versions(['"v2"']):
        assert store.read(key) is None  # opt-in only: this store reads the replica anyway
        fresh = stores(engines, read_your_writes=True).read(key)
    assert fresh is not None and fresh.version == 2


@pytest.mark.services
def test_no_lost_updates_with_reads_on_a_lagging_replica(pg: PgPair) -> None:
    """3 processes × 4 threads: read (replica, lagging) → append → guarded write (primary)."""
    pg.set_lag(30)
    primary = create_engine(pg.primary_url)
    store: SQLAlchemyStore[str] = SQLAlchemyStore(Doc, sessionmaker(primary))
    key = uuid.uuid4().hex
    store.compare_and_set(key, Expectation(exists=False), {"body": ""})
    pg.wait_caught_up()

    def body() -> str:
        record = store.get(key)
        assert record is not None
        return str(record[1]["body"])

    spec = {
        "backend": "sqlalchemy", "url": pg.primary_url, "replica_url": pg.replica_url,
        "key": key, "mode": "own",
    }  # fmt: skip
    report = run_race(spec, body, processes=3, threads=3, tokens=1)
    primary.dispose()
    print(f"replica race: {report.summary()}")
    report.assert_no_lost_updates()


@dataclass
class Mix:
    reads: int = 0
    not_modified: int = 0
    older_than_seen: int = 0
    writes: int = 0
    refused: int = 0
    replica_share: float = 0.0

    def line(self) -> str:
        return (
            f"reads={self.reads} replica_share={self.replica_share:.0%} "
            f"304_rate={self.not_modified / max(self.reads, 1):.0%} "
            f"200_older_than_seen={self.older_than_seen} writes={self.writes} 412={self.refused}"
        )


def mixed_load(engines: tuple[Engine, Engine], *, read_your_writes: bool, seconds: float) -> Mix:
    """Clients that remember the tag they last saw: mostly conditional GETs, one write in four
    (If-Match the tag), on 8 documents, through the Flask integration."""
    from integrations import example_flask

    store = stores(engines, read_your_writes=read_your_writes, model=Document)
    app = example_flask.create_app(store, store.get)  # type: ignore[arg-type]
    app.wsgi_app = ReadYourWritesWSGI(app.wsgi_app)  # type: ignore[method-assign]
    prefix = uuid.uuid4().hex[:8]
    docs = [f"{prefix}-{n}" for n in range(8)]
    for doc in docs:
        store.compare_and_set(doc, Expectation(exists=False), {"text": "0"})
    mix = Mix()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        http = app.test_client()
        seen: dict[str, str] = {}
        while time.monotonic() < deadline:
            doc = rng.choice(docs[:4] if seed % 2 else docs[4:])
            tag = seen.get(doc)
            if tag is not None and rng.random() < 0.25:
                answer = http.put(
                    f"/documents/{doc}", headers={"If-Match": tag}, json={"text": "w"}
                )
                with lock:
                    mix.writes += 1
                    mix.refused += answer.status_code == 412
                if answer.status_code == 200:
                    seen[doc] = answer.headers["ETag"]
                continue
            headers = {"If-None-Match": tag} if tag else {}
            answer = http.get(f"/documents/{doc}", headers=headers)
            with lock:
                mix.reads += 1
                mix.not_modified += answer.status_code == 304
            if answer.status_code == 200:
                got = versions_named([answer.headers["ETag"]])
                known = versions_named([tag]) if tag else None
                with lock:
                    mix.older_than_seen += known is not None and got is not None and got < known
                seen[doc] = answer.headers["ETag"]

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    mix.replica_share = store.counts.replica_share
    return mix


@pytest.mark.services
def test_read_your_writes_from_the_tag(pg: PgPair, engines: tuple[Engine, Engine]) -> None:
    pg.set_lag(LAG_MS)
    without = mixed_load(engines, read_your_writes=False, seconds=1.5)
    with_ryw = mixed_load(engines, read_your_writes=True, seconds=1.5)
    print(f"\nreplica lag {LAG_MS} ms, without read-your-writes: {without.line()}")
    print(f"replica lag {LAG_MS} ms, with read-your-writes:    {with_ryw.line()}")
    assert without.reads and with_ryw.reads
    assert with_ryw.older_than_seen == 0
    assert without.replica_share == 1
    # Untagged reads, and tagged ones the replica can answer, still go to the replica.
    assert with_ryw.replica_share > 0


def test_a_client_sees_its_own_write(pg: PgPair, engines: tuple[Engine, Engine]) -> None:
    """With a 2 s replica lag, through Flask: write, then at once read with the new tag and
    write again with it. Without read-your-writes the own write looks undone (200 with the
    older version) and the next write is refused against the replica's version (412)."""
    from integrations import example_flask

    pg.set_lag(2000)
    try:
        seen = []
        for ryw in (False, True):
            store = stores(engines, read_your_writes=ryw, model=Document)
            app = example_flask.create_app(store, store.get)  # type: ignore[arg-type]
            app.wsgi_app = ReadYourWritesWSGI(app.wsgi_app)  # type: ignore[method-assign]
            http = app.test_client()
            path = f"/documents/{uuid.uuid4().hex[:8]}"
            created = http.put(path, headers={"If-None-Match": "*"}, json={"text": "a"})
            tag = created.headers["ETag"]
            read = http.get(path, headers={"If-None-Match": tag})
            write = http.put(path, headers={"If-Match": tag}, json={"text": "b"})
            seen.append((created.status_code, read.status_code, write.status_code))
    finally:
        pg.set_lag(0)
    # Without: the replica does not have the new document yet: 404 to the read, 412 to the
    # write (If-Match and no current representation); with: 304 and 200.
    assert seen == [(201, 404, 412), (201, 304, 200)]


@pytest.mark.services
def test_exhausted_connections_answer_503_not_500(pg: PgPair) -> None:
    """Every connection the server allows (``max_connections``) is taken, and an app server's
    own pool is exhausted: both are 503 with Retry-After, never 500."""
    import psycopg

    from integrations import example_flask

    held: list[psycopg.Connection[Any]] = []
    try:
        while True:
            try:
                held.append(
                    psycopg.connect(host="127.0.0.1", port=pg.primary_port, user="postgres")
                )
            except psycopg.OperationalError as exc:
                assert "too many clients" in str(exc)
                break
        engine = create_engine(pg.primary_url)
        store = SQLAlchemyStore(Document, sessionmaker(engine))
        http = example_flask.create_app(store, store.get).test_client()
        for answer in (http.get("/documents/x"), http.put("/documents/x", json={"text": "a"})):
            assert answer.status_code == 503, answer.data
            assert answer.headers["Retry-After"] == "1"
        engine.dispose()
    finally:
        for conn in held:
            conn.close()
    # The app server's own pool: one connection, held elsewhere; the request times out on it.
    engine = create_engine(pg.primary_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    store = SQLAlchemyStore(Document, sessionmaker(engine))
    http = example_flask.create_app(store, store.get).test_client()
    with engine.connect():
        answer = http.get("/documents/x")
    assert answer.status_code == 503, answer.data
    engine.dispose()


@pytest.mark.services
def test_the_deployment_page_example(pg: PgPair) -> None:
    from deployment_docs import run_snippet

    found = run_snippet(
        "replicas",
        {
            "127.0.0.1:5432": f"127.0.0.1:{pg.primary_port}",
            "127.0.0.1:5433": f"127.0.0.1:{pg.replica_port}",
            "from myapp.models import Document": "from integrations.example_models import Document",
        },
    )
    store = found["store"]
    key = uuid.uuid4().hex
    assert (
        store.compare_and_set(key, Expectation(exists=False), {"text": "a"}).outcome is Outcome.WON
    )
    with seen_versions(['"v1"']):
        snapshot = store.read(key)  # the replica may lag: the tag sends this read to the primary
    assert snapshot is not None and snapshot.version == 1
    found["primary"].dispose()
    found["replica"].dispose()
