"""One strong tag per representation (RFC 9110 §8.8.3) in DRF: a view with the JSON and the
browsable HTML renderers (DRF's defaults) tags each representation on its own, sends
``Vary: Accept``, answers 304 only to the tag of the representation asked for, and checks a
write against the representation its ``If-Match`` names, answering with the tag of the
representation it negotiates."""

from __future__ import annotations

import json
from typing import Any

import pytest

import djangoproject

djangoproject.setup()

from django.test import Client  # noqa: E402

from djangoproject.docs.models import Document  # noqa: E402
from ifmatch.core import version_etag  # noqa: E402

HTML = "text/html"
JSON = "application/json"


@pytest.fixture
def doc() -> Document:
    document = Document(title="t", text="x")
    document.save()
    return document


def send(
    method: str, path: str, accept: str, body: dict[str, Any] | None = None, **headers: str
) -> Any:
    client = Client()
    return client.generic(
        method,
        path,
        data=b"" if body is None else json.dumps(body),
        content_type="application/json",
        headers={"Accept": accept, **headers},
    )


def varies(response: Any) -> bool:
    return "accept" in {v.strip().lower() for v in response.get("Vary", "").split(",")}


def test_each_representation_has_its_own_tag(doc: Document) -> None:
    path = f"/api/documents/{doc.pk}/"
    as_json = send("GET", path, JSON)
    as_html = send("GET", path, HTML)
    assert as_json.status_code == as_html.status_code == 200
    assert as_html["Content-Type"].startswith(HTML)
    assert as_json["ETag"] == str(version_etag(1))
    assert as_html["ETag"] == str(version_etag(1, variant=HTML))
    assert varies(as_json) and varies(as_html)


def test_a_304_only_for_the_representation_asked_for(doc: Document) -> None:
    path = f"/api/documents/{doc.pk}/"
    json_tag = str(version_etag(1))
    html_tag = str(version_etag(1, variant=HTML))
    # The issue: an HTML request with the JSON's tag got 304 and a cache served JSON as HTML.
    crossed = send("GET", path, HTML, **{"If-None-Match": json_tag})
    assert crossed.status_code == 200 and crossed["ETag"] == html_tag
    same = send("GET", path, HTML, **{"If-None-Match": html_tag})
    assert same.status_code == 304 and same["ETag"] == html_tag and varies(same)
    head = send("HEAD", path, JSON, **{"If-None-Match": json_tag})
    assert head.status_code == 304 and varies(head)


def test_a_write_is_checked_against_the_representation_its_tag_names(doc: Document) -> None:
    path = f"/api/documents/{doc.pk}/"
    html_v1 = str(version_etag(1, variant=HTML))
    # Read as HTML, write accepting JSON: the HTML tag of the current version is current.
    first = send("PUT", path, JSON, {"title": "a", "text": "1"}, **{"If-Match": html_v1})
    assert first.status_code == 200, first.content
    assert first["ETag"] == str(version_etag(2))  # the JSON response's tag
    # Read as JSON, write accepting HTML: the JSON tag is current too.
    second = send("PUT", path, HTML, {"title": "b", "text": "2"}, **{"If-Match": '"v2"'})
    assert second.status_code == 200, second.content
    assert second["ETag"] == str(version_etag(3, variant=HTML)) and varies(second)
    # A stale tag of either representation is refused; the 412 names the tag of the
    # representation the client negotiates (the one a GET with its Accept would get).
    for stale in ('"v2"', str(version_etag(2, variant=HTML))):
        refused = send("PUT", path, JSON, {"title": "c", "text": "3"}, **{"If-Match": stale})
        assert refused.status_code == 412
        assert refused["ETag"] == '"v3"' and refused.json()["current_etag"] == '"v3"'
    doc.refresh_from_db()
    assert (doc.version, doc.title) == (3, "b")


def test_a_tag_naming_no_representation_is_refused(doc: Document) -> None:
    path = f"/api/documents/{doc.pk}/"
    other = str(version_etag(1, variant="application/xml"))
    refused = send("PUT", path, JSON, {"title": "x", "text": "x"}, **{"If-Match": other})
    assert refused.status_code == 412
    doc.refresh_from_db()
    assert doc.version == 1


def test_collection_tags_differ_per_representation(doc: Document) -> None:
    as_json = send("GET", "/api/documents/", JSON)
    as_html = send("GET", "/api/documents/", HTML)
    assert as_json["ETag"] != as_html["ETag"]
    assert varies(as_json) and varies(as_html)
    crossed = send("GET", "/api/documents/", HTML, **{"If-None-Match": as_json["ETag"]})
    assert crossed.status_code == 200
    same = send("GET", "/api/documents/", JSON, **{"If-None-Match": as_json["ETag"]})
    assert same.status_code == 304 and varies(same)
