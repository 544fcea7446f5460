"""``protect(validators=...)`` in Flask: a revalidating GET or HEAD whose copy is current is
answered 304 from the validators alone, before the loader (or the store's read) runs; every
other request is answered exactly as without it. Then ``SQLAlchemyStore.peek`` through
Flask-SQLAlchemy's session on PostgreSQL."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pytest
from flask import Flask, request
from hypothesis import given, settings
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session

from ifmatch.core.errors import ConfigurationError
from ifmatch.integrations.flask import IfMatch, current_condition
from ifmatch.stores import Expectation, Snapshot, StoreUnavailable
from ifmatch.stores.memory import MemoryStore
from ifmatch.stores.sqlalchemy import SQLAlchemyStore
from integrations.example_models import Document, create_tables
from integrations.revalidation import FIELDS, METHODS, dated
from services import Database

Found = tuple[Snapshot, dict[str, Any]]


class Calls:
    """Which reads each request made, in order."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.made: list[str] = []
        self.peek_fails: BaseException | None = None

    def peek(self, key: Hashable) -> Snapshot | None:
        self.made.append(f"peek {key}")
        if self.peek_fails is not None:
            raise self.peek_fails
        return self.store.read(key)

    def load(self, key: Hashable) -> Found | None:
        self.made.append(f"load {key}")
        return self.store.get(key)


def make_app(store: MemoryStore, calls: Calls, *, peek: bool = True) -> Flask:
    app = Flask(__name__)
    ifmatch = IfMatch(app, store=store)

    @app.route("/d/<doc_id>", methods=["GET", "PUT"])
    @ifmatch.protect(
        load=calls.load,
        snapshot=lambda found: found[0],
        answer_before_view=True,
        validators=calls.peek if peek else None,
    )
    def document(doc_id: str) -> dict[str, str]:
        condition = current_condition()
        if request.method == "PUT":
            condition.write({"text": "new"})
            return {"text": "new"}
        calls.made.append("view")
        return {"text": condition.instance[1]["text"]}

    return app


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    store.compare_and_set("d", Expectation(exists=False), {"text": "d"})
    return store


def test_a_current_copy_is_answered_from_the_validators_alone(store: MemoryStore) -> None:
    calls = Calls(store)
    client = make_app(store, calls).test_client()
    fresh = client.get("/d/d")
    assert fresh.status_code == 200 and calls.made == ["load d", "view"]  # no header: no peek
    calls.made.clear()
    current = client.get("/d/d", headers={"If-None-Match": '"v1"'})
    assert current.status_code == 304 and current.data == b""
    assert current.headers["ETag"] == fresh.headers["ETag"] == '"v1"'
    head = client.head("/d/d", headers={"If-None-Match": '"v0", "v1"'})
    assert head.status_code == 304 and head.headers["ETag"] == '"v1"'
    by_date = client.get("/d/d", headers={"If-Modified-Since": fresh.headers["Last-Modified"]})
    assert by_date.status_code == 304 and by_date.headers["ETag"] == '"v1"'
    assert calls.made == ["peek d"] * 3  # neither the loader nor the view ran


def test_every_other_answer_comes_from_the_loaded_row(store: MemoryStore) -> None:
    calls = Calls(store)
    client = make_app(store, calls).test_client()
    stale = client.get("/d/d", headers={"If-None-Match": '"v0"'})
    assert stale.status_code == 200 and stale.json == {"text": "d"}
    assert calls.made == ["peek d", "load d", "view"]
    calls.made.clear()
    failed = {"If-Match": '"v9"', "If-None-Match": '"v1"'}  # If-Match first: 412
    assert client.get("/d/d", headers=failed).status_code == 412
    malformed = client.get("/d/d", headers={"If-None-Match": '"v1", junk'})
    assert malformed.status_code == 400 and malformed.json["header"] == "If-None-Match"
    assert client.get("/d/missing", headers={"If-None-Match": '"v1"'}).status_code == 404
    assert calls.made == ["peek d", "load d"] * 2 + ["peek missing", "load missing"]
    calls.made.clear()
    assert client.put("/d/d", headers={"If-None-Match": '"v0"'}).status_code == 200
    assert client.put("/d/d", headers={"If-Match": '"v1"'}).status_code == 412  # now v2
    assert calls.made == ["load d", "load d"]  # writes never peek


def test_a_peek_that_cannot_take_the_key_and_an_unreachable_store(store: MemoryStore) -> None:
    calls = Calls(store)
    client = make_app(store, calls).test_client()
    calls.peek_fails = ValueError("not a key")
    assert client.get("/d/d", headers={"If-None-Match": '"v1"'}).status_code == 304
    assert calls.made == ["peek d", "load d"]
    calls.peek_fails = StoreUnavailable("connection refused")
    down = client.get("/d/d", headers={"If-None-Match": '"v1"'})
    assert down.status_code == 503 and down.headers["Retry-After"] == "1"
    assert down.json["code"] == "unavailable"


def test_switched_off_never_peeks(store: MemoryStore) -> None:
    calls = Calls(store)
    app = make_app(store, calls)
    app.config["IFMATCH_ENABLED"] = False
    answered = app.test_client().get("/d/d", headers={"If-None-Match": '"v1"'})
    assert answered.status_code == 200 and calls.made == ["load d", "view"]


def test_validators_need_answer_before_view(store: MemoryStore) -> None:
    calls = Calls(store)
    with pytest.raises(ConfigurationError, match="answer_before_view"):
        IfMatch(Flask(__name__), store=store).protect(validators=calls.peek)


@settings(max_examples=150, deadline=None)
@given(method=METHODS, fields=FIELDS)
def test_the_answer_is_the_same_with_and_without_validators(
    method: str, fields: dict[str, str]
) -> None:
    store = MemoryStore()
    store.compare_and_set("d", Expectation(exists=False), {"text": "d"})
    headers = dated(fields, store.read("d"))
    answers = []
    for peek in (True, False):
        client = make_app(store, Calls(store), peek=peek).test_client()
        response = client.open("/d/d", method=method, headers=headers)
        kept = ("ETag", "Last-Modified", "Content-Type")
        answers.append(
            (response.status_code, response.data, {k: response.headers.get(k) for k in kept})
        )
    assert answers[0] == answers[1]


@pytest.mark.services
def test_peek_through_flask_sqlalchemy_on_postgresql(postgres_db: Database) -> None:
    from flask_sqlalchemy import SQLAlchemy

    url = postgres_db.sqlalchemy_url()
    create_tables(url)
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db = SQLAlchemy()
    db.init_app(app)
    with app.app_context():
        store: SQLAlchemyStore[str] = SQLAlchemyStore(Document, db.session)
    ifmatch = IfMatch(app, store=store)
    loads: list[str] = []

    def load(key: str) -> Document | None:
        loads.append(key)
        return db.session.get(Document, key)

    @app.route("/documents/<doc_id>", methods=["GET", "PUT"])
    @ifmatch.protect(load=load, answer_before_view=True, validators=store.peek)
    def document(doc_id: str) -> dict[str, str]:
        condition = current_condition()
        if request.method == "PUT":
            condition.write({"text": request.get_json()["text"]})
            db.session.commit()
        return {"text": condition.instance.text}

    other = create_engine(url)
    with Session(other) as session:
        session.merge(Document(id="flask-peek", text="one"))
        session.commit()
    sent: list[tuple[str, Any]] = []

    def log(connection: Any, cursor: Any, statement: str, *rest: Any) -> None:
        sent.append(
            (statement.split()[0], connection.get_execution_options().get("isolation_level"))
        )

    client = app.test_client()
    with app.app_context():
        engine = db.engine
    tag = client.get("/documents/flask-peek").headers["ETag"]
    event.listen(engine, "before_cursor_execute", log)
    try:
        current = client.get("/documents/flask-peek", headers={"If-None-Match": tag})
        assert current.status_code == 304 and current.headers["ETag"] == tag
        assert sent == [("SELECT", "AUTOCOMMIT")]  # one statement, no transaction
        # A write committed elsewhere is seen by the next revalidation.
        with Session(other) as session:
            SQLAlchemyStore(Document, session).compare_and_set(
                "flask-peek", Expectation(exists=True), {"text": "two"}
            )
            session.commit()
        changed = client.get("/documents/flask-peek", headers={"If-None-Match": tag})
        assert changed.status_code == 200 and changed.json == {"text": "two"}
        assert changed.headers["ETag"] != tag
    finally:
        event.remove(engine, "before_cursor_execute", log)
        other.dispose()
        with app.app_context():
            db.engine.dispose()
    assert loads == ["flask-peek", "flask-peek"]
