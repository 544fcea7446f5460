"""Read-your-writes from the tag: middleware that records the versions a request names.

Each middleware reads the request's ``If-None-Match`` and ``If-Match`` fields and, for the
request's duration, makes the highest version they name available to the stores
(``ifmatch.stores.replicas.seen_version``): :class:`~ifmatch.stores.replicas.ReplicaReads`
and Django models read through :class:`ReplicaRouter`-style routing then read on the primary
when the replica is older than what the client has seen. No web framework is imported here.

- WSGI (Flask, any WSGI app): ``app.wsgi_app = ReadYourWritesWSGI(app.wsgi_app)``
- ASGI (FastAPI, Starlette): ``app.add_middleware(ReadYourWritesASGI)``
- Django: ``"ifmatch.integrations.replicas.ReadYourWritesMiddleware"`` in ``MIDDLEWARE``
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from ..stores.replicas import seen_versions

__all__ = ["ReadYourWritesASGI", "ReadYourWritesMiddleware", "ReadYourWritesWSGI"]

_FIELDS = (b"if-none-match", b"if-match")
_WSGI_FIELDS = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MATCH")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


class ReadYourWritesWSGI:
    """WSGI middleware: the request's named versions are seen while the app is called (a
    body streamed later, after the call returned, is read without them)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        fields = [environ[name] for name in _WSGI_FIELDS if name in environ]
        with seen_versions(fields):
            return self.app(environ, start_response)


class ReadYourWritesASGI:
    """ASGI middleware (HTTP requests only; others pass through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        fields = [
            value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name.lower() in _FIELDS
        ]
        with seen_versions(fields):
            await self.app(scope, receive, send)


class ReadYourWritesMiddleware:
    """Django middleware (sync): put it before the views that read validators."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        headers = request.headers
        fields = [headers[name] for name in ("If-None-Match", "If-Match") if name in headers]
        with seen_versions(fields):
            return self.get_response(request)
