"""Document servers on several origins with scripted redirects, for the redirect seam.

One :class:`Origins` object serves every origin a test names, telling them apart by the
``Host`` a request carries. It answers as an ifmatch server does (the core's ``evaluate``;
writes need a precondition, 428 otherwise) and records every request each origin received.
Documents of different resources deliberately share version numbers (``"v3"`` here and
there), as ifmatch's version tags do: a tag that reaches the wrong resource *matches*.

It plugs into ``httpx.MockTransport`` (sync and async) as a handler, and into real HTTP
servers on loopback ports (:func:`serve`, one per origin) as a WSGI application.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx

from ifmatch.core import NotModified, Proceed, ResourceState, decision_problem, evaluate
from ifmatch.core import version_etag as tag_of

#: the request fields that carry a validator (or ask for a range of one representation)
CONDITIONAL = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range")

Answer = tuple[int, list[tuple[str, str]], bytes]


@dataclass(frozen=True)
class Received:
    """One request an origin received."""

    host: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def conditionals(self) -> dict[str, str]:
        return {name: value for name, value in self.headers.items() if name in CONDITIONAL}


@dataclass
class Origins:
    """Documents keyed by ``(host, path)``; redirects keyed the same way."""

    documents: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    redirects: dict[tuple[str, str], tuple[int, str, frozenset[str] | None]] = field(
        default_factory=dict
    )
    posts: dict[tuple[str, str], Answer] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- scripting -------------------------------------------------------------------------------

    def document(self, url: str, data: Any, version: int) -> None:
        self.documents[_key(url)] = (version, data)

    def redirect(
        self, url: str, status: int, location: str, methods: Iterable[str] | None = None
    ) -> None:
        """Answer requests for ``url`` (with one of ``methods``; all when ``None``) with a
        ``status`` redirect to ``location``."""
        self.redirects[_key(url)] = (
            status,
            location,
            None if methods is None else frozenset(methods),
        )

    def on_post(self, url: str, status: int, headers: list[tuple[str, str]]) -> None:
        self.posts[_key(url)] = (status, headers, b'{"created": true}')

    # -- inspection ------------------------------------------------------------------------------

    def at(self, url: str) -> list[Received]:
        """What ``url``'s origin received for its path."""
        host, path = _key(url)
        with self._lock:
            return [r for r in self.received if (r.host, r.path) == (host, path)]

    def on(self, host_url: str) -> list[Received]:
        """Everything the origin of ``host_url`` received."""
        host = _key(host_url)[0]
        with self._lock:
            return [r for r in self.received if r.host == host]

    def data(self, url: str) -> Any:
        found = self.documents.get(_key(url))
        return None if found is None else found[1]

    # -- serving ---------------------------------------------------------------------------------

    def respond(
        self, host: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> Answer:
        lowered = {name.lower(): value for name, value in headers}
        with self._lock:
            self.received.append(Received(host, method, path, lowered, body))
            redirect = self.redirects.get((host, path))
            if redirect is not None and (redirect[2] is None or method in redirect[2]):
                return redirect[0], [("Location", redirect[1]), ("Content-Length", "0")], b""
            if method == "POST" and (host, path) in self.posts:
                return self.posts[(host, path)]
            return self._document(host, method, path, headers, body)

    def _document(
        self, host: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> Answer:
        found = self.documents.get((host, path))
        resource = ResourceState(None if found is None else tag_of(found[0]), exists=bool(found))
        decision = evaluate(method, headers, resource)
        if isinstance(decision, NotModified):
            return 304, [("ETag", str(resource.etag))], b""
        if not isinstance(decision, Proceed):
            problem = json.dumps(decision_problem(decision)).encode()
            return decision.status, [("Content-Type", "application/problem+json")], problem
        if method in ("GET", "HEAD"):
            if found is None:
                return 404, [], b""
            content = json.dumps(found[1]).encode()
            fields = [("ETag", str(tag_of(found[0]))), ("Content-Type", "application/json")]
            return 200, fields, b"" if method == "HEAD" else content
        if method == "DELETE":
            self.documents.pop((host, path), None)
            return 204, [], b""
        if method not in ("PUT", "PATCH"):
            return 405, [], b""
        try:
            data = json.loads(body)
        except ValueError:
            return 400, [], b""
        if not isinstance(data, dict):
            return 400, [], b""
        if method == "PATCH":
            data = {**(found[1] if found else {}), **data}
        version = 1 if found is None else found[0] + 1
        self.documents[(host, path)] = (version, data)
        return 200, [("ETag", str(tag_of(version)))], b""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """The ``httpx.MockTransport`` handler."""
        status, headers, content = self.respond(
            request.url.netloc.decode("ascii"),
            request.method,
            request.url.path,
            list(request.headers.multi_items()),
            request.read(),
        )
        return httpx.Response(status, headers=headers, content=content)

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        """The WSGI application (for :func:`serve`)."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = [
            (name[5:].replace("_", "-").title(), value)
            for name, value in environ.items()
            if name.startswith("HTTP_")
        ]
        for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(name):
                headers.append((name.replace("_", "-").title(), environ[name]))
        status, fields, content = self.respond(
            environ["HTTP_HOST"], environ["REQUEST_METHOD"], environ["PATH_INFO"], headers, body
        )
        if not any(name.lower() == "content-length" for name, _ in fields):
            fields = [*fields, ("Content-Length", str(len(content)))]
        start_response(f"{status} {_REASONS.get(status, 'Status')}", fields)
        return [content]


_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    428: "Precondition Required",
}


def _key(url: str) -> tuple[str, str]:
    parsed = httpx.URL(url)
    return parsed.netloc.decode("ascii"), parsed.path


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Live:
    """The WSGI application of real servers: whatever :class:`Origins` a test put in
    :attr:`origins` (servers outlive tests; each test brings a fresh world)."""

    def __init__(self) -> None:
        self.origins = Origins()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return self.origins.wsgi(environ, start_response)


@contextlib.contextmanager
def serve(app: Live) -> Iterator[str]:
    """Serve ``app`` over real HTTP on a free loopback port; yield its base URL
    (``http://127.0.0.1:<port>``). Several calls give several origins sharing one state."""
    server = make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
