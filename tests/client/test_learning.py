"""Where validators are found: headers, body fields, list items."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ifmatch.client import LearningConfig, Response
from ifmatch.client.learning import (
    body_etag,
    header_validators,
    item_url,
    iter_items,
    response_validators,
    self_link,
)
from ifmatch.core import ETag


def json_response(body: Any, *headers: tuple[str, str]) -> Response:
    return Response(
        200, (("Content-Type", "application/json"), *headers), json.dumps(body).encode()
    )


def test_header_validators_ignore_garbage() -> None:
    response = Response(200, (("ETag", '"unbalanced'), ("Last-Modified", "yesterday")))
    assert not header_validators(response)


@pytest.mark.parametrize(
    ("body", "tag"),
    [
        ({"_etag": "abc"}, ETag("abc")),  # Eve: unquoted
        ({"_etag": '"abc"'}, ETag("abc")),
        ({"etag": 'W/"abc"'}, ETag("abc", weak=True)),  # AIP-154
        ({"_etag": "abc", "etag": "def"}, ETag("abc")),  # configured order
        ({"_etag": 5}, None),
        ({"_etag": "not a tag"}, None),
        ([{"_etag": "abc"}], None),
        ({}, None),
    ],
)
def test_body_etag(body: Any, tag: ETag | None) -> None:
    assert body_etag(body) == tag


def test_body_fields_are_configurable() -> None:
    config = LearningConfig(etag_fields=("version_tag",))
    assert body_etag({"version_tag": "x", "_etag": "y"}, config) == ETag("x")


def test_response_validators_prefer_the_header() -> None:
    assert response_validators(json_response({"_etag": "b"}, ("ETag", '"h"'))).etag == ETag("h")
    assert response_validators(json_response({"_etag": "b"})).etag == ETag("b")
    # Not JSON: the body is not looked at.
    plain = Response(200, (("Content-Type", "text/plain"),), b'{"_etag": "b"}')
    assert response_validators(plain).etag is None


BASE = "http://api.test/v1/docs?page=2"


@pytest.mark.parametrize(
    ("item", "url"),
    [
        ({"_links": {"self": {"href": "/v1/docs/1"}}}, "http://api.test/v1/docs/1"),
        ({"_links": {"self": [{"href": "/v1/docs/2"}]}}, "http://api.test/v1/docs/2"),
        ({"_links": {"self": {"href": "docs/3"}}}, "http://api.test/v1/docs/3"),  # Eve
        ({"links": {"self": "/v1/docs/x"}}, "http://api.test/v1/docs/x"),  # JSON:API
        ({"links": {"self": "http://other.test/x"}}, None),  # another origin: never
        ({"url": "https://api.test/v1/docs/4"}, None),  # another scheme is another origin
        ({"url": "http://other.test/x", "id": 8}, "http://api.test/v1/docs/8"),
        ({"url": "http://api.test/v1/docs/4/"}, "http://api.test/v1/docs/4/"),  # DRF
        ({"self": "/v1/docs/5"}, "http://api.test/v1/docs/5"),
        ({"id": 6}, "http://api.test/v1/docs/6"),
        ({"_id": "a b/c"}, "http://api.test/v1/docs/a%20b%2Fc"),
        ({"id": True}, None),
        ({"name": "x"}, None),
    ],
)
def test_item_url(item: dict[str, Any], url: str | None) -> None:
    assert item_url(item, BASE) == url


def test_item_url_keeps_the_trailing_slash_style() -> None:
    assert item_url({"id": 6}, "http://api.test/docs/") == "http://api.test/docs/6/"


def test_self_link() -> None:
    assert self_link({"_links": {}}, BASE) is None
    assert self_link({"url": "/v1/docs/1"}, BASE) == "http://api.test/v1/docs/1"
    assert self_link({"url": "/v1/docs/1"}, BASE, links_only=True) is None


@pytest.mark.parametrize(
    ("body", "count"),
    [
        ([{"a": 1}, {"a": 2}, 3], 2),
        ({"_items": [{"a": 1}]}, 1),
        ({"items": [{}, {}]}, 2),
        ({"results": [{}], "count": 1}, 1),
        ({"data": [{}, {}, {}]}, 3),
        ({"value": [{}]}, 1),
        ({"_embedded": {"docs": [{}, {}], "author": {"name": "x"}}}, 3),
        ({"title": "one document"}, 0),
        ("text", 0),
    ],
)
def test_iter_items(body: Any, count: int) -> None:
    assert len(list(iter_items(body))) == count


def test_iter_items_is_bounded() -> None:
    body = [{"id": n} for n in range(50)]
    assert len(list(iter_items(body, LearningConfig(max_items=10)))) == 10
