"""Django and DRF on a PostgreSQL primary + streaming replica (``ReplicaRouter``), served by
gunicorn: reads on the lagging replica, guarded writes on the primary (0 lost), and
read-your-writes from the tag (``ReadYourWritesMiddleware``) measured under a mixed load."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import djangoproject
from pg_replica import PgPair

djangoproject.setup()

from djangoproject.docs.models import Document  # noqa: E402
from djangoproject.harness import append_race, call, gunicorn  # noqa: E402
from ifmatch.stores.replicas import versions_named  # noqa: E402
from services import Database  # noqa: E402

pytestmark = [pytest.mark.services]

LAG_MS = 150


@pytest.fixture(scope="module")
def pg(pg_pair: PgPair) -> PgPair:
    djangoproject.add_database(
        "pgprimary",
        Database.from_url(pg_pair.url(pg_pair.primary_port, "postgresql")).django_settings(),
    )
    return pg_pair


def documents(count: int) -> list[int]:
    made = []
    for n in range(count):
        doc = Document(title=f"d{n}", text="")
        doc.save(using="pgprimary")
        made.append(int(doc.pk))
    return made


def primary_text(pg: PgPair, pk: int) -> str:
    rows = pg.execute(
        pg.primary_port, f"SELECT text FROM {Document._meta.db_table} WHERE id = {int(pk)}"
    )
    return str(rows[0][0])


def serve(pg: PgPair, *, read_your_writes: bool) -> object:
    return gunicorn(
        pg.url(pg.primary_port, "postgresql"),
        workers=2,
        IFMATCH_DJANGO_REPLICA_URL=pg.url(pg.replica_port, "postgresql"),
        IFMATCH_READ_YOUR_WRITES="1" if read_your_writes else "0",
    )


@pytest.fixture(scope="module")
def without_ryw(pg: PgPair) -> Iterator[int]:
    """gunicorn (2 workers) on the primary + replica, without read-your-writes: its port."""
    with serve(pg, read_your_writes=False) as port:  # type: ignore[attr-defined]
        yield port


def test_drf_on_a_lagging_replica_loses_no_update(pg: PgPair, without_ryw: int) -> None:
    pg.set_lag(30)
    (pk,) = documents(1)
    pg.wait_caught_up()
    try:
        result = append_race(
            without_ryw, f"/api/documents/{pk}/", writers=4, tokens_each=2, seconds=40
        )
    finally:
        pg.set_lag(0)
    assert result.errors == []
    assert result.acknowledged
    text = primary_text(pg, pk)
    lost = [token for token in result.acknowledged if token not in text]
    acked = len(result.acknowledged)
    print(f"django replica race: acked={acked} lost={len(lost)} 412={result.refused}")
    assert lost == []
    assert text.count("<") == len(result.acknowledged)


@dataclass
class Mix:
    reads: int = 0
    not_modified: int = 0
    older_than_seen: int = 0
    writes: int = 0
    refused: int = 0

    def line(self) -> str:
        return (
            f"reads={self.reads} 304_rate={self.not_modified / max(self.reads, 1):.0%} "
            f"200_older_than_seen={self.older_than_seen} writes={self.writes} 412={self.refused}"
        )


def mixed_load(port: int, paths: list[str], seconds: float) -> Mix:
    for _ in range(4):  # both workers loaded the project before the clock starts
        assert call(port, "GET", paths[0])[0] == 200
    mix = Mix()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        seen: dict[str, tuple[str, dict[str, str]]] = {}
        while time.monotonic() < deadline:
            path = rng.choice(paths)
            known = seen.get(path)
            if known is not None and rng.random() < 0.25:
                body = {"title": known[1]["title"], "text": f"w{seed}"}
                status, headers, _ = call(port, "PUT", path, {"If-Match": known[0]}, body)
                with lock:
                    mix.writes += 1
                    mix.refused += status == 412
                if status == 200:
                    seen[path] = (headers["etag"], body)
                continue
            status, headers, raw = call(
                port, "GET", path, {"If-None-Match": known[0]} if known else {}
            )
            with lock:
                mix.reads += 1
                mix.not_modified += status == 304
            if status == 200:
                got = versions_named([headers["etag"]])
                had = versions_named([known[0]]) if known else None
                with lock:
                    mix.older_than_seen += had is not None and got is not None and got < had
                seen[path] = (headers["etag"], json.loads(raw))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return mix


def own_write_then_read(port: int, path: str) -> tuple[int, int]:
    """Write, then at once read with the new tag (If-None-Match) and write again with it
    (If-Match): the two statuses."""
    status, headers, raw = call(port, "GET", path)
    assert status == 200
    body = json.loads(raw)
    changed = {"title": body["title"], "text": "own"}
    status, headers, _ = call(port, "PUT", path, {"If-Match": headers["etag"]}, changed)
    assert status == 200
    tag = headers["etag"]
    again = call(port, "GET", path, {"If-None-Match": tag})[0]
    write = call(port, "PUT", path, {"If-Match": tag}, {**changed, "text": "own again"})[0]
    return again, write


def test_read_your_writes_from_the_tag(pg: PgPair, without_ryw: int) -> None:
    """The DRF viewset and the plain Django decorator, with the middleware off and on.

    First with a 2 s replica lag, one client: write, then at once read with the new tag and
    write again with it. Without the middleware its own write looks undone (200 with the
    older version) and its next write is refused against the replica's version (412); with
    it, 304 and 200. Then a mixed load with a 150 ms lag, measured.
    """
    pks = documents(8)
    pg.wait_caught_up()
    own: dict[bool, list[tuple[int, int]]] = {}
    found: dict[tuple[str, bool], Mix] = {}
    prefixes = ("/api/documents", "/plain/documents")
    try:
        for ryw in (False, True):
            server = (
                serve(pg, read_your_writes=True) if ryw else contextlib.nullcontext(without_ryw)
            )
            with server as port:  # type: ignore[attr-defined]
                pg.set_lag(2000)
                own[ryw] = [
                    own_write_then_read(port, f"{prefix}/{pks[2 * ryw + n]}/")
                    for n, prefix in enumerate(prefixes)
                ]
                pg.set_lag(LAG_MS)
                for prefix in prefixes:
                    paths = [f"{prefix}/{pk}/" for pk in pks[4:]]
                    found[prefix, ryw] = mix = mixed_load(port, paths, seconds=1.0)
                    print(f"\n{prefix} lag {LAG_MS} ms, read-your-writes={ryw}: {mix.line()}")
    finally:
        pg.set_lag(0)
    assert own[False] == [(200, 412), (200, 412)]
    assert own[True] == [(304, 200), (304, 200)]
    for prefix in prefixes:
        assert found[prefix, True].older_than_seen == 0
        assert found[prefix, True].reads and found[prefix, True].writes
