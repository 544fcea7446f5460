"""Client suite, error bodies: after a 412 / 409, nothing but the user's change is ever written.

Every body a refused write can come with (``error_bodies.FORMATS``: what ifmatch emits, as
RFC 9457 problems or JSON:API error documents, with and without the current representation,
and foreign ones) × every strategy that writes (``update`` with PUT, merge patch and JSON
Patch; ``save`` raising, merging, with a resolver, overwriting) × 412 and 409 × the sync and
async clients. The server stores what a PUT encloses verbatim, so an error body taken for the
document would show up in the store; the tests assert on what the server received and stored.

Only a problem document carrying the representation (``current`` object, strong
``current_etag``, a matching ``ETag`` header if any) may be the base of the retry; everything
else must lead to a fresh GET.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from client.error_bodies import FORMATS, INITIAL, PATH, DocumentServer, ErrorFormat, Refusal
from ifmatch.client import (
    AsyncClient,
    Backoff,
    Client,
    ConflictError,
    Document,
    IfMatchTransport,
    PreconditionFailed,
    Response,
    conflict_from_response,
    json_equal,
)
from ifmatch.client.errors import current_representation
from ifmatch.core import ETag

BASE = "http://api.test"
URL = BASE + PATH
NO_WAIT = Backoff(base=0.0, cap=0.0)

THEIRS: dict[str, Any] = {**INITIAL, "body": "theirs"}
MINE: dict[str, Any] = {**INITIAL, "title": "Mine", "tags": ["a", "mine"]}
#: the other writer's edit and the user's change, and nothing else
EXPECTED: dict[str, Any] = {"title": "Mine", "body": "theirs", "tags": ["a", "mine"]}


def my_change(document: Any) -> None:
    """The user's ``update`` function: a new title and one more tag."""
    document["title"] = "Mine"
    document.setdefault("tags", []).append("mine")


def changed_fields_win(base: Any, mine: Any, theirs: Any) -> Any:
    """A resolver: the members I changed, on top of the server's document."""
    merged = {key: value for key, value in theirs.items() if key in mine or key not in base}
    merged.update({k: v for k, v in mine.items() if not json_equal(base.get(k), v)})
    return merged


def their_edit(server: DocumentServer) -> None:
    server.edit(lambda document: {**document, "body": "theirs"})


def their_delete(server: DocumentServer) -> None:
    server.delete()


@dataclass(frozen=True)
class Strategy:
    name: str
    call: str  # "update" or "save"
    options: dict[str, Any] = field(default_factory=dict)
    resolves: bool = True
    other_writer: Callable[[DocumentServer], None] = their_edit

    def __str__(self) -> str:
        return self.name


STRATEGIES = (
    Strategy("update-put", "update"),
    Strategy("update-merge-patch", "update", {"patch": "merge"}),
    Strategy("update-json-patch", "update", {"patch": "json"}),
    Strategy("save-merge", "save", {"on_conflict": "merge"}),
    Strategy("save-merge-patch", "save", {"on_conflict": "merge", "patch": "merge"}),
    Strategy("save-resolver", "save", {"on_conflict": changed_fields_win}),
    Strategy("save-raise", "save", {"on_conflict": "raise"}, resolves=False),
    Strategy(
        "save-overwrite-deleted",
        "save",
        {"on_conflict": "overwrite"},
        resolves=False,
        other_writer=their_delete,
    ),
)


def run_sync(strategy: Strategy, server: DocumentServer) -> Document:
    transport = httpx.MockTransport(server)
    with Client(BASE, transport=transport, backoff=NO_WAIT, rng=random.Random(0)) as client:
        if strategy.call == "update":
            return client.update(PATH, my_change, **strategy.options)
        read = client.read(PATH)
        return client.save(read, MINE, **strategy.options)


async def run_async(strategy: Strategy, server: DocumentServer) -> Document:
    transport = httpx.MockTransport(server)
    async with AsyncClient(
        BASE, transport=transport, backoff=NO_WAIT, rng=random.Random(0)
    ) as client:
        if strategy.call == "update":
            return await client.update(PATH, my_change, **strategy.options)
        read = await client.read(PATH)
        return await client.save(read, MINE, **strategy.options)


DRIVERS: dict[str, Callable[[Strategy, DocumentServer], Document]] = {
    "sync": run_sync,
    "async": lambda strategy, server: asyncio.run(run_async(strategy, server)),
}


def writes(server: DocumentServer) -> list[httpx.Request]:
    return [request for request in server.requests if request.method != "GET"]


@pytest.mark.parametrize("driver", sorted(DRIVERS))
@pytest.mark.parametrize("status", [412, 409])
@pytest.mark.parametrize("strategy", STRATEGIES, ids=str)
@pytest.mark.parametrize("error_format", FORMATS, ids=str)
def test_only_the_users_change_is_ever_written(
    error_format: ErrorFormat, strategy: Strategy, status: int, driver: str
) -> None:
    server = DocumentServer(error_format, status, other_writer=strategy.other_writer)
    run = DRIVERS[driver]
    if not strategy.resolves:
        with pytest.raises(ConflictError) as caught:
            run(strategy, server)
        assert caught.value.status == status
        assert server.written == []  # the refused write was the only one
        assert server.methods() == ["GET", "PUT"]
        expected_current = THEIRS if error_format.usable and server.document else None
        assert caught.value.current == expected_current
        return
    result = run(strategy, server)
    # Nothing but the other writer's edit and the user's change, written exactly once.
    assert server.written == [EXPECTED]
    assert server.document == EXPECTED
    assert result.data == EXPECTED
    first, retry = writes(server)
    assert first.headers["If-Match"] == '"v1"'
    assert retry.headers["If-Match"] == '"v2"'  # the tag of the other writer's version
    # Only a problem carrying the representation spares the GET; anything else is re-read.
    reread = server.methods()[2] == "GET"
    assert reread is not error_format.usable
    assert len(server.requests) == (4 if reread else 3)


# -- the one rule, on its own -----------------------------------------------------------------


def _responses() -> Iterator[tuple[ErrorFormat, int, Response]]:
    for error_format in FORMATS:
        for status in (409, 412):
            refusal = Refusal(status, dict(THEIRS), 2, '"v1"', dict(INITIAL))
            headers, content = error_format.render(refusal)
            yield error_format, status, Response(status, tuple(headers), content)


@pytest.mark.parametrize(
    ("error_format", "status", "response"),
    list(_responses()),
    ids=[f"{f}-{s}" for f, s, _ in _responses()],
)
def test_current_representation_accepts_only_a_problem_carrying_it(
    error_format: ErrorFormat, status: int, response: Response
) -> None:
    found = current_representation(response)
    error = conflict_from_response(response, method="PUT", url=URL)
    if error_format.usable:
        assert found is not None
        assert (found.data, found.etag) == (THEIRS, ETag("v2"))
        assert (error.current, error.current_etag) == (THEIRS, ETag("v2"))
    else:
        assert found is None
        assert error.current is None


def test_a_problem_for_another_status_is_not_the_representation() -> None:
    body = {"status": 412, "current": THEIRS, "current_etag": '"v2"'}
    content = json.dumps(body).encode()
    headers = (("Content-Type", "application/problem+json"),)
    assert current_representation(Response(412, headers, content)) is not None
    assert current_representation(Response(200, headers, content)) is None
    assert current_representation(Response(409, headers, content)) is None  # status 412 inside


def test_raise_errors_transport_gives_no_current_for_a_jsonapi_error() -> None:
    # The transports' typed errors use the same rule as the strategies.
    jsonapi = next(f for f in FORMATS if f.name == "ifmatch-jsonapi-current")
    server = DocumentServer(jsonapi, 412, other_writer=their_edit)
    transport = IfMatchTransport(httpx.MockTransport(server), raise_errors=True)
    with httpx.Client(base_url=BASE, transport=transport) as http:
        http.get(PATH)
        with pytest.raises(PreconditionFailed) as caught:
            http.put(PATH, json=MINE)
    assert caught.value.current is None
    assert caught.value.current_etag == ETag("v2")  # the ETag header, for information
    assert server.written == []


# -- against ifmatch's own integrations ---------------------------------------------------------


class _AfterFirstGet(httpx.BaseTransport):
    """Runs ``action`` once, right after the first GET through it has been answered."""

    def __init__(self, inner: httpx.BaseTransport, action: Callable[[], None]) -> None:
        self.inner = inner
        self.action: Callable[[], None] | None = action
        self.methods: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.methods.append(request.method)
        response = self.inner.handle_request(request)
        if request.method == "GET" and self.action is not None:
            action, self.action = self.action, None
            response.read()
            action()
        return response


def append_mine(document: Any) -> None:
    document["text"] = document.get("text", "") + " and mine"


@pytest.mark.parametrize("include_current", [False, True])
@pytest.mark.parametrize("error_format", ["problem", "jsonapi"])
def test_drf_every_error_format(error_format: str, include_current: bool) -> None:
    import djangoproject

    djangoproject.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    from djangoproject.docs.models import Document as Model

    settings = {"ERROR_FORMAT": error_format, "INCLUDE_CURRENT_REPRESENTATION": include_current}
    with override_settings(IFMATCH=settings):
        row = Model.objects.create(title="T", text="first")
        path = f"/generic/documents/{row.pk}/"
        app = httpx.WSGITransport(app=WSGIHandler())

        def other_writer() -> None:
            with httpx.Client(base_url="http://testserver", transport=app) as other:
                tag = other.get(path).headers["ETag"]
                edited = other.put(
                    path, json={"title": "Theirs", "text": "theirs"}, headers={"If-Match": tag}
                )
                assert edited.status_code == 200

        spy = _AfterFirstGet(app, other_writer)
        with Client("http://testserver", transport=spy, backoff=NO_WAIT) as client:
            result = client.update(path, append_mine)
        row.refresh_from_db()
    assert (row.title, row.text) == ("Theirs", "theirs and mine")
    assert (result.data["title"], result.data["text"]) == ("Theirs", "theirs and mine")
    usable = error_format == "problem" and include_current
    assert spy.methods == (["GET", "PUT", "PUT"] if usable else ["GET", "PUT", "GET", "PUT"])


def test_flask_jsonapi_error_documents() -> None:
    # The configuration: IFMATCH_ERROR_FORMAT = "jsonapi".
    from integrations.example_flask import create_app

    app = create_app()
    app.config["IFMATCH_ERROR_FORMAT"] = "jsonapi"
    wsgi = httpx.WSGITransport(app=app)
    with httpx.Client(base_url="http://testserver", transport=wsgi) as setup:
        created = setup.put("/documents/j", json={"text": "a"}, headers={"If-None-Match": "*"})
        assert created.status_code == 201

    def other_writer() -> None:
        with httpx.Client(base_url="http://testserver", transport=wsgi) as other:
            tag = other.get("/documents/j").headers["ETag"]
            edited = other.put("/documents/j", json={"text": "theirs"}, headers={"If-Match": tag})
            assert edited.status_code == 200

    spy = _AfterFirstGet(wsgi, other_writer)
    with Client("http://testserver", transport=spy, backoff=NO_WAIT) as client:
        client.update("/documents/j", append_mine)
        final = client.read("/documents/j")
    assert final.data["text"] == "theirs and mine"
    assert spy.methods == ["GET", "PUT", "GET", "PUT", "GET"]
