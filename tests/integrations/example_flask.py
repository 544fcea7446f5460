"""The Flask example app the tests drive: one document resource served by a decorated view
function and by a ``MethodView`` through the same compare-and-set store, a body-version (409)
route, and a deliberately naive check-then-write route for the lost-update test to catch.

With ``IFMATCH_EXAMPLE_DATABASE_URL`` set (gunicorn), it runs on the SQLAlchemy store; and
``create_flask_sqlalchemy_app`` runs the same views through Flask-SQLAlchemy's ``db.session``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Hashable
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from flask.views import MethodView
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from ifmatch.integrations.flask import IfMatch, current_condition
from ifmatch.stores import Expectation, Snapshot, VersionStore
from ifmatch.stores.memory import MemoryStore
from ifmatch.stores.sqlalchemy import SQLAlchemyStore
from integrations.example_models import DATABASE_URL_ENV, Document

Loader = Callable[[Hashable], tuple[Snapshot, dict[str, Any]] | None]


def _document(key: Hashable, load: Loader) -> ResponseReturnValue:
    condition = current_condition()
    method = request.method
    if method in {"GET", "HEAD"}:
        found = load(key)
        if found is None:
            return jsonify(title="Not Found"), 404
        condition.serve(found[0])
        return jsonify(id=key, text=found[1]["text"])
    if method == "DELETE":
        condition.delete()
        return "", 204
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        return jsonify(title="Bad Request", detail="send {'text': ...}"), 400
    # Whatever the client sent as its version: write() refuses one that is not a non-negative
    # integer with 400, rather than the view guessing.
    snapshot = condition.write({"text": payload["text"]}, version=payload.get("version"))
    return jsonify(id=key, text=payload["text"], version=snapshot.version), (
        201 if condition.snapshot is None else 200
    )


def create_app(store: VersionStore[Any] | None = None, load: Loader | None = None) -> Flask:
    """The example app over ``store`` (in memory, or the SQLAlchemy store on the database
    named by ``IFMATCH_EXAMPLE_DATABASE_URL``)."""
    if store is None:
        url = os.environ.get(DATABASE_URL_ENV)
        if url:
            engine = create_engine(url, pool_size=2, max_overflow=0)
            sql: SQLAlchemyStore[str] = SQLAlchemyStore(Document, sessionmaker(engine))
            store, load = sql, sql.get
        else:
            memory = MemoryStore()
            store, load = memory, memory.get
    assert load is not None
    app = Flask(__name__)
    ifmatch = IfMatch(app, store=store)
    _add_routes(app, ifmatch, store, load)
    return app


def _add_routes(
    app: Flask, ifmatch: IfMatch, store: VersionStore[Any], fetch: Loader, **protect: Any
) -> None:
    """The routes; ``protect`` holds extra ``ifmatch.protect()`` arguments."""
    methods = ["GET", "PUT", "PATCH", "DELETE"]

    @app.route("/documents/<doc_id>", methods=methods)
    @ifmatch.protect(create=True, **protect)
    def document(doc_id: str) -> ResponseReturnValue:
        return _document(doc_id, fetch)

    @app.route("/versioned/<doc_id>", methods=methods)
    @ifmatch.protect(create=True, require=(), **protect)
    def versioned(doc_id: str) -> ResponseReturnValue:
        return _document(doc_id, fetch)

    @ifmatch.protect(create=True, **protect)
    class DocumentView(MethodView):
        def get(self, doc_id: str) -> ResponseReturnValue:
            return _document(doc_id, fetch)

        put = patch = delete = get

    app.add_url_rule("/views/documents/<doc_id>", view_func=DocumentView.as_view("documents"))

    @app.route("/naive/<doc_id>", methods=["GET", "PUT"])
    def naive(doc_id: str) -> ResponseReturnValue:
        # The check-then-write every popular helper does: compare in Python, then write
        # unconditionally. Kept only so the lost-update test shows it can fail.
        found = fetch(doc_id)
        assert found is not None
        etag = str(found[0].etag())
        if request.method == "GET":
            return jsonify(text=found[1]["text"]), {"ETag": etag}
        if request.headers.get("If-Match") != etag:
            return jsonify(title="Precondition Failed"), 412
        time.sleep(0.005)  # the view's own work between the check and the write
        payload = request.get_json()
        result = store.compare_and_set(doc_id, Expectation(), {"text": payload["text"]})
        assert result.snapshot is not None
        return jsonify(text=payload["text"]), {"ETag": str(result.snapshot.etag())}


def create_flask_sqlalchemy_app(url: str) -> Flask:
    """The same views over Flask-SQLAlchemy: the store runs in ``db.session``'s transaction
    and each write is committed by the view, as Flask-SQLAlchemy apps do."""
    from flask_sqlalchemy import SQLAlchemy

    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db = SQLAlchemy()
    db.init_app(app)
    with app.app_context():
        store: SQLAlchemyStore[str] = SQLAlchemyStore(Document, db.session)
    ifmatch = IfMatch(app, store=store)

    @app.after_request
    def commit(response: Any) -> Any:
        if response.status_code < 400:
            db.session.commit()  # before the response (and its new ETag) leaves
        return response

    # The decorator loads the row itself: its validators come from the loaded instance.
    _add_routes(app, ifmatch, store, store.get, load=lambda key: db.session.get(Document, key))
    return app
