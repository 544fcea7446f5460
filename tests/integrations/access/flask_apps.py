"""Flask apps over one in-memory store, each keeping its access decision in a different hook, as
users write them from docs/flask.md. Authentication is one header (``X-User``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

from flask import Flask, abort, jsonify, request

from ifmatch.integrations.flask import IfMatch, current_condition
from ifmatch.stores.memory import MemoryStore
from integrations.access.cases import USER_HEADER

HOOKS = (
    "before-request",
    "authorize-aborts",
    "authorize-returns-false",
    "authorize-answered-early",
    "view-aborts",
    "decorator-below-protect",
    "decorator-above-protect",
)


def owner_of(store: MemoryStore, key: Hashable) -> str | None:
    found = store.get(key)
    return None if found is None else str(found[1]["owner"])


def require_owner(store: MemoryStore, key: Hashable) -> None:
    """401 without a user, 403 for a user who does not own the document."""
    user = request.headers.get(USER_HEADER)
    if not user:
        abort(401)
    if user != owner_of(store, key):
        abort(403)


def create_app(hook: str, store: MemoryStore) -> Flask:
    app = Flask(f"access-{hook}")
    ifmatch = IfMatch(app, store=store)

    if hook == "before-request":

        @app.before_request
        def authenticate() -> None:
            require_owner(store, int((request.view_args or {})["doc_id"]))

    def authorize(key: Hashable) -> object:
        if hook == "authorize-returns-false":
            user = request.headers.get(USER_HEADER)
            return user is not None and user == owner_of(store, key)
        require_owner(store, key)
        return None

    def owner_required(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def checked(doc_id: int) -> Any:
            require_owner(store, doc_id)
            return view(doc_id=doc_id)

        return checked

    uses_authorize = hook.startswith("authorize")
    protect = ifmatch.protect(
        authorize=authorize if uses_authorize else None,
        answer_before_view=hook == "authorize-answered-early",
    )

    def document(doc_id: int) -> Any:
        condition = current_condition()
        if hook == "view-aborts":
            require_owner(store, doc_id)
        if request.method == "DELETE":
            condition.delete()
            return "", 204
        if request.method in {"PUT", "PATCH"}:
            data = request.get_json()
            condition.write({"title": data["title"], "text": data["text"]})
        found = store.get(doc_id)
        assert found is not None
        return jsonify({"id": doc_id, "title": found[1]["title"], "text": found[1]["text"]})

    if hook == "decorator-below-protect":
        view = protect(owner_required(document))
    elif hook == "decorator-above-protect":
        view = owner_required(protect(document))
    else:
        view = protect(document)
    app.add_url_rule(
        "/documents/<int:doc_id>",
        "document",
        view,
        methods=["GET", "PUT", "PATCH", "DELETE"],
    )
    return app
