"""ifmatch.integrations.flask through Flask's test client: the shared conformance table against
a view function and a MethodView, then configuration, error formats and the write paths."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from flask import Flask, abort, request
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

import services
from conformance import HTTP_CASES, Case
from ifmatch.core import PROBLEM_MEDIA_TYPE
from ifmatch.integrations.flask import IfMatch, current_condition
from ifmatch.stores import Expectation, Snapshot
from ifmatch.stores.memory import MemoryStore
from ifmatch.stores.sqlalchemy import SQLAlchemyStore
from integrations.example_flask import create_app, create_flask_sqlalchemy_app
from integrations.example_models import DATABASE_URL_ENV, Document, create_tables
from integrations.fast_writes import check_fast_writes, future_last_modified_is_flagged
from integrations.http_conformance import (
    Exchange,
    Headers,
    Runner,
    check_fuzzed,
    fuzzed_headers,
    with_date,
)
from integrations.lost_updates import race, serialization_failure
from services import Database, free_port, running_server, subprocess_env


def flask_sender(client: FlaskClient) -> Runner:
    def send(method: str, target: str, headers: Headers, body: bytes | None) -> Exchange:
        response = client.open(target, method=method, headers=headers, data=body)
        return Exchange(
            method,
            target,
            headers,
            body,
            response.status_code,
            with_date(list(response.headers.items())),
            response.get_data(),
        )

    return Runner(send)


@pytest.fixture
def app() -> Flask:
    return create_app()


@pytest.fixture
def runner(app: Flask) -> Iterator[Runner]:
    runner = flask_sender(app.test_client())
    yield runner
    runner.lint_all()


@pytest.mark.parametrize("case", HTTP_CASES, ids=str)
def test_conformance_view_function(runner: Runner, case: Case) -> None:
    runner.run(case)


@pytest.mark.parametrize("case", HTTP_CASES, ids=str)
def test_conformance_method_view(runner: Runner, case: Case) -> None:
    runner.base = "/views/documents/"
    runner.run(case)


# --- configuration, error formats, write paths ----------------------------------------------


def test_config_defaults_are_filled_in(app: Flask) -> None:
    assert app.config["IFMATCH_ENABLED"] is True
    assert app.config["IFMATCH_ERROR_FORMAT"] == "problem"


def test_switched_off_sends_no_etag_and_requires_nothing(app: Flask, runner: Runner) -> None:
    app.config["IFMATCH_ENABLED"] = False
    target = "/documents/off"
    created = runner.request("PUT", target, [], {"text": "a"})
    assert created.status == 201 and created.header("ETag") is None
    updated = runner.request("PUT", target, [], {"text": "b"})
    assert updated.status == 200 and updated.header("ETag") is None
    assert runner.request("GET", target).json()["text"] == "b"


def test_jsonapi_error_documents(app: Flask, runner: Runner) -> None:
    app.config["IFMATCH_ERROR_FORMAT"] = "jsonapi"
    runner.create("/documents/j")
    refused = runner.request("PUT", "/documents/j", [("If-Match", '"v9"')], {"text": "x"})
    assert refused.status == 412
    assert refused.header("Content-Type") == "application/vnd.api+json"
    [error] = refused.json()["errors"]  # type: ignore[misc]
    assert error["status"] == "412" and error["source"] == {"header": "If-Match"}
    assert error["meta"]["current_etag"] == '"v1"'


def test_problem_type_base_and_instance(app: Flask, runner: Runner) -> None:
    app.config["IFMATCH_PROBLEM_TYPE_BASE"] = "https://errors.example/"
    runner.create("/documents/t")
    refused = runner.request("DELETE", "/documents/t")
    assert refused.status == 428
    body = refused.json()
    assert body["type"] == "https://errors.example/precondition-required"
    assert body["instance"] == "/documents/t" and body["current_etag"] == '"v1"'


class RacingStore(MemoryStore):
    """Another writer commits between this request's check and its write."""

    race = False

    def read(self, key: Hashable) -> Snapshot | None:
        snapshot = super().read(key)
        if self.race and snapshot is not None:
            super().compare_and_set(key, Expectation(), {"text": "the other writer's"})
        return snapshot


def test_lost_race_is_412_and_keeps_the_winner() -> None:
    store = RacingStore()
    runner = flask_sender(create_app(store, store.get).test_client())
    created = runner.create("/documents/race")
    store.race = True
    lost = runner.request(
        "PUT", "/documents/race", [("If-Match", created.header("ETag") or "")], {"text": "mine"}
    )
    store.race = False
    assert lost.status == 412
    assert lost.json()["code"] == "etag-mismatch"
    assert lost.header("ETag") == lost.json()["current_etag"] == '"v2"'
    assert runner.request("GET", "/documents/race").json()["text"] == "the other writer's"
    runner.lint_all()


def test_body_version_scheme_409(runner: Runner) -> None:
    runner.create("/versioned/b")
    runner.request("PUT", "/versioned/b", [], {"text": "second", "version": 1})
    conflict = runner.request("PUT", "/versioned/b", [], {"text": "stale", "version": 1})
    assert conflict.status == 409
    assert conflict.json()["current_version"] == 2 and conflict.header("ETag") == '"v2"'
    ok = runner.request("PUT", "/versioned/b", [], {"text": "fresh", "version": 2})
    assert ok.status == 200 and ok.header("ETag") == '"v3"'


def test_warn_only_logs_instead_of_428(
    app: Flask, runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["IFMATCH_WARN_ONLY"] = True
    runner.create("/documents/w")
    with caplog.at_level(logging.WARNING, logger="ifmatch.flask"):
        updated = runner.request("PUT", "/documents/w", [], {"text": "unguarded"})
    assert updated.status == 200 and updated.header("ETag") == '"v2"'
    assert "precondition-required" in caplog.text


def test_accept_weak_echo(app: Flask, runner: Runner) -> None:
    runner.create("/documents/weak")
    refused = runner.request("PUT", "/documents/weak", [("If-Match", 'W/"v1"')], {"text": "x"})
    assert refused.status == 412 and refused.json()["code"] == "weak-etag"
    app.config["IFMATCH_ACCEPT_WEAK_ECHO"] = True
    accepted = runner.request("PUT", "/documents/weak", [("If-Match", 'W/"v1"')], {"text": "x"})
    assert accepted.status == 200 and accepted.header("ETag") == '"v2"'


def test_accept_bare_version_token(app: Flask, runner: Runner) -> None:
    runner.create("/documents/bare")
    bare = [("If-Match", "v1")]  # what halchemy sends for a list item's _etag
    accepted = runner.request("PUT", "/documents/bare", bare, {"text": "x"})
    assert accepted.status == 200 and accepted.header("ETag") == '"v2"'
    app.config["IFMATCH_ACCEPT_BARE_VERSION_TOKEN"] = False
    refused = runner.request("PUT", "/documents/bare", [("If-Match", "v2")], {"text": "y"})
    assert refused.status == 400 and refused.json()["header"] == "If-Match"
    assert refused.json()["detail"].endswith('the entity-tag v2 is not quoted: write it "v2"')
    assert runner.current_etag("/documents/bare") == '"v2"'
    for exchange in (accepted, refused):
        exchange.lint_request = False  # the unquoted If-Match is what is tested


def test_missing_resource_is_404_before_preconditions(runner: Runner) -> None:
    for method, headers in [("GET", [("If-None-Match", "*")]), ("DELETE", [("If-Match", "*")])]:
        missing = runner.request(method, "/documents/nothing-here", headers)
        assert missing.status == 404 and missing.json()["code"] == "not-found"


def test_authorize_runs_before_anything_is_revealed() -> None:
    app = Flask(__name__)
    store = MemoryStore()
    store.compare_and_set("secret", Expectation(exists=False), {"text": "x"})
    ifmatch = IfMatch(app, store=store)

    def deny(key: Hashable) -> None:
        abort(403)

    @app.route("/private/<doc_id>", methods=["GET", "PUT"])
    @ifmatch.protect(authorize=deny)
    def private(doc_id: str) -> str:
        raise AssertionError("never reached")

    client = app.test_client()
    for headers in ({"If-None-Match": '"v1"'}, {"If-Match": '"stale"'}, {}):
        assert client.get("/private/secret", headers=headers).status_code == 403
        assert client.get("/private/absent", headers=headers).status_code == 403
        assert client.put("/private/secret", headers=headers).status_code == 403


def test_load_hands_the_view_its_object_and_takes_validators_from_it() -> None:
    app = Flask(__name__)
    store = MemoryStore()
    store.compare_and_set("d", Expectation(exists=False), {"text": "x"})
    ifmatch = IfMatch(app, store=store)
    loads: list[Hashable] = []

    def load(key: Hashable) -> object:
        loads.append(key)
        return store.get(key)

    @app.route("/d/<doc_id>", methods=["GET", "PUT"])
    @ifmatch.protect(load=load, snapshot=lambda found: found[0])
    def view(doc_id: str) -> dict[str, str]:
        condition = current_condition()
        if request.method == "PUT":
            condition.write({"text": "y"})
        return {"text": condition.instance[1]["text"]}

    client = app.test_client()
    first = client.get("/d/d")
    assert first.headers["ETag"] == '"v1"' and first.json == {"text": "x"}
    assert client.get("/d/d", headers={"If-None-Match": '"v1"'}).status_code == 304
    assert client.put("/d/d", headers={"If-Match": '"v1"'}).headers["ETag"] == '"v2"'
    assert client.get("/d/missing").status_code == 404
    assert loads == ["d", "d", "d", "missing"]
    with pytest.raises(TypeError, match="snapshot"):
        ifmatch.protect(load=load)


def test_protect_needs_a_store() -> None:
    with pytest.raises(TypeError, match="needs a store"):
        IfMatch().protect()


def test_current_condition_outside_a_protected_view(app: Flask) -> None:
    with app.test_request_context("/"), pytest.raises(RuntimeError):
        current_condition()


def test_fast_writes_never_send_a_last_modified_later_than_date() -> None:
    assert future_last_modified_is_flagged()
    store = MemoryStore()
    runner = flask_sender(create_app(store, store.get).test_client())
    runner.create("/documents/fast")
    check_fast_writes(runner, "/documents/fast", lambda: _stored(store, "fast"))


def _stored(store: MemoryStore, key: str) -> datetime | None:
    snapshot = store.read(key)
    return None if snapshot is None else snapshot.last_modified


def test_a_conflict_after_the_view_is_412_and_other_errors_keep_their_500_handler() -> None:
    app = Flask(__name__)

    @app.errorhandler(500)
    def ours(error: Exception) -> tuple[str, int]:
        return "the app's own 500 page", 500

    store = MemoryStore()
    store.compare_and_set("d", Expectation(exists=False), {"text": "x"})
    ifmatch = IfMatch(app, store=store)  # chains to the handler registered before it

    @app.route("/d/<doc_id>", methods=["PUT"])
    @ifmatch.protect()
    def view(doc_id: str) -> dict[str, str]:
        current_condition().write({"text": "y"})
        return {"text": "y"}

    @app.route("/unprotected", methods=["PUT"])
    def unprotected() -> str:
        return "ok"

    @app.after_request
    def commit(response: Any) -> Any:
        if request.args.get("fail") == "conflict":
            raise serialization_failure()  # as db.session.commit() raises it
        if request.args.get("fail") == "other":
            raise RuntimeError("the disk is full")
        return response

    client = app.test_client()
    refused = client.put("/d/d?fail=conflict", headers={"If-Match": '"v1"'})
    assert refused.status_code == 412 and refused.json["code"] == "write-conflict"  # type: ignore[index]
    other = client.put("/d/d?fail=other", headers={"If-Match": '"v2"'})
    assert other.status_code == 500 and other.get_data(as_text=True) == "the app's own 500 page"
    # Only protected requests are answered 412: anything else stays the app's 500.
    assert client.put("/unprotected?fail=conflict").status_code == 500


def test_304_has_no_body_and_head_gets_the_etag(runner: Runner) -> None:
    created = runner.create("/documents/h")
    head = runner.request("HEAD", "/documents/h")
    assert head.status == 200 and head.header("ETag") == created.header("ETag")
    cached = runner.request("GET", "/documents/h", [("If-None-Match", 'W/"v1"')])
    assert cached.status == 304 and cached.body == b"" and cached.header("Content-Type") is None


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE"]), headers=fuzzed_headers())
def test_fuzzed_headers_never_500_never_unguarded(
    fuzz_runner: Runner, method: str, headers: Headers
) -> None:
    target = "/documents/fuzz"
    if fuzz_runner.current_etag(target) is None:
        fuzz_runner.create(target)
        fuzz_runner.request("PUT", target, [("If-Match", "*")], {"text": "v2"})
    check_fuzzed(fuzz_runner, target, method, headers)


@pytest.fixture(scope="module")
def fuzz_runner() -> Iterator[Runner]:
    runner = flask_sender(create_app().test_client())
    yield runner
    runner.lint_all()


# --- on PostgreSQL: Flask-SQLAlchemy in process, then gunicorn workers ----------------------


@pytest.fixture(scope="module")
def pg_url(postgres_db: Database) -> str:
    url = postgres_db.sqlalchemy_url()
    create_tables(url)
    return url


@pytest.mark.services
@pytest.mark.parametrize("case", HTTP_CASES, ids=str)
def test_conformance_flask_sqlalchemy(pg_flask_runner: Runner, case: Case) -> None:
    pg_flask_runner.run(case)


@pytest.fixture(scope="module")
def pg_flask_runner(pg_url: str) -> Iterator[Runner]:
    app = create_flask_sqlalchemy_app(pg_url)
    runner = flask_sender(app.test_client())
    yield runner
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()
    runner.lint_all()


def serializable_app(url: str, dsn: str, *, commit_in_view: bool) -> Flask:
    """Flask-SQLAlchemy at SERIALIZABLE whose writes fail at COMMIT: the request's transaction
    reads row B and writes row A; meanwhile T2 reads A (before the write) and writes B, and
    commits first, so PostgreSQL refuses the request's COMMIT (SQLSTATE 40001)."""
    import psycopg
    from flask_sqlalchemy import SQLAlchemy

    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"isolation_level": "SERIALIZABLE"}
    db = SQLAlchemy()
    db.init_app(app)
    with app.app_context():
        store: SQLAlchemyStore[str] = SQLAlchemyStore(Document, db.session)
    ifmatch = IfMatch(app, store=store)

    def interfere(a: str, b: str) -> None:
        with psycopg.connect(dsn) as other:
            other.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
            other.execute("SELECT text FROM ifmatch_example_documents WHERE id = %s", [a])
            other.execute("UPDATE ifmatch_example_documents SET text = 'T2' WHERE id = %s", [b])
            other.commit()

    @app.route("/documents/<doc_id>", methods=["PUT"])
    @ifmatch.protect(load=lambda key: db.session.get(Document, key))  # T1 reads A
    def document(doc_id: str) -> dict[str, str]:
        other = request.args["other"]
        db.session.get(Document, other)  # T1 reads B
        current_condition().write({"text": request.get_json()["text"]})  # T1 writes A
        interfere(doc_id, other)
        if commit_in_view:
            db.session.commit()
        return {"text": "saved"}

    if not commit_in_view:

        @app.after_request
        def commit(response: Any) -> Any:
            if response.status_code < 400:
                db.session.commit()
            return response

    return app


@pytest.mark.services
@pytest.mark.parametrize("commit_in_view", [True, False], ids=["in-view", "after-request"])
def test_serialization_failure_at_commit_is_412_not_500(
    pg_url: str, postgres_db: Database, commit_in_view: bool
) -> None:
    import psycopg

    dsn = psycopg.conninfo.make_conninfo(
        host=postgres_db.host,
        port=postgres_db.port,
        user=postgres_db.user,
        password=postgres_db.password or None,
        dbname=postgres_db.name,
    )
    engine = create_engine(pg_url)
    a, b = (f"serial-{name}-{commit_in_view}" for name in ("a", "b"))
    with sessionmaker(engine)() as session:
        session.add_all([Document(id=a, text="before"), Document(id=b, text="")])
        session.commit()
    app = serializable_app(pg_url, dsn, commit_in_view=commit_in_view)
    response = app.test_client().put(
        f"/documents/{a}?other={b}", json={"text": "mine"}, headers={"If-Match": '"v1"'}
    )
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()
    assert response.status_code == 412, response.get_data()
    assert response.headers["Content-Type"] == PROBLEM_MEDIA_TYPE
    assert response.json is not None and response.json["code"] == "write-conflict"
    with sessionmaker(engine)() as session:
        stored = session.get(Document, a)
        assert stored is not None and (stored.version, stored.text) == (1, "before")
        assert session.get(Document, b).text == "T2"  # type: ignore[union-attr]
    engine.dispose()


@pytest.mark.slow
@pytest.mark.services
def test_no_lost_updates_through_gunicorn_workers(pg_url: str) -> None:
    port = free_port()
    argv = [
        services.PYTHON,
        "-m",
        "gunicorn",
        "--workers",
        "4",
        "--bind",
        f"127.0.0.1:{port}",
        "integrations.example_flask:create_app()",
    ]
    base = f"http://127.0.0.1:{port}"
    with running_server(argv, port, env=subprocess_env(**{DATABASE_URL_ENV: pg_url})):
        for path in ("/documents/race-ifmatch", "/documents/race-naive"):
            created = httpx.put(
                base + path, json={"text": ""}, headers={"If-None-Match": "*"}, timeout=60
            )
            assert created.status_code == 201, created.text
        tally, lost = race(base, "/documents/race-ifmatch", writers=12, tokens=5)
        naive_tally, naive_lost = race(base, "/naive/race-naive", writers=12, tokens=5)
    print(
        f"ifmatch: {len(tally.acknowledged)} acknowledged, {tally.conflicts} 412s, {len(lost)} lost"
    )
    print(f"naive: {len(naive_tally.acknowledged)} acknowledged, {len(naive_lost)} lost")
    assert not tally.errors and len(tally.acknowledged) == 60
    assert lost == [], f"{len(lost)} acknowledged writes lost"
    assert tally.conflicts > 0  # the writers did collide
    # The same harness catches the check-then-write route losing acknowledged writes.
    assert not naive_tally.errors
    assert naive_lost, "the naive route lost nothing: the harness did not create contention"
