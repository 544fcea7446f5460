"""A WSGI middleware for conditional GET on any WSGI app, by hashing the finished body.

Bandwidth only: it cannot prevent lost updates. It sees a response after the app has built it,
so it saves the bytes on the wire, not the work, and it never touches writes. For writes use
the Flask integration with a version store.

    app.wsgi_app = ConditionalGetMiddleware(app.wsgi_app, key=b"a secret")

For a 200 to GET or HEAD it collects the body, tags it with ``ifmatch.core.content_etag``
(strong; weak if the app already set ``Content-Encoding``; an ``ETag`` the app set is kept) and
answers ``If-None-Match`` / ``If-Modified-Since`` with 304. Bodies larger than
``max_body_size`` stream through untagged.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from ._bodyhash import Fields, conditional_get

__all__ = ["ConditionalGetMiddleware"]

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

DEFAULT_MAX_BODY_SIZE = 4 * 1024 * 1024
_PRECONDITION_KEYS = {
    "HTTP_IF_MATCH": "If-Match",
    "HTTP_IF_NONE_MATCH": "If-None-Match",
    "HTTP_IF_MODIFIED_SINCE": "If-Modified-Since",
    "HTTP_IF_UNMODIFIED_SINCE": "If-Unmodified-Since",
}


class ConditionalGetMiddleware:
    """Adds a body-hash ``ETag`` to GET/HEAD responses and answers 304.

    Args:
        app: the WSGI application.
        key: a secret mixed into the hash, so a client cannot confirm a guess of private
            content by watching for a 304.
        max_body_size: larger bodies are streamed through without a tag.
    """

    def __init__(
        self, app: WSGIApp, *, key: bytes = b"", max_body_size: int = DEFAULT_MAX_BODY_SIZE
    ) -> None:
        self.app = app
        self.key = key
        self.max_body_size = max_body_size

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        started: list[Any] = []
        chunks: list[bytes] = []

        def capture(status: str, headers: Fields, exc_info: ExcInfo | None = None) -> Any:
            started[:] = [status, headers, exc_info]
            return chunks.append  # the legacy write() callable: buffered like the rest

        result = self.app(environ, capture)
        size = 0
        try:
            iterator = iter(result)
            for chunk in iterator:
                chunks.append(chunk)
                size += len(chunk)
                if size > self.max_body_size:
                    start_response(*started)
                    return _Closing(itertools.chain(chunks, iterator), result)
        except BaseException:
            _close(result)
            raise
        _close(result)
        status, headers, exc_info = started
        body = b"".join(chunks)
        answer = None
        if status.startswith("200"):
            requested = {name: environ[k] for k, name in _PRECONDITION_KEYS.items() if k in environ}
            answer = conditional_get(method, requested, list(headers), body, key=self.key)
        if answer is None:
            start_response(status, headers, exc_info)
            return [body]
        code, headers, body = answer
        if code != 200:
            status = {304: "304 Not Modified", 412: "412 Precondition Failed"}[code]
        start_response(status, headers, exc_info)
        return [body]


def _close(result: Iterable[bytes]) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


class _Closing:
    """Streams the rest of a response and closes the app's iterable at the end (PEP 3333)."""

    def __init__(self, chunks: Iterator[bytes], result: Iterable[bytes]) -> None:
        self.chunks, self.result = chunks, result

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def close(self) -> None:
        _close(self.result)
