"""A pure-ASGI middleware for conditional GET on any ASGI app, by hashing the finished body.

Bandwidth only: it cannot prevent lost updates. It sees a response after the app has built it,
so it saves the bytes on the wire, not the work, and it never touches writes. For writes use
the Starlette/FastAPI integrations with a version store.

    app = ConditionalGetMiddleware(app, key=b"a secret")

For a 200 to GET or HEAD it holds back ``http.response.start`` until the whole body has arrived
(as Starlette's ``GZipMiddleware`` holds it for the first chunk), tags the body with
``ifmatch.core.content_etag`` (strong; weak if the app already set ``Content-Encoding``; an
``ETag`` the app set is kept), and answers ``If-None-Match`` / ``If-Modified-Since`` with 304.
Bodies larger than ``max_body_size`` stream through untagged. Stateless: each request gets
its own responder object.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._bodyhash import Fields, conditional_get

__all__ = ["ConditionalGetMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_SIZE = 4 * 1024 * 1024


class ConditionalGetMiddleware:
    """Adds a body-hash ``ETag`` to GET/HEAD responses and answers 304.

    Args:
        app: the ASGI application.
        key: a secret mixed into the hash, so a client cannot confirm a guess of private
            content by watching for a 304.
        max_body_size: larger bodies are streamed through without a tag.
    """

    def __init__(
        self, app: ASGIApp, *, key: bytes = b"", max_body_size: int = DEFAULT_MAX_BODY_SIZE
    ) -> None:
        self.app = app
        self.key = key
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        responder = _Responder(scope, send, self.key, self.max_body_size)
        await self.app(scope, receive, responder.send)


class _Responder:
    def __init__(self, scope: Scope, send: Send, key: bytes, max_body_size: int) -> None:
        self.scope, self.downstream, self.key = scope, send, key
        self.max_body_size = max_body_size
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.passing = False

    async def send(self, message: Message) -> None:
        if self.passing:
            await self.downstream(message)
        elif message["type"] == "http.response.start":
            # Don't send the start message until the body tells us how to change the headers.
            self.start = message
            self.passing = message["status"] != 200
            if self.passing:
                await self.downstream(message)
        elif message["type"] == "http.response.body":
            await self.body(message)
        else:
            await self.flush(message)

    async def body(self, message: Message) -> None:
        chunk: bytes = message.get("body", b"")
        self.chunks.append(chunk)
        self.size += len(chunk)
        more = bool(message.get("more_body", False))
        if more and self.size <= self.max_body_size:
            return
        if more:
            await self.flush({"type": "http.response.body", "body": b"", "more_body": True})
            return
        await self.finish()

    async def flush(self, message: Message) -> None:
        # Give up tagging: send what was held back unchanged, then everything else.
        self.passing = True
        if self.start is not None:
            await self.downstream(self.start)
            body = b"".join(self.chunks)
            if body:
                await self.downstream(
                    {"type": "http.response.body", "body": body, "more_body": True}
                )
        await self.downstream(message)

    async def finish(self) -> None:
        assert self.start is not None
        body = b"".join(self.chunks)
        raw = self.start.get("headers", [])
        fields: Fields = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in raw]
        answer = conditional_get(
            self.scope["method"], self.scope.get("headers", []), fields, body, key=self.key
        )
        if answer is None:
            await self.downstream(self.start)
            await self.downstream({"type": "http.response.body", "body": body})
            return
        status, fields, body = answer
        headers = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in fields]
        await self.downstream({**self.start, "status": status, "headers": headers})
        await self.downstream({"type": "http.response.body", "body": body})
