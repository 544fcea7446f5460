"""Reference servers for the checker: one correct, and one per failure mode the checker hunts.

All serve one JSON document (``{"id": 1, "text": ...}``) at any path, with versions kept in
``ifmatch.stores.memory.MemoryStore`` and preconditions decided by ``ifmatch.core.evaluate``.
The correct server writes with the store's compare-and-set; each broken one differs from it by
exactly one defect:

- ``check-then-write``: the shape of the 2018 Paris.py talk's class decorator: the precondition
  is compared first, the view writes afterwards without one (here after a short pause, as a
  database round trip would), so concurrent writers holding the same tag all win;
- ``ignores-if-match``: If-Match is dropped before evaluation (nor is any precondition
  required), like a server that only knows about dates;
- ``star-412``: ``If-Match: *`` gets 412, Werkzeug's ``make_conditional`` bug;
- ``unquoted-etag``: the ETag header is sent without its quotes;
- ``put-304``: a false If-None-Match on a PUT gets 304 instead of 412, fastapi-etag's bug.

Each can also speak another write format (a ``dialect``, see ``dialects.py``: a strict schema,
PATCH only, JSON:API, HAL) and require one header on writes, as real APIs do.

Every server pauses between deciding and writing, so the correct one shows that the window
is harmless once the write itself enforces the condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from check.dialects import DIALECTS, Dialect, Refusal
from ifmatch.core import (
    PROBLEM_MEDIA_TYPE,
    NotModified,
    Policy,
    PreconditionFailed,
    Proceed,
    ResourceState,
    decision_problem,
    evaluate,
    format_http_date,
    problem,
)
from ifmatch.core.etag import ETag
from ifmatch.stores.base import Expectation, Outcome, Snapshot
from ifmatch.stores.memory import MemoryStore

KEY = "document"
ORIGINAL = {"id": 1, "text": "Guido and Ada's shared notes"}
PAUSE = 0.03


class Defect(enum.Enum):
    NONE = "correct"
    CHECK_THEN_WRITE = "check-then-write"
    IGNORES_IF_MATCH = "ignores-if-match"
    STAR_412 = "star-412"
    UNQUOTED_ETAG = "unquoted-etag"
    PUT_304 = "put-304"


Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Headers
    body: bytes = b""

    @property
    def status_line(self) -> str:
        return f"{self.status} {HTTPStatus(self.status).phrase}"


@dataclass(frozen=True)
class PendingWrite:
    """A PUT that passed evaluation and still has to be written."""

    expect: Expectation
    document: dict[str, Any]


class StepClock:
    """A clock in the past that moves one minute per reading: Last-Modified dates are then the
    same on every run (reports can be compared verbatim) and never in the future."""

    def __init__(self, start: datetime = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) -> None:
        self._lock = threading.Lock()
        self._next = start

    def __call__(self) -> datetime:
        with self._lock:
            now, self._next = self._next, self._next + timedelta(minutes=1)
            return now


class DocumentResource:
    """The resource logic shared by the WSGI and ASGI servers.

    Args:
        defect: how it gets preconditions wrong (or not).
        dialect: the write format it accepts (``dialects.DIALECTS``).
        required: a header every write must carry, or it gets 400.
    """

    def __init__(
        self,
        defect: Defect = Defect.NONE,
        dialect: str = "plain",
        required: tuple[str, str] | None = None,
    ) -> None:
        self.defect = defect
        self.dialect: Dialect = DIALECTS[dialect]()
        self.required = required
        self.store = MemoryStore(clock=StepClock())
        initial = {"document": self.dialect.initial(ORIGINAL)}
        self.store.compare_and_set(KEY, Expectation(exists=False), initial)
        self.policy = (
            Policy(require_precondition=frozenset())
            if defect is Defect.IGNORES_IF_MATCH
            else Policy()
        )

    def _etag_header(self, tag: ETag) -> str:
        return tag.opaque if self.defect is Defect.UNQUOTED_ETAG else str(tag)

    def _validators(self, snapshot: Snapshot) -> Headers:
        headers = [("ETag", self._etag_header(snapshot.etag()))]
        if snapshot.last_modified is not None:
            headers.append(("Last-Modified", format_http_date(snapshot.last_modified)))
        return headers

    def _problem(self, body: dict[str, Any], snapshot: Snapshot | None) -> Reply:
        headers = [("Content-Type", PROBLEM_MEDIA_TYPE)]
        if snapshot is not None and body["status"] in (412, 428):
            headers.append(("ETag", self._etag_header(snapshot.etag())))
        return Reply(body["status"], headers, json.dumps(body).encode())

    def _representation(self, method: str, snapshot: Snapshot, document: Any) -> Reply:
        body = json.dumps(self.dialect.render(document)).encode()
        headers = [("Content-Type", self.dialect.media_type), *self._validators(snapshot)]
        headers.append(("Content-Length", str(len(body))))
        return Reply(200, headers, b"" if method == "HEAD" else body)

    def decide(
        self, method: str, headers: Headers, body: bytes, path: str = "/doc"
    ) -> Reply | PendingWrite:
        """Answer, or say what to write; never writes."""
        record = self.store.get(KEY)
        assert record is not None
        snapshot, values = record
        spec = self.dialect.openapi()
        if path == "/openapi.json" and spec is not None and method == "GET":
            return Reply(200, [("Content-Type", "application/json")], json.dumps(spec).encode())
        allowed = ("GET", "HEAD", *self.dialect.write_methods)
        if method not in allowed:
            return Reply(405, [("Allow", ", ".join(allowed))])
        if self.defect is Defect.IGNORES_IF_MATCH:
            headers = [(name, value) for name, value in headers if name.lower() != "if-match"]
        if_match = next((v for n, v in headers if n.lower() == "if-match"), None)
        if self.defect is Defect.STAR_412 and if_match is not None and if_match.strip() == "*":
            return self._problem(problem(412, "If-Match did not match."), snapshot)
        state = ResourceState(snapshot.etag(), snapshot.last_modified)
        decision = evaluate(method, headers, state, self.policy, now=datetime.now(UTC))
        if isinstance(decision, NotModified):
            return Reply(304, [(n, v) for n, v in self._validators(snapshot)])
        if (
            self.defect is Defect.PUT_304
            and isinstance(decision, PreconditionFailed)
            and decision.header == "If-None-Match"
        ):
            return Reply(304, self._validators(snapshot))
        if not isinstance(decision, Proceed):
            return self._problem(decision_problem(decision), snapshot)
        if method in ("GET", "HEAD"):
            return self._representation(method, snapshot, values["document"])
        document = self._refusal(headers) or self.dialect.apply(
            method, headers, body, values["document"]
        )
        if isinstance(document, Refusal):
            return Reply(*document.reply())
        expect = Expectation.from_condition(decision.condition)
        if self.defect is Defect.CHECK_THEN_WRITE:
            # The check above was the only one: the write below is unconditional.
            expect = Expectation(exists=True)
        return PendingWrite(expect, document)

    def _refusal(self, headers: Headers) -> Refusal | None:
        if self.required is None:
            return None
        name, value = self.required
        if any(n.lower() == name.lower() and v == value for n, v in headers):
            return None
        return Refusal(400, f"Writes must carry {name}: {value}.")

    def commit(self, write: PendingWrite) -> Reply:
        result = self.store.compare_and_set(KEY, write.expect, {"document": write.document})
        if result.outcome is Outcome.WON and result.snapshot is not None:
            return self._representation("PUT", result.snapshot, write.document)
        current = self.store.read(KEY)
        decision = PreconditionFailed(
            "If-Match",
            "etag-mismatch",
            "The resource has changed since you read it.",
            current_etag=None if current is None else current.etag(),
        )
        return self._problem(decision_problem(decision), current)


def _wsgi_headers(environ: dict[str, Any]) -> Headers:
    headers = [
        (key[5:].replace("_", "-").title(), value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    ]
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", environ["CONTENT_TYPE"]))
    return headers


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def make_wsgi_app(
    defect: str = "correct",
    pause: float = PAUSE,
    dialect: str = "plain",
    required: tuple[str, str] | None = None,
) -> WSGIApp:
    """A WSGI app serving the reference document with ``defect`` (a ``Defect`` value), in
    ``dialect``, requiring the header ``required`` on writes."""
    return wsgi_app(DocumentResource(Defect(defect), dialect, required), pause)


def wsgi_app(resource: DocumentResource, pause: float = PAUSE) -> WSGIApp:
    """A WSGI app serving ``resource``."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        reply = resource.decide(method, _wsgi_headers(environ), body, path)
        if isinstance(reply, PendingWrite):
            time.sleep(pause)
            reply = resource.commit(reply)
        start_response(reply.status_line, reply.headers)
        return [reply.body]

    return app


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


def make_asgi_app(defect: str = "correct", pause: float = PAUSE, dialect: str = "plain") -> ASGIApp:
    """An ASGI app serving the reference document with ``defect``, in ``dialect``."""
    resource = DocumentResource(Defect(defect), dialect)

    async def app(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"]]
        reply = resource.decide(scope["method"], headers, body, scope["path"])
        if isinstance(reply, PendingWrite):
            await asyncio.sleep(pause)
            reply = resource.commit(reply)
        raw = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in reply.headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": raw})
        await send({"type": "http.response.body", "body": reply.body})

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_wsgi(app: WSGIApp) -> Iterator[str]:
    """Serve ``app`` on a free 127.0.0.1 port, one thread per connection; yield its base URL."""
    server = make_server(
        "127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@contextlib.contextmanager
def serve_asgi(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free 127.0.0.1 port; yield its base URL."""
    import uvicorn

    from services import free_port

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
