"""The Flask example app the tests drive: one document resource served twice, by a decorated
view function and by a ``MethodView``, both through the same compare-and-set store."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from flask.views import MethodView

from ifmatch.integrations.flask import IfMatch, current_condition
from ifmatch.stores import Snapshot, VersionStore
from ifmatch.stores.memory import MemoryStore

Loader = Callable[[Hashable], tuple[Snapshot, dict[str, Any]] | None]


def _document(key: Hashable, load: Loader) -> ResponseReturnValue:
    condition = current_condition()
    method = request.method
    if method in {"GET", "HEAD"}:
        found = load(key)
        if found is None:
            return jsonify(title="Not Found"), 404
        condition.serve(found[0])
        return jsonify(id=key, **found[1])
    if method == "DELETE":
        condition.delete()
        return "", 204
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        return jsonify(title="Bad Request", detail="send {'text': ...}"), 400
    version = payload.get("version")
    snapshot = condition.write(
        {"text": payload["text"]}, version=version if isinstance(version, int) else None
    )
    return jsonify(id=key, text=payload["text"], version=snapshot.version), (
        201 if condition.snapshot is None else 200
    )


def create_app(store: VersionStore[Any] | None = None, load: Loader | None = None) -> Flask:
    """The example app over ``store`` (an in-memory one by default)."""
    if store is None:
        memory = MemoryStore()
        store, load = memory, memory.get
    assert load is not None
    app = Flask(__name__)
    ifmatch = IfMatch(app, store=store)
    methods = ["GET", "PUT", "PATCH", "DELETE"]

    @app.route("/documents/<doc_id>", methods=methods)
    @ifmatch.protect(create=True)
    def document(doc_id: str) -> ResponseReturnValue:
        return _document(doc_id, load)

    @app.route("/versioned/<doc_id>", methods=methods)
    @ifmatch.protect(create=True, require=())
    def versioned(doc_id: str) -> ResponseReturnValue:
        return _document(doc_id, load)

    @ifmatch.protect(create=True)
    class DocumentView(MethodView):
        def get(self, doc_id: str) -> ResponseReturnValue:
            return _document(doc_id, load)

        put = patch = delete = get

    app.add_url_rule("/views/documents/<doc_id>", view_func=DocumentView.as_view("documents"))
    return app
