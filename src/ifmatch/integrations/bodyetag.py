"""Body entity-tags (Google AIP-154 / AEP-154, Eve's ``_etag``) for any WSGI or ASGI app.

A client sends the entity-tag it read back in the body of an update or a delete::

    PUT /documents/7            {"text": "new", "etag": "\\"v3\\""}
    DELETE /documents/7         {"etag": "\\"v3\\""}

The middleware reads the member before the application runs and hands the application the
same request with ``If-Match: "v3"`` (and the member taken out of the body), so the write is the
integration's own guarded compare-and-set: the body's tag is enforced atomically, exactly like
the header. On the way out it names the member in a refusal (412, or 409 if configured) and
puts the ``ETag`` of each JSON representation into the member. Flask::

    app.wsgi_app = BodyETagWSGI(app.wsgi_app)

FastAPI / Starlette::

    app.add_middleware(BodyETagASGI)

Django and Django REST framework use ``ifmatch.integrations.django_bodyetag``. The rules are in
``ifmatch.integrations._bodyetag``; see ``docs/body-etags.md``.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http import HTTPStatus
from types import TracebackType
from typing import Any

from ._bodyetag import (
    EVE_ETAG,
    QUOTED_ETAG,
    UNCHANGED,
    BodyETag,
    BodyField,
    Rejected,
    Translated,
    is_json,
    too_large,
    translate_request,
    translate_response,
)
from .wsgi import _close, _Closing

__all__ = ["EVE_ETAG", "QUOTED_ETAG", "BodyETag", "BodyETagASGI", "BodyETagWSGI", "BodyField"]

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def _config(config: BodyETag | None, options: dict[str, Any]) -> BodyETag:
    if config is not None and options:
        raise TypeError("give either a BodyETag or its fields as keywords, not both")
    return config if config is not None else BodyETag(**options)


class BodyETagWSGI:
    """The body entity-tag convention around a WSGI application.

    Args:
        app: the WSGI application (Flask: ``app.wsgi_app``).
        config: the convention's settings; or give :class:`BodyETag`'s fields as keywords
            (``mismatch_status=409``, ``fields=(EVE_ETAG,)``).
        **options: :class:`BodyETag` fields, when ``config`` is not given.
    """

    def __init__(self, app: WSGIApp, config: BodyETag | None = None, **options: Any) -> None:
        self.app = app
        self.config = _config(config, options)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        config = self.config
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
        request: Translated | Rejected = UNCHANGED
        if (
            method in config.methods
            and is_json(environ.get("CONTENT_TYPE"))
            and config.covers(path)
        ):
            body = self._read(environ)
            if body is None:
                request = too_large(config, path)
            else:
                if_match = environ.get("HTTP_IF_MATCH")
                request = translate_request(
                    config, method, path, environ.get("CONTENT_TYPE"), if_match, body
                )
                self._pass_on(environ, request, body)
        if isinstance(request, Rejected):
            data, headers = request.render(config)
            start_response(_status_line(request.status), headers)
            return [data]
        return self._respond(environ, start_response, request, method, path)

    def _read(self, environ: dict[str, Any]) -> bytes | None:
        """The whole body (``None``: larger than allowed)."""
        stream = environ.get("wsgi.input")
        if stream is None:
            return b""
        length_field = environ.get("CONTENT_LENGTH") or ""
        limit = self.config.max_body_size
        if length_field.strip().isdigit():
            length = int(length_field)
            if length > limit:
                return None
            body: bytes = stream.read(length) if length else b""
        elif environ.get("wsgi.input_terminated"):
            body = stream.read(limit + 1)
            if len(body) > limit:
                return None
        else:
            body = b""
        return body

    @staticmethod
    def _pass_on(environ: dict[str, Any], request: Translated | Rejected, body: bytes) -> None:
        """Give the application the body (as read, or without the member) and If-Match."""
        if isinstance(request, Translated) and request.body is not None:
            body = request.body
            if not body:
                environ.pop("CONTENT_TYPE", None)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        if isinstance(request, Translated) and request.if_match is not None:
            environ["HTTP_IF_MATCH"] = request.if_match

    def _respond(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        request: Translated,
        method: str,
        path: str,
    ) -> Iterable[bytes]:
        started: list[Any] = []
        chunks: list[bytes] = []

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Any:
            started[:] = [status, headers, exc_info]
            return chunks.append

        result = self.app(environ, capture)
        size = 0
        try:
            iterator = iter(result)
            for chunk in iterator:
                chunks.append(chunk)
                size += len(chunk)
                if not self._holds(started, method, size):
                    # Not a JSON answer, or too large to rewrite: stream it as it is.
                    start_response(*started)
                    return _Closing(itertools.chain(list(chunks), iterator), result)
        except BaseException:
            _close(result)
            raise
        _close(result)
        status_line, headers, exc_info = started
        body = b"".join(chunks)
        status = int(status_line.split(" ", 1)[0])
        answer = translate_response(self.config, request, method, path, status, list(headers), body)
        if answer is None:
            start_response(status_line, headers, exc_info)
            return [body]
        code, fields, data = answer
        start_response(status_line if code == status else _status_line(code), fields, exc_info)
        return [data]

    def _holds(self, started: list[Any], method: str, size: int) -> bool:
        """Whether an answer is held back to be rewritten: JSON, not too large, not HEAD."""
        if not started:
            return True  # start_response comes with the first chunk at the latest
        if method == "HEAD" or size > self.config.max_body_size:
            return False
        content_type = next((v for k, v in started[1] if k.lower() == "content-type"), None)
        return is_json(content_type)


class BodyETagASGI:
    """The body entity-tag convention around an ASGI application (pure ASGI, stateless).

    Args:
        app: the ASGI application (``app.add_middleware(BodyETagASGI, ...)``).
        config: the convention's settings; or give :class:`BodyETag`'s fields as keywords.
        **options: :class:`BodyETag` fields, when ``config`` is not given.
    """

    def __init__(self, app: ASGIApp, config: BodyETag | None = None, **options: Any) -> None:
        self.app = app
        self.config = _config(config, options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        config = self.config
        method = str(scope["method"]).upper()
        path = str(scope.get("root_path", "")) + str(scope.get("path", ""))
        fields = {name.lower(): value for name, value in scope.get("headers", [])}
        content_type = _text(fields.get(b"content-type"))
        request: Translated | Rejected = UNCHANGED
        if method in config.methods and is_json(content_type) and config.covers(path):
            body = await _read(receive, config.max_body_size)
            if body is None:
                request = too_large(config, path)
            else:
                if_match = _joined(scope.get("headers", []), b"if-match")
                request = translate_request(config, method, path, content_type, if_match, body)
                scope, receive = _passed_on(scope, receive, request, body)
        if isinstance(request, Rejected):
            data, headers = request.render(config)
            await _send_whole(send, request.status, headers, data)
            return
        responder = _Responder(config, request, method, path, send)
        await self.app(scope, receive, responder.send)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _joined(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    values = [value.decode("latin-1") for key, value in headers if key.lower() == name]
    return ", ".join(values) if values else None


async def _read(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _passed_on(
    scope: Scope, upstream: Receive, request: Translated | Rejected, body: bytes
) -> tuple[Scope, Receive]:
    headers = list(scope.get("headers", []))
    if isinstance(request, Translated):
        if request.body is not None:
            body = request.body
            if not body:
                headers = [(k, v) for k, v in headers if k.lower() != b"content-type"]
        if request.if_match is not None:
            headers = [(k, v) for k, v in headers if k.lower() != b"if-match"]
            headers.append((b"if-match", request.if_match.encode("latin-1")))
    headers = [
        (k, v) for k, v in headers if k.lower() not in (b"content-length", b"transfer-encoding")
    ]
    headers.append((b"content-length", str(len(body)).encode()))
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, whatever the server says next (a disconnect, when the client goes).
        return await upstream()

    return {**scope, "headers": headers}, receive


async def _send_whole(send: Send, status: int, fields: list[tuple[str, str]], data: bytes) -> None:
    headers = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in fields]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class _Responder:
    """Holds back a JSON answer until its body is whole, then rewrites it; anything else (or a
    JSON body larger than ``max_body_size``) streams through unchanged."""

    def __init__(
        self, config: BodyETag, request: Translated, method: str, path: str, send: Send
    ) -> None:
        self.config, self.request, self.method, self.path = config, request, method, path
        self.downstream = send
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.passing = False

    async def send(self, message: Message) -> None:
        if self.passing:
            await self.downstream(message)
        elif message["type"] == "http.response.start":
            self.start = message
            fields = {n.lower(): v for n, v in message.get("headers", [])}
            self.passing = self.method == "HEAD" or not is_json(_text(fields.get(b"content-type")))
            if self.passing:
                await self.downstream(message)
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            self.size += len(self.chunks[-1])
            if not message.get("more_body", False):
                await self.finish()
            elif self.size > self.config.max_body_size:
                await self.flush({"type": "http.response.body", "body": b"", "more_body": True})
        else:
            await self.flush(message)

    async def flush(self, message: Message) -> None:
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
        fields = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in raw]
        status = int(self.start["status"])
        answer = translate_response(
            self.config, self.request, self.method, self.path, status, fields, body
        )
        if answer is None:
            await self.downstream(self.start)
            await self.downstream({"type": "http.response.body", "body": body})
            return
        code, fields, data = answer
        headers = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in fields]
        await self.downstream({**self.start, "status": code, "headers": headers})
        await self.downstream({"type": "http.response.body", "body": data})
