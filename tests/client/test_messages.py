"""The plain request and response values the flows exchange."""

from __future__ import annotations

import pytest

from ifmatch.client import MISSING, Request, Response
from ifmatch.client.messages import find_header, is_json_media_type


@pytest.mark.parametrize(
    ("content_type", "is_json"),
    [
        ("application/json", True),
        ("application/hal+json; charset=utf-8", True),
        ("application/problem+json", True),
        ("APPLICATION/JSON", True),
        ("text/json", True),
        ("text/html", False),
        ("application/jsonp", False),
        (None, False),
        ("", False),
    ],
)
def test_is_json_media_type(content_type: str | None, is_json: bool) -> None:
    assert is_json_media_type(content_type) is is_json


def test_find_header_joins_repeated_lines() -> None:
    headers = (("Vary", "Accept"), ("X", "1"), ("vary", "Cookie"))
    assert find_header(headers, "VARY") == "Accept, Cookie"
    assert find_header(headers, "missing") is None


def test_with_headers_replaces_lines_of_the_same_name() -> None:
    request = Request("PUT", "http://a.test/", (("If-Match", '"old"'), ("Accept", "*/*")))
    changed = request.with_headers(("if-match", '"new"'))
    assert changed.headers == (("Accept", "*/*"), ("if-match", '"new"'))
    assert changed.header("If-Match") == '"new"'
    assert request.header("If-Match") == '"old"'  # the original is unchanged


def test_response_json() -> None:
    json_type = (("Content-Type", "application/json"),)
    assert Response(200, json_type, b'{"a": 1}').json == {"a": 1}
    assert Response(200, json_type, b"null").json is None
    assert Response(200, json_type, b"{broken").json is MISSING
    assert Response(200, json_type, None).json is MISSING
    assert Response(200, (("Content-Type", "text/plain"),), b"{}").json is MISSING


def test_response_headers_and_copies() -> None:
    head = Response(200, (("ETag", '"a"'), ("Set-Cookie", "x"), ("set-cookie", "y")))
    assert head.header("etag") == '"a"'
    assert head.header("Set-Cookie") == "x, y"
    read = head.with_content(b"body")
    assert (read.status, read.headers, read.content) == (200, head.headers, b"body")
    assert read.ok and not Response(304).ok
    assert "4 bytes" in repr(read) and "unread" in repr(head)


def test_missing_is_a_falsy_singleton() -> None:
    assert not MISSING
    assert type(MISSING)() is MISSING
    assert repr(MISSING) == "MISSING"
