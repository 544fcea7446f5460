"""Hostile precondition values through HTTP: the Flask and FastAPI example apps (the shape their
docs pages show) on SQLite, PostgreSQL and Redis.

Every request gets the status the header check decides, never a 5xx, and the record (version
and text, read from the store itself) changes exactly when the request succeeded: never a write
past a precondition. The cases are the store matrix's (``tests/hostile_cases.py``), plus reads
with If-None-Match / If-Modified-Since, deletes, body versions, oversized values and repeated
header lines. Then a subset through real servers (gunicorn, uvicorn), whose own limits on
header size apply first.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from sqlalchemy.orm import sessionmaker

import services
from hostile_cases import BIG, CASES, FAIL, REQUIRED, WRITE, case_id, fill
from ifmatch.stores import Snapshot
from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore, SQLAlchemyStore
from integrations import example_fastapi, example_flask
from integrations.example_models import DATABASE_URL_ENV, Document, create_tables
from integrations.http_conformance import BASE_HEADERS, AsgiClient, Headers
from services import Database, free_port, running_server, subprocess_env

ORIGINAL = "original"


@dataclass
class Reply:
    status: int
    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class Site:
    """An example app over one store: how to send it a request, how to read the store."""

    name: str
    send: Callable[[str, str, Headers, bytes | None], Reply]
    read: Callable[[str], tuple[Snapshot, str] | None]

    def request(self, method: str, path: str, headers: Headers = (), body: object = None) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        sent = [*BASE_HEADERS, *headers]
        if data is not None:
            sent.append(("Content-Type", "application/json"))
        return self.send(method, path, sent, data)

    def create(self) -> tuple[str, Snapshot]:
        key = uuid.uuid4().hex[:16]
        reply = self.request(
            "PUT", f"/documents/{key}", [("If-None-Match", "*")], {"text": ORIGINAL}
        )
        assert reply.status == 201, (reply.status, reply.body)
        found = self.read(key)
        assert found is not None and found[1] == ORIGINAL
        return key, found[0]


# --- the apps --------------------------------------------------------------------------------


def _record(found: tuple[Snapshot, dict[str, Any]] | None) -> tuple[Snapshot, str] | None:
    if found is None:
        return None
    text = found[1]["text"]
    return found[0], text.decode() if isinstance(text, bytes) else text


def flask_site(name: str, store: Any) -> Site:
    app = example_flask.create_app(store, store.get)
    client = app.test_client()

    def send(method: str, path: str, headers: Headers, body: bytes | None) -> Reply:
        response = client.open(path, method=method, headers=headers, data=body)
        return Reply(response.status_code, list(response.headers.items()), response.data)

    return Site(name, send, lambda key: _record(store.get(key)))


def fastapi_site(name: str, store: Any, portal: BlockingPortal) -> Site:
    client = AsgiClient(example_fastapi.create_app(store), portal)

    def send(method: str, path: str, headers: Headers, body: bytes | None) -> Reply:
        exchange = client.send(method, path, headers, body)
        return Reply(exchange.status, exchange.headers, exchange.body)

    def read(key: str) -> tuple[Snapshot, str] | None:
        return _record(portal.call(store.get, key))

    return Site(name, send, read)


SITES = [
    "flask-sqlite",
    "flask-postgresql",
    "flask-redis",
    "fastapi-sqlite",
    "fastapi-postgresql",
    "fastapi-redis",
]


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as module_portal:
        yield module_portal


@pytest.fixture(scope="module")
def sites(
    request: pytest.FixtureRequest,
    portal: BlockingPortal,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Site]]:
    """The sites, built on first use (so a missing service fails only its own cases)."""
    built: dict[str, Site] = {}
    closers: list[Callable[[], None]] = []
    sqlite_url = f"sqlite:///{tmp_path_factory.mktemp('hostile-http') / 'docs.db'}"

    def build(name: str) -> Site:
        if name in built:
            return built[name]
        framework, backend = name.split("-")
        if backend == "redis":
            import redis
            import redis.asyncio

            from ifmatch.stores.redis import AsyncRedisStore, RedisStore

            url = services.redis_url_or_skip()
            prefix = f"ifmatch-hostile-http:{uuid.uuid4().hex}:"
            if framework == "flask":
                client = redis.Redis.from_url(url, decode_responses=True)
                closers.append(client.close)
                site = flask_site(name, RedisStore(client, prefix=prefix))
            else:
                aclient = redis.asyncio.Redis.from_url(url, decode_responses=True)
                closers.append(lambda: portal.call(aclient.aclose))
                site = fastapi_site(name, AsyncRedisStore(aclient, prefix=prefix), portal)
        else:
            if backend == "sqlite":
                sync_url, async_url = sqlite_url, sqlite_url.replace("sqlite", "sqlite+aiosqlite")
            else:
                db: Database = request.getfixturevalue("postgres_db")
                sync_url, async_url = db.sqlalchemy_url(), db.sqlalchemy_url(asynchronous=True)
            create_tables(sync_url)
            if framework == "flask":
                from sqlalchemy import create_engine

                engine = create_engine(sync_url)
                closers.append(engine.dispose)
                site = flask_site(name, SQLAlchemyStore(Document, sessionmaker(engine)))
            else:
                from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

                aengine = create_async_engine(async_url)
                closers.append(lambda: portal.call(aengine.dispose))
                store = AsyncSQLAlchemyStore(Document, async_sessionmaker(aengine))
                site = fastapi_site(name, store, portal)
        built[name] = site
        return site

    class Lazy(dict[str, Site]):
        def __missing__(self, name: str) -> Site:
            return build(name)

    yield Lazy()
    for close in reversed(closers):
        close()


def site_params() -> list[Any]:
    return [
        pytest.param(name, marks=[] if name.endswith("sqlite") else [pytest.mark.services])
        for name in SITES
    ]


@pytest.fixture(params=site_params())
def site(request: pytest.FixtureRequest, sites: dict[str, Site]) -> Site:
    return sites[request.param]


# --- the checks ------------------------------------------------------------------------------


def check(
    site: Site,
    key: str,
    before: Snapshot,
    method: str,
    path: str,
    headers: Headers,
    body: object,
    expected: int,
) -> Reply:
    """Send one request; its status must be ``expected``, and the record must have changed
    exactly as that status says."""
    reply = site.request(method, path, headers, body)
    assert reply.status < 500, (reply.status, reply.body[:300])
    assert reply.status == expected, (headers, reply.status, reply.body[:300])
    after = site.read(key)
    if method == "DELETE" and 200 <= reply.status < 300:
        assert after is None
    elif method in {"PUT", "PATCH"} and 200 <= reply.status < 300:
        assert after is not None
        assert (after[0].version, after[1]) == (before.version + 1, body["text"])  # type: ignore[index]
        assert reply.header("ETag") == str(after[0].etag())
    else:
        assert after is not None and after[0] == before and after[1] == ORIGINAL, (
            "a refused request changed the record"
        )
    return reply


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_put_with_hostile_preconditions(site: Site, case: tuple[str, str, int]) -> None:
    key, snapshot = site.create()
    header, template, status = case
    value = fill(template, snapshot.version, snapshot.last_modified)
    expected = {WRITE: 200}.get(status, status)
    check(
        site, key, snapshot, "PUT", f"/documents/{key}", [(header, value)], {"text": "x"}, expected
    )


READ_CASES = [
    ("If-None-Match", '"v{cur}"', 304),
    ("If-None-Match", 'W/"v{cur}"', 304),
    ("If-None-Match", "v{cur}", 304),
    ("If-None-Match", "*", 304),
    ("If-None-Match", '"v0{cur}"', 200),
    ("If-None-Match", '"v+{cur}"', 200),
    ("If-None-Match", '"v{cur}.0"', 200),
    *(("If-None-Match", f'"v{n}"', 200) for n in BIG),
    ("If-None-Match", f'"v{10**20}", "v{{cur}}"', 304),
    ("If-None-Match", '"v{cur}", ' * 65, 400),
    ("If-None-Match", '"' + "9" * 9000 + '"', 400),
    ("If-Match", f'"v{2**31}"', 412),
    ("If-Match", '"v0{cur}"', 412),
    ("If-Match", '"v{cur}"', 200),
    ("If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT", 304),
    ("If-Modified-Since", "Tue, 19 Jan 2038 03:14:08 GMT", 304),
    ("If-Modified-Since", "{lm}", 304),
    ("If-Modified-Since", "{lm_before}", 200),
    ("If-Modified-Since", "Mon, 01 Jan 0001 00:00:00 GMT", 200),
    ("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT", 200),
    ("If-Modified-Since", "Fri, 32 Dec 9999 23:59:59 GMT", 200),
    ("If-Modified-Since", "Fri, 31 Dec 99999 23:59:59 GMT", 200),
    ("If-Unmodified-Since", "Fri, 31 Dec 9999 23:59:59 GMT", 200),
    ("If-Unmodified-Since", "Mon, 01 Jan 0001 00:00:00 GMT", 412),
]


@pytest.mark.parametrize("case", READ_CASES, ids=case_id)
def test_get_with_hostile_preconditions(site: Site, case: tuple[str, str, int]) -> None:
    key, snapshot = site.create()
    header, template, expected = case
    value = fill(template, snapshot.version, snapshot.last_modified)
    reply = check(
        site, key, snapshot, "GET", f"/documents/{key}", [(header, value)], None, expected
    )
    if expected in (200, 304):
        assert reply.header("ETag") == str(snapshot.etag())


DELETE_CASES = [
    ("If-Match", f'"v{10**20}"', FAIL),
    ("If-Match", '"v0{cur}"', FAIL),
    ("If-Match", f'"v{2**53 + 1}", "v{{cur}}"', 204),
    ("If-None-Match", '"v0{cur}"', 204),
    ("If-None-Match", f'"v{2**63}"', 204),
    ("If-None-Match", '"v{cur}"', FAIL),
    ("If-Unmodified-Since", "Fri, 31 Dec 9999 23:59:59 GMT", 204),
    ("If-Unmodified-Since", "Mon, 01 Jan 0001 00:00:00 GMT", FAIL),
    ("If-Unmodified-Since", "Fri, 32 Dec 9999 23:59:59 GMT", REQUIRED),
]


@pytest.mark.parametrize("case", DELETE_CASES, ids=case_id)
def test_delete_with_hostile_preconditions(site: Site, case: tuple[str, str, int]) -> None:
    key, snapshot = site.create()
    header, template, expected = case
    value = fill(template, snapshot.version, snapshot.last_modified)
    check(site, key, snapshot, "DELETE", f"/documents/{key}", [(header, value)], None, expected)


@pytest.mark.parametrize("version", [*BIG, 3_000_000_000, 0, 2])
def test_a_body_version_that_is_not_the_stored_one_is_a_conflict(site: Site, version: int) -> None:
    key, snapshot = site.create()
    path = f"/versioned/{key}"
    reply = check(site, key, snapshot, "PUT", path, [], {"text": "x", "version": version}, 409)
    assert json.loads(reply.body)["current_version"] == snapshot.version
    check(site, key, snapshot, "PUT", path, [], {"text": "y", "version": snapshot.version}, 200)


@pytest.mark.parametrize("version", [-1, -(2**63) - 1, True, 1.0])
def test_a_body_version_that_is_no_version_is_refused(site: Site, version: object) -> None:
    """Not a non-negative integer: bad input, refused as each framework refuses it (Flask:
    ifmatch's 400 ``invalid-version``; FastAPI: the 422 of the body model's ``BodyVersion``),
    and nothing is written."""
    key, snapshot = site.create()
    path = f"/versioned/{key}"
    expected = 400 if site.name.startswith("flask") else 422
    reply = check(site, key, snapshot, "PUT", path, [], {"text": "x", "version": version}, expected)
    if expected == 400:
        assert json.loads(reply.body)["code"] == "invalid-version"


REPEATED: list[tuple[str, Callable[[int], Headers], int]] = [
    ("200 If-Match lines", lambda cur: [("If-Match", f'"v{cur}"')] * 200, 400),
    (
        "60 impossible If-Match lines and the current tag",
        lambda cur: (
            [("If-Match", f'"v{10**20 + i}"') for i in range(60)] + [("If-Match", f'"v{cur}"')]
        ),
        200,
    ),
    (
        "If-None-Match lines, the second naming the current tag",
        lambda cur: [("If-None-Match", f'"v0{cur}"'), ("If-None-Match", f'"v{cur}"')],
        412,
    ),
    (
        "If-None-Match lines naming no version",
        lambda cur: [("If-None-Match", f'"v0{cur}"'), ("If-None-Match", f'"v{2**64}"')],
        200,
    ),
    (
        "If-Match lines, the current tag only in the second",
        lambda cur: [("If-Match", f'"v{2**31}"'), ("If-Match", f'"v{cur}"')],
        200,
    ),
    (
        "If-Match then If-None-Match: *",
        lambda cur: [("If-Match", f'"v{cur}"'), ("If-None-Match", "*")],
        412,
    ),
    (
        "two If-Unmodified-Since lines",
        lambda cur: [("If-Unmodified-Since", "Fri, 31 Dec 9999 23:59:59 GMT")] * 2,
        REQUIRED,
    ),
    (
        "If-Match one character over the limit",
        lambda cur: [("If-Match", f'"v{cur}",' + " " * 8190 + '"v0"')],
        400,
    ),
    (
        "If-Match of 100000 characters",
        lambda cur: [("If-Match", ", ".join([f'"v{cur}"'] * 12500))],
        400,
    ),
    ("one tag of 8000 characters", lambda cur: [("If-Match", '"v' + "9" * 7998 + '"')], FAIL),
    (
        "65 tags, the current one last",
        lambda cur: [("If-Match", ", ".join([f'"v{2**40}"'] * 64 + [f'"v{cur}"']))],
        400,
    ),
    (
        "64 tags, the current one last",
        lambda cur: [("If-Match", ", ".join([f'"v{2**40}"'] * 63 + [f'"v{cur}"']))],
        200,
    ),
]


@pytest.mark.parametrize(("label", "headers", "expected"), REPEATED, ids=[r[0] for r in REPEATED])
def test_huge_and_repeated_headers(
    site: Site, label: str, headers: Callable[[int], Headers], expected: int
) -> None:
    key, snapshot = site.create()
    sent = headers(snapshot.version)
    check(site, key, snapshot, "PUT", f"/documents/{key}", sent, {"text": "x"}, expected)


# --- through real servers --------------------------------------------------------------------


def raw_request(port: int, method: str, path: str, headers: Headers, body: bytes) -> int:
    """Send one HTTP/1.1 request as bytes (repeated header lines stay repeated) and return
    the status, or 0 when the server closed the connection without answering."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    if not reply:
        return 0
    return int(reply.split(b" ", 2)[1])


SERVER_CASES: list[tuple[str, Callable[[int], Headers], set[int]]] = [
    ("If-Match 2**31", lambda cur: [("If-Match", f'"v{2**31}"')], {412}),
    ("If-Match 10**20", lambda cur: [("If-Match", f'"v{10**20 - 1}"')], {412}),
    ("If-None-Match v0<cur>", lambda cur: [("If-None-Match", f'"v0{cur}"')], {200}),
    (
        "If-Unmodified-Since 9999",
        lambda cur: [("If-Unmodified-Since", "Fri, 31 Dec 9999 23:59:59 GMT")],
        {200},
    ),
    ("200 If-Match lines", lambda cur: [("If-Match", f'"v{cur}"')] * 200, {400, 431}),
    (
        "If-None-Match lines, the second naming the current tag",
        lambda cur: [("If-None-Match", f'"v0{cur}"'), ("If-None-Match", f'"v{cur}"')],
        {412},
    ),
    # Past the servers' own line limits (gunicorn: 8190 bytes) they answer before the app.
    (
        "If-Match of 8191 characters",
        lambda cur: [("If-Match", f'"v{cur}",' + " " * 8190 + '"v0"')],
        {400, 431},
    ),
    (
        "If-Match of 60000 characters",
        lambda cur: [("If-Match", ", ".join([f'"v{cur}"'] * 7500))],
        {400, 431},
    ),
]


@pytest.fixture(scope="module")
def pg_url(postgres_db: Database) -> str:
    url = postgres_db.sqlalchemy_url()
    create_tables(url)
    return url


@pytest.mark.services
@pytest.mark.parametrize("server", ["gunicorn-flask", "uvicorn-fastapi"])
def test_hostile_headers_through_real_servers(pg_url: str, server: str) -> None:
    port = free_port()
    if server == "gunicorn-flask":
        url = pg_url
        argv = [
            services.PYTHON,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "integrations.example_flask:create_app()",
        ]
    else:
        url = pg_url.replace("+psycopg", "+asyncpg")
        argv = [
            services.PYTHON,
            "-m",
            "uvicorn",
            "--workers",
            "2",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--no-date-header",
            "--factory",
            "integrations.example_fastapi:create_app",
        ]
    engine = create_engine_for(pg_url)
    store = SQLAlchemyStore(Document, sessionmaker(engine))
    try:
        with running_server(argv, port, env=subprocess_env(**{DATABASE_URL_ENV: url})):
            for label, headers, allowed in SERVER_CASES:
                key = uuid.uuid4().hex[:16]
                path = f"/documents/{key}"
                body = json.dumps({"text": ORIGINAL}).encode()
                assert raw_request(port, "PUT", path, [("If-None-Match", "*")], body) == 201
                found = store.get(key)
                assert found is not None
                before = found[0]
                status = raw_request(port, "PUT", path, headers(before.version), b'{"text": "x"}')
                assert status in allowed, (label, status)
                after = store.get(key)
                assert after is not None
                if status == 200:
                    assert (after[0].version, after[1]["text"]) == (before.version + 1, "x"), label
                else:
                    assert (after[0], after[1]["text"]) == (before, ORIGINAL), label
    finally:
        engine.dispose()


def create_engine_for(url: str) -> Any:
    from sqlalchemy import create_engine

    return create_engine(url)
