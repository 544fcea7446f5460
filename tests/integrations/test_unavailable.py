"""A database that goes away answers 503 with ``Retry-After``, never 500, in every integration,
on reads as on writes, and the write it interrupted is not reported as anything it did not do.

The apps are the ones the docs show, on PostgreSQL and MariaDB. Their pooled connections are
terminated by the server (``pg_terminate_backend``, ``KILL``) between two requests, as a
database restart or a failover does; the next request finds its connection dead. Apps pointed
at a port nothing listens on show the other half: a database that cannot be reached.
"""

from __future__ import annotations

import contextlib
import gc
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal

from integrations.example_models import create_tables
from integrations.http_conformance import AsgiClient
from services import MARIADB_URL, POSTGRES_URL, Database, free_port, scratch_database

pytestmark = pytest.mark.services

Send = Callable[..., tuple[int, dict[str, str], bytes]]


def terminate_connections(db: Database) -> None:
    """End every connection to ``db`` but this one, from the server's side."""
    if db.vendor == "postgresql":
        import psycopg

        with psycopg.connect(
            host=db.host, port=db.port, user=db.user, dbname=db.name, autocommit=True
        ) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (db.name,),
            )
        return
    import pymysql

    conn = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM information_schema.processlist "
                "WHERE db = %s AND id <> CONNECTION_ID()",
                (db.name,),
            )
            for (thread,) in cursor.fetchall():
                with contextlib.suppress(pymysql.err.OperationalError):
                    cursor.execute(f"KILL {int(thread)}")
    finally:
        conn.close()


def assert_unavailable(status: int, headers: dict[str, str], body: bytes, *, unsafe: bool) -> None:
    assert status == 503, body[:400]
    assert headers["retry-after"] == "1"
    assert headers["content-type"].startswith("application/problem+json")
    problem = json.loads(body)
    assert problem["status"] == 503 and problem["code"] == "unavailable"
    assert ("unknown" in problem["detail"]) is unsafe
    assert "etag" not in headers


def survive_a_restart(send: Send, db: Database, url: str) -> None:
    """Create, kill the connections, read (503, then 200), kill again, write (503): the write
    never reports success and the stored version tells what happened."""
    url = f"{url}-{uuid.uuid4().hex[:8]}"
    created = send("PUT", url, {"If-None-Match": "*"}, {"text": "one"})
    assert created[0] == 201, created
    terminate_connections(db)
    assert_unavailable(*send("GET", url, {}, None), unsafe=False)
    again = send("GET", url, {}, None)
    assert again[0] == 200 and again[1]["etag"] == '"v1"'
    terminate_connections(db)
    assert_unavailable(*send("PUT", url, {"If-Match": '"v1"'}, {"text": "two"}), unsafe=True)
    # The connection broke before the write was sent: nothing was applied, and the client
    # finds that out by reading, as the 503 says.
    after = send("GET", url, {}, None)
    assert after[0] == 200 and after[1]["etag"] == '"v1"'
    assert send("PUT", url, {"If-Match": '"v1"'}, {"text": "two"})[0] == 200


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A database of this module's own: its connections are ended, and no other test's are."""
    url = POSTGRES_URL if request.param == "postgresql" else MARIADB_URL
    with scratch_database(url, request.param) as found:
        create_tables(found.sqlalchemy_url())
        yield found


def flask_sender(app: Any) -> Send:
    client = app.test_client()

    def send(method: str, url: str, headers: dict[str, str], body: Any) -> Any:
        response = client.open(url, method=method, headers=headers, json=body)
        fields = {name.lower(): value for name, value in response.headers.items()}
        return response.status_code, fields, response.data

    return send


def asgi_sender(app: Any, portal: BlockingPortal) -> Send:
    client = AsgiClient(app, portal)

    def send(method: str, url: str, headers: dict[str, str], body: Any) -> Any:
        response = client.request(method, url, headers=headers, json=body)
        return response.status_code, dict(response.headers), response.content

    return send


def test_flask_answers_503_when_the_database_restarts(db: Database) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from ifmatch.stores.sqlalchemy import SQLAlchemyStore
    from integrations.example_flask import create_app
    from integrations.example_models import Document

    engine = create_engine(db.sqlalchemy_url(), pool_size=2, max_overflow=0)
    try:
        store: SQLAlchemyStore[str] = SQLAlchemyStore(Document, sessionmaker(engine))
        survive_a_restart(flask_sender(create_app(store, store.get)), db, "/documents/restart")
    finally:
        engine.dispose()


def test_flask_sqlalchemy_answers_503_when_the_database_restarts(db: Database) -> None:
    from integrations.example_flask import create_flask_sqlalchemy_app

    app = create_flask_sqlalchemy_app(db.sqlalchemy_url())
    try:
        survive_a_restart(flask_sender(app), db, "/documents/restart-fsa")
    finally:
        with app.app_context():
            app.extensions["sqlalchemy"].engine.dispose()


def test_fastapi_answers_503_when_the_database_restarts(
    db: Database, portal: BlockingPortal
) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore
    from integrations.example_fastapi import create_app
    from integrations.example_models import Document

    engine = create_async_engine(db.sqlalchemy_url(asynchronous=True), pool_size=2)
    try:
        store = AsyncSQLAlchemyStore(Document, async_sessionmaker(engine))
        survive_a_restart(asgi_sender(create_app(store), portal), db, "/documents/restart")
    finally:
        portal.call(engine.dispose)
        # The connection the server ended is only garbage now: let it go while its event loop
        # still runs (asyncpg's finaliser needs the loop).
        gc.collect()


def test_django_and_drf_answer_503_when_the_database_restarts(db: Database) -> None:
    from django.db import connections

    import djangoproject
    from djangoproject.harness import call, gunicorn

    djangoproject.setup()
    alias = f"unavailable-{db.name}"
    djangoproject.add_database(alias, db.django_settings())  # creates the tables
    connections[alias].close()
    with gunicorn(db.url, workers=1) as port:

        def send(method: str, url: str, headers: dict[str, str], body: Any) -> Any:
            return call(port, method, url, headers, body)

        created = send("POST", "/api/documents/", {}, {"title": "t", "text": "x"})
        assert created[0] == 201, created
        pk = json.loads(created[2])["id"]
        for url in (f"/api/documents/{pk}/", f"/plain/documents/{pk}/"):
            terminate_connections(db)
            assert_unavailable(*send("GET", url, {}, None), unsafe=False)
            current = send("GET", url, {}, None)
            assert current[0] == 200, current
            terminate_connections(db)
            body = {"title": "t2", "text": "y"}
            stale_etag = current[1]["etag"]
            assert_unavailable(*send("PUT", url, {"If-Match": stale_etag}, body), unsafe=True)
            assert send("GET", url, {}, None)[1]["etag"] == stale_etag


@contextlib.contextmanager
def nothing_listening() -> Iterator[int]:
    yield free_port()


def test_an_unreachable_database_is_503_not_500(portal: BlockingPortal) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from ifmatch.stores.redis import RedisStore
    from ifmatch.stores.sqlalchemy import SQLAlchemyStore
    from integrations import example_fastapi, example_flask
    from integrations.example_models import Document

    with nothing_listening() as port:
        engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")
        store: SQLAlchemyStore[str] = SQLAlchemyStore(Document, sessionmaker(engine))
        send = flask_sender(example_flask.create_app(store, store.get))
        assert_unavailable(*send("GET", "/documents/a", {}, None), unsafe=False)
        write = send("PUT", "/documents/a", {"If-None-Match": "*"}, {"text": "x"})
        assert_unavailable(*write, unsafe=True)

        import redis

        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
        redis_store = RedisStore(client, prefix="unreachable")
        send = asgi_sender(example_fastapi.create_app(redis_store), portal)
        assert_unavailable(*send("GET", "/documents/a", {}, None), unsafe=False)
        write = send("PUT", "/documents/a", {"If-None-Match": "*"}, {"text": "x"})
        assert_unavailable(*write, unsafe=True)


def test_the_handlers_own_lost_database_is_503_too(portal: BlockingPortal) -> None:
    """Not ifmatch's call but the handler's own fails, in a route ifmatch does not protect:
    install() still answers 503, not 500."""
    from fastapi import FastAPI
    from sqlalchemy import create_engine, text

    from ifmatch.integrations.fastapi import install

    app = install(FastAPI())

    @app.get("/reports/{report_id}")
    def report(report_id: str) -> dict[str, str]:
        engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"id": report_id}

    status, headers, body = asgi_sender(app, portal)("GET", "/reports/1", {}, None)
    assert_unavailable(status, headers, body, unsafe=False)
