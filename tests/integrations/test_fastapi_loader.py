"""A ``Conditional`` loader that yields: the row stays in its session for the handler, and the
loader is closed exactly once, at once for an answer given before the handler, else when the
request ends (whatever the handler did)."""

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal
from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

import services
from ifmatch.core.errors import ConfigurationError
from ifmatch.integrations.fastapi import Conditional, ConditionalRequest, install
from ifmatch.stores import Expectation, Snapshot
from ifmatch.stores.memory import MemoryStore
from integrations.example_models import DATABASE_URL_ENV, Document, create_tables
from integrations.http_conformance import AsgiClient
from integrations.lost_updates import race


class Ledger:
    """What the loader saw: each opening and each closing, and what was open when."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.open = 0

    def load(self, store: MemoryStore) -> Any:
        async def load(key: Hashable) -> AsyncIterator[tuple[Snapshot, dict[str, Any]] | None]:
            self.open += 1
            self.events.append(f"open {key}")
            try:
                yield store.get(key)
            finally:
                self.open -= 1
                self.events.append(f"close {key}")

        return load


def make_app(store: MemoryStore, ledger: Ledger, *, early: bool, installed: bool = True) -> FastAPI:
    documents = Conditional(
        store,
        key="doc_id",
        load=ledger.load(store),
        snapshot=lambda found: found[0],
        answer_before_view=early,
    )
    Condition = Annotated[ConditionalRequest, Depends(documents)]
    app = FastAPI()

    @app.get("/d/{doc_id}")
    async def read(doc_id: str, condition: Condition) -> dict[str, Any]:
        ledger.events.append(f"handler sees {ledger.open} open")
        if doc_id == "secret":
            raise HTTPException(403)
        if doc_id == "broken":
            raise RuntimeError("the handler failed")
        return {"text": condition.instance[1]["text"]}

    @app.put("/d/{doc_id}")
    async def put(doc_id: str, condition: Condition) -> dict[str, Any]:
        ledger.events.append(f"handler sees {ledger.open} open")
        await condition.write({"text": "new"})
        return {"text": "new"}

    return install(app) if installed else app


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    for key in ("d", "secret", "broken"):
        store.compare_and_set(key, Expectation(exists=False), {"text": key})
    return store


@pytest.mark.parametrize("early", [True, False])
def test_the_handler_gets_the_row_with_its_loader_open_closed_when_the_request_ends(
    portal: BlockingPortal, store: MemoryStore, early: bool
) -> None:
    ledger = Ledger()
    client = AsgiClient(make_app(store, ledger, early=early), portal)
    response = client.request("GET", "/d/d")
    assert response.status_code == 200 and response.json() == {"text": "d"}
    assert response.headers["etag"] == '"v1"'
    assert ledger.events == ["open d", "handler sees 1 open", "close d"]
    assert ledger.open == 0


def test_an_answer_before_the_handler_closes_the_loader_at_once(
    portal: BlockingPortal, store: MemoryStore
) -> None:
    ledger = Ledger()
    client = AsgiClient(make_app(store, ledger, early=True), portal)
    assert client.request("GET", "/d/d", headers={"If-None-Match": '"v1"'}).status_code == 304
    assert client.request("PUT", "/d/d", headers={"If-Match": '"v9"'}).status_code == 412
    assert client.request("PUT", "/d/d").status_code == 428
    assert client.request("PUT", "/d/d", headers={"If-Match": "v1, junk"}).status_code == 400
    assert client.request("GET", "/d/missing").status_code == 404
    # The handler never ran; each loader was closed before the answer.
    assert ledger.events == [
        *("open d", "close d") * 4,
        "open missing",
        "close missing",
    ]
    assert store.get("d")[1] == {"text": "d"}  # type: ignore[index]


def test_a_waiting_answer_still_waits_for_the_handler_and_closes_the_loader_after(
    portal: BlockingPortal, store: MemoryStore
) -> None:
    ledger = Ledger()
    client = AsgiClient(make_app(store, ledger, early=False), portal)
    # The handler refuses access: 403, not the 304 that was waiting.
    refused = client.request("GET", "/d/secret", headers={"If-None-Match": '"v1"'})
    assert refused.status_code == 403
    granted = client.request("GET", "/d/d", headers={"If-None-Match": '"v1"'})
    assert granted.status_code == 304
    assert ledger.events == [
        *("open secret", "handler sees 1 open", "close secret"),
        *("open d", "handler sees 1 open", "close d"),
    ]


def test_the_loader_is_closed_after_a_write_and_after_a_failing_handler(
    portal: BlockingPortal, store: MemoryStore
) -> None:
    ledger = Ledger()
    client = AsgiClient(make_app(store, ledger, early=True), portal)
    written = client.request("PUT", "/d/d", headers={"If-Match": '"v1"'})
    assert written.status_code == 200 and written.headers["etag"] == '"v2"'
    transport = httpx.ASGITransport(app=make_app(store, ledger, early=True))
    transport.raise_app_exceptions = False
    failing = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    assert portal.call(lambda: failing.get("/d/broken")).status_code == 500
    assert ledger.events == [
        *("open d", "handler sees 1 open", "close d"),
        *("open broken", "handler sees 1 open", "close broken"),
    ]
    assert ledger.open == 0


def test_a_loader_that_yields_needs_install(portal: BlockingPortal, store: MemoryStore) -> None:
    ledger = Ledger()
    client = AsgiClient(make_app(store, ledger, early=True, installed=False), portal)
    with pytest.raises(ConfigurationError, match="install"):
        client.request("GET", "/d/d")
    assert ledger.events == ["open d", "close d"] and ledger.open == 0


@contextlib.contextmanager
def serving_loader_app(
    postgres_db: services.Database, doc_id: str, *, workers: int
) -> Iterator[str]:
    """``loader_fastapi_app`` under uvicorn workers, with document ``doc_id`` empty; yields
    the base URL."""
    create_tables(postgres_db.sqlalchemy_url())
    engine = create_engine(postgres_db.sqlalchemy_url())
    with Session(engine) as session:
        session.merge(Document(id=doc_id, text=""))
        session.commit()
    engine.dispose()
    port = services.free_port()
    argv = [
        services.PYTHON,
        *("-m", "uvicorn", "--workers", str(workers), "--port", str(port)),
        *("--host", "127.0.0.1", "--factory", "integrations.loader_fastapi_app:create_app"),
    ]
    env = services.subprocess_env(
        **{DATABASE_URL_ENV: postgres_db.sqlalchemy_url(asynchronous=True)}
    )
    with services.running_server(argv, port, env=env):
        yield f"http://127.0.0.1:{port}"


@pytest.mark.slow
@pytest.mark.services
def test_no_lost_updates_through_uvicorn_workers_with_a_yielding_loader(
    postgres_db: services.Database,
) -> None:
    # More writers than pooled connections per worker: a request that held its loader's
    # connection while its write waited for another would stall here.
    with serving_loader_app(postgres_db, "loader-race", workers=3) as base:
        tally, lost = race(base, "/documents/loader-race", writers=12, tokens=5)
    assert not tally.errors and len(tally.acknowledged) == 60
    assert lost == [], f"{len(lost)} acknowledged writes lost"
    assert tally.conflicts > 0  # the writers did collide
    print(f"{len(tally.acknowledged)} acknowledged, {tally.conflicts} 412s, {len(lost)} lost")


def test_an_early_304_carries_its_validator_and_a_malformed_if_none_match_is_a_400(
    portal: BlockingPortal, store: MemoryStore
) -> None:
    ledger = Ledger()
    client = AsgiClient(make_app(store, ledger, early=True), portal)
    fresh = client.request("GET", "/d/d")
    not_modified = client.request("GET", "/d/d", headers={"If-None-Match": '"v0", "v1"'})
    assert not_modified.status_code == 304 and not_modified.content == b""
    # RFC 9110 §15.4.5: the ETag a 200 would carry; Last-Modified only for a date validator.
    assert not_modified.headers["etag"] == fresh.headers["etag"] == '"v1"'
    assert "last-modified" not in not_modified.headers
    since = {"If-Modified-Since": fresh.headers["last-modified"]}
    by_date = client.request("GET", "/d/d", headers=since)
    assert by_date.status_code == 304
    assert by_date.headers["etag"] == '"v1"'
    assert by_date.headers["last-modified"] == fresh.headers["last-modified"]
    assert "content-length" not in not_modified.headers
    for malformed in ('"v1", junk', 'W/"v1', "v1 v2"):
        # Asked again with the same field: a malformed value is never taken from a cache.
        for _ in range(2):
            refused = client.request("GET", "/d/d", headers={"If-None-Match": malformed})
            assert refused.status_code == 400, malformed
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["header"] == "If-None-Match"
            assert refused.headers["content-length"] == str(len(refused.content))
    assert ledger.open == 0


@pytest.mark.slow
@pytest.mark.services
def test_no_304_hides_a_write_acknowledged_before_the_request_through_uvicorn_workers(
    postgres_db: services.Database,
) -> None:
    # One writer commits versions one after another; readers revalidate the newest tag they
    # hold. A 304 (answered from store.peek, outside any transaction) to a request sent after
    # a newer version was acknowledged would hide that write; a 200 must carry at least the
    # version acknowledged before the request was sent.
    path = "/documents/stale-304"
    acknowledged: list[tuple[float, int]] = []  # (when the 2xx arrived, the version it made)
    answers: list[tuple[float, int, int, int]] = []  # (sent, held version, status, got version)
    lock = threading.Lock()
    done = threading.Event()

    def version(etag: str) -> int:
        return int(etag.strip('"').removeprefix("v"))

    def write(client: httpx.Client) -> None:
        tag = client.get(path).headers["etag"]
        for n in range(40):
            put = client.put(path, json={"text": f"w{n}"}, headers={"If-Match": tag})
            assert put.status_code == 200, put.text
            tag = put.headers["etag"]
            with lock:
                acknowledged.append((time.monotonic(), version(tag)))

    def read(client: httpx.Client) -> None:
        tag = client.get(path).headers["etag"]
        while not done.is_set():
            sent = time.monotonic()
            got = client.get(path, headers={"If-None-Match": tag})
            assert got.status_code in (200, 304), got.text
            with lock:
                answers.append((sent, version(tag), got.status_code, version(got.headers["etag"])))
            tag = got.headers["etag"]

    with (
        serving_loader_app(postgres_db, "stale-304", workers=2) as base,
        ThreadPoolExecutor(max_workers=5) as pool,
    ):
        clients = [httpx.Client(base_url=base, timeout=30) for _ in range(5)]
        readers = [pool.submit(read, client) for client in clients[1:]]
        try:
            pool.submit(write, clients[0]).result()
        finally:
            done.set()
        for reader in readers:
            reader.result()
        for client in clients:
            client.close()
    assert len(acknowledged) == 40
    stale = []
    for sent, held, status, got in answers:
        newest = max((v for when, v in acknowledged if when < sent), default=1)
        if got < newest or (status == 304 and held < newest):
            stale.append((status, held, got, newest))
    assert stale == [], f"{len(stale)} answers older than an acknowledged write: {stale[:5]}"
    not_modified = sum(1 for answer in answers if answer[2] == 304)
    assert not_modified > 0 and len(answers) > not_modified  # both answers were exercised
