"""ifmatch.integrations.wsgi: body-hash ETags and 304 for any WSGI app (bandwidth only)."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from werkzeug.test import Client

from ifmatch.core import content_etag
from ifmatch.integrations.wsgi import ConditionalGetMiddleware
from integrations.http_conformance import Exchange, lint, with_date

BODY = b'{"hello": "world"}'
TAG = str(content_etag(BODY))

Extra = list[tuple[str, str]]


def make_app(
    body: bytes = BODY, status: str = "200 OK", extra: Extra | None = None, *, closed: list[bool]
) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(status, [("Content-Type", "application/json"), *(extra or [])])
        return Body([body[:5], body[5:]], closed)

    return app


class Body:
    """A response iterable that records ``close()`` (PEP 3333 requires calling it)."""

    def __init__(self, chunks: list[bytes], closed: list[bool]) -> None:
        self.chunks, self.closed = chunks, closed

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed.append(True)


def call(app: Any, method: str = "GET", headers: dict[str, str] | None = None) -> Exchange:
    response = Client(app).open("/r", method=method, headers=headers or {})
    exchange = Exchange(
        method,
        "/r",
        [("Host", "testserver"), ("User-Agent", "t/1"), *(headers or {}).items()],
        None,
        response.status_code,
        with_date(list(response.headers.items())),
        response.get_data(),
    )
    response.close()  # as a WSGI server does: closes the iterable the middleware returned
    # Requests are linted too, unless they carry a deliberately malformed header.
    exchange.lint_request = '"unterminated' not in str(exchange.request_headers)
    assert lint(exchange) == []
    return exchange


def test_tags_the_body_and_answers_304() -> None:
    closed: list[bool] = []
    app = ConditionalGetMiddleware(make_app(closed=closed))
    first = call(app)
    assert first.status == 200 and first.body == BODY and first.header("ETag") == TAG
    again = call(app, headers={"If-None-Match": TAG})
    assert again.status == 304 and again.body == b"" and again.header("ETag") == TAG
    assert again.header("Content-Length") is None
    weak = call(app, headers={"If-None-Match": f"W/{TAG}"})
    assert weak.status == 304  # weak comparison for If-None-Match
    assert call(app, headers={"If-None-Match": '"other"'}).status == 200
    assert len(closed) == 4


def test_head_keeps_an_app_tag_and_if_match_on_get() -> None:
    closed: list[bool] = []
    app = ConditionalGetMiddleware(make_app(extra=[("ETag", '"v7"')], closed=closed))
    assert call(app, "HEAD", {"If-None-Match": '"v7"'}).status == 304
    failed = call(app, headers={"If-Match": '"v6"'})
    assert failed.status == 412 and failed.json()["current_etag"] == '"v7"'


def test_compressed_bodies_get_weak_tags() -> None:
    compressed = gzip.compress(BODY, mtime=0)
    encoded = make_app(compressed, extra=[("Content-Encoding", "gzip")], closed=[])
    app = ConditionalGetMiddleware(encoded)
    tag = call(app).header("ETag")
    assert tag == str(content_etag(compressed, weak=True))
    assert call(app, headers={"If-None-Match": tag or ""}).status == 304


def test_leaves_writes_errors_and_large_bodies_alone() -> None:
    closed: list[bool] = []
    app = ConditionalGetMiddleware(make_app(closed=closed))
    assert call(app, "PUT", {"If-Match": '"nope"'}).header("ETag") is None
    not_found = ConditionalGetMiddleware(make_app(status="404 Not Found", closed=closed))
    assert call(not_found, headers={"If-None-Match": "*"}).status == 404
    small = ConditionalGetMiddleware(make_app(closed=closed), max_body_size=3)
    streamed = call(small, headers={"If-None-Match": "*"})
    assert streamed.status == 200 and streamed.body == BODY and streamed.header("ETag") is None
    assert len(closed) == 3


def test_a_malformed_header_gets_the_full_response() -> None:
    app = ConditionalGetMiddleware(make_app(closed=[]))
    response = call(app, headers={"If-None-Match": '"unterminated'})
    assert response.status == 200 and response.body == BODY


def test_the_key_changes_the_tag() -> None:
    keyed = ConditionalGetMiddleware(make_app(closed=[]), key=b"secret")
    assert call(keyed).header("ETag") == str(content_etag(BODY, key=b"secret")) != TAG


def test_closes_the_app_iterable_when_it_fails() -> None:
    closed: list[bool] = []

    class Failing(Body):
        def __iter__(self) -> Iterator[bytes]:
            raise RuntimeError("boom")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [])
        return Failing([], closed)

    with pytest.raises(RuntimeError):
        Client(ConditionalGetMiddleware(app)).get("/")
    assert closed == [True]


def test_flask_app_behind_the_middleware() -> None:
    from flask import Flask

    flask_app = Flask(__name__)

    @flask_app.get("/r")
    def resource() -> dict[str, str]:
        return {"hello": "world"}

    flask_app.wsgi_app = ConditionalGetMiddleware(flask_app.wsgi_app)  # type: ignore[method-assign]
    tag = call(flask_app).header("ETag")
    assert tag is not None and call(flask_app, headers={"If-None-Match": tag}).status == 304
