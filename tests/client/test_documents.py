"""Documents: where to write them and which links they name."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ifmatch.client import Document, Response
from ifmatch.core import ETag

URL = "http://api.test/docs/1"


def test_from_response_reads_the_validators_and_the_body() -> None:
    response = Response(
        200,
        (
            ("Content-Type", "application/hal+json"),
            ("ETag", '"v4"'),
            ("Last-Modified", "Wed, 01 May 2024 12:00:00 GMT"),
        ),
        json.dumps({"title": "T"}).encode(),
    )
    document = Document.from_response(URL, response)
    assert document == Document(
        URL, {"title": "T"}, ETag("v4"), datetime(2024, 5, 1, 12, tzinfo=UTC)
    )
    assert document.validators.etag == ETag("v4")


def test_from_response_without_a_json_body() -> None:
    document = Document.from_response(URL, Response(204, (("ETag", '"v5"'),)))
    assert (document.data, document.etag) == (None, ETag("v5"))


def test_self_url() -> None:
    assert Document(URL, {"_links": {"self": {"href": "/docs/9"}}}).self_url == (
        "http://api.test/docs/9"
    )
    assert Document(URL, {"links": {"self": "/docs/8"}}).self_url == "http://api.test/docs/8"
    assert Document(URL, {"url": "/docs/7"}).self_url == URL
    assert Document(URL, [1]).self_url == URL


def test_links() -> None:
    data = {
        "_links": {
            "self": {"href": "/docs/1"},
            "next": {"href": "/docs/2"},
            "author": [{"href": "http://people.test/ada"}],
            "broken": {"title": "no href"},
        }
    }
    document = Document("http://api.test/docs/1?x=1", data, ETag("v1"))
    assert document.link("next") == "http://api.test/docs/2"
    assert document.link("author") == "http://people.test/ada"
    assert document.link("broken") is None and document.link("missing") is None
    assert Document(URL, [1, 2]).link("self") is None
