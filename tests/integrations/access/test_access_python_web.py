"""The access-order matrix for Flask, FastAPI and Starlette: every place an app may decide
access × {anonymous, another user} × every conditional request → only a refusal that reveals
nothing, and nothing written; the owner gets the precondition answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal

from ifmatch.stores import Expectation
from ifmatch.stores.memory import MemoryStore
from integrations.access import asgi_apps, flask_apps
from integrations.access.cases import (
    INTRUDERS,
    ITEM_KINDS,
    OWNER,
    Kind,
    assert_refused,
    user_headers,
)
from integrations.http_conformance import AsgiClient

TITLE = "PRIVATE-TITLE-5d1e"
SECRETS = (TITLE, 'v1\\"', '"v1"')
DOC = 7

Send = Callable[[str, str, dict[str, str], Any], tuple[int, dict[str, str], bytes]]


def seeded() -> MemoryStore:
    store = MemoryStore()
    values = {"owner": OWNER, "title": TITLE, "text": "private text"}
    store.compare_and_set(DOC, Expectation(exists=False), values)
    return store


def unchanged(store: MemoryStore) -> None:
    found = store.get(DOC)
    assert found is not None and found[0].version == 1 and found[1]["title"] == TITLE


def asgi_sender(app: Any, portal: BlockingPortal) -> Send:
    client = AsgiClient(app, portal)

    def send(method: str, path: str, headers: dict[str, str], body: Any) -> Any:
        response = client.request(method, path, headers=headers, json=body)
        return response.status_code, dict(response.headers), response.content

    return send


def flask_sender(hook: str, store: MemoryStore) -> Send:
    client = flask_apps.create_app(hook, store).test_client()

    def send(method: str, path: str, headers: dict[str, str], body: Any) -> Any:
        response = client.open(path, method=method, headers=headers, json=body)
        headers_out = {name.lower(): value for name, value in response.headers.items()}
        return response.status_code, headers_out, response.data

    return send


APPS = [
    *(("flask", hook) for hook in flask_apps.HOOKS),
    *(("fastapi", hook) for hook in asgi_apps.FASTAPI_HOOKS),
    ("starlette", "endpoint-body"),
]


@pytest.fixture(params=APPS, ids=["-".join(app) for app in APPS])
def app(request: pytest.FixtureRequest, portal: BlockingPortal) -> tuple[MemoryStore, Send]:
    framework, hook = request.param
    store = seeded()
    if framework == "flask":
        return store, flask_sender(hook, store)
    if framework == "fastapi":
        return store, asgi_sender(asgi_apps.create_fastapi(hook, store), portal)
    return store, asgi_sender(asgi_apps.create_starlette(store), portal)


@pytest.mark.parametrize("user", INTRUDERS, ids=["anonymous", "other-user"])
@pytest.mark.parametrize("kind", ITEM_KINDS, ids=lambda kind: kind.name)
def test_refuses_before_any_precondition(
    app: tuple[MemoryStore, Send], kind: Kind, user: str | None
) -> None:
    store, send = app
    headers = {**user_headers(user), **kind.headers_for('"v1"')}
    status, response_headers, body = send(kind.method, f"/documents/{DOC}", headers, kind.body)
    assert_refused(status, response_headers, body, secrets=SECRETS)
    unchanged(store)


@pytest.mark.parametrize("kind", ITEM_KINDS, ids=lambda kind: kind.name)
def test_owner_gets_the_precondition_answers(app: tuple[MemoryStore, Send], kind: Kind) -> None:
    store, send = app
    headers = {**user_headers(OWNER), **kind.headers_for('"v1"')}
    status, response_headers, body = send(kind.method, f"/documents/{DOC}", headers, kind.body)
    assert status == kind.owner_status, body[:300]
    if status == 304:
        assert response_headers["etag"] == '"v1"' and body == b""
    unchanged(store)


def test_owner_writes_with_the_current_tag(app: tuple[MemoryStore, Send]) -> None:
    store, send = app
    headers = {**user_headers(OWNER), "If-Match": '"v1"'}
    status, response_headers, _ = send(
        "PUT", f"/documents/{DOC}", headers, {"title": "new", "text": "x"}
    )
    assert status == 200 and response_headers["etag"] == '"v2"'
    found = store.get(DOC)
    assert found is not None and found[1]["title"] == "new"
