"""The shared RFC 9110 conformance table, driven through real requests against a DRF viewset,
a ready-made generic view, a class-decorated view and a plain Django view; every exchange is
linted with httplint."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import djangoproject
from conformance import HTTP_CASES, Case, render_headers
from ifmatch.core import PROBLEM_MEDIA_TYPE, parse_etag, parse_http_date, version_etag

djangoproject.setup()

from djangoproject.client import LintingClient  # noqa: E402
from djangoproject.docs.models import Document  # noqa: E402
from djangoproject.harness import call, gunicorn  # noqa: E402

VIEWS = {
    "viewset": "/api/documents/{pk}/",
    "generic": "/generic/documents/{pk}/",
    "decorated": "/decorated/documents/{pk}/",
    "plain-django": "/plain/documents/{pk}/",
}


def _fresh_key() -> int:
    from django.db.models import Max

    return int(Document.objects.aggregate(m=Max("pk"))["m"] or 0) + 1000


@pytest.fixture(scope="module")
def client() -> LintingClient:
    # The table sends deliberately malformed precondition headers; httplint's notes on those
    # request fields are the point of the case. Everything else, and every response, must lint
    # clean.
    return LintingClient(fields_under_test=True)


def _validators(client: LintingClient, url: str) -> tuple[Any, datetime]:
    response = client.request("GET", url)
    assert response.status_code == 200
    last_modified = parse_http_date(response["Last-Modified"])
    assert last_modified is not None
    return parse_etag(response["ETag"]), last_modified


def _expected(status: int, case: Case) -> bool:
    if case.expect == "proceed":
        return 200 <= status < 300
    return status == int(case.expect)


@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("case", HTTP_CASES, ids=str)
def test_conformance(client: LintingClient, view: str, case: Case) -> None:
    doc = Document(title="t", text="x")
    doc.save()
    url = VIEWS[view].format(pk=doc.pk)
    etag, last_modified = _validators(client, url)
    target = url if case.exists else VIEWS[view].format(pk=_fresh_key())
    headers = render_headers(case, etag, last_modified)
    body = {"title": "changed", "text": "y"} if case.method in {"PUT", "PATCH"} else None
    response = client.request(case.method, target, headers, body)
    assert _expected(response.status_code, case), (
        f"{case.id}: {case.method} {headers} -> {response.status_code} "
        f"{response.content[:300]!r}, expected {case.expect}"
    )
    doc_after = Document.objects.filter(pk=doc.pk).first()
    written = case.method in {"PUT", "PATCH", "DELETE"} and case.expect == "proceed"
    if case.exists and case.method in {"PUT", "PATCH", "DELETE"} and not written:
        assert doc_after is not None and doc_after.version == doc.version, "refused write applied"
    if written and case.method != "DELETE" and case.exists:
        assert doc_after is not None and doc_after.version == doc.version + 1
        assert response["ETag"] == f'"v{doc_after.version}"'
    if written and not case.exists:
        assert response.status_code == 201
        assert response["ETag"] == '"v1"' and "Location" in response
    if response.status_code in {412, 428}:
        assert response["Content-Type"] == "application/problem+json"
        if case.exists:
            assert response["ETag"] == str(etag)
    if response.status_code == 304:
        assert response["ETag"] == str(etag)
        assert response.content == b""


def test_every_exchange_passes_httplint(client: LintingClient) -> None:
    # Runs after the table (same module-scoped client); also lints a few more shapes.
    doc = Document(title="t", text="x")
    doc.save()
    client.request("GET", "/api/documents/")
    client.request("HEAD", f"/api/documents/{doc.pk}/")
    client.request("POST", "/generic/documents/", body={"title": "n"})
    assert client.problems == []


@pytest.mark.slow
def test_an_over_long_precondition_reaches_the_view_through_gunicorn(tmp_path: Path) -> None:
    """gunicorn refuses header fields over 8190 bytes by itself (431, no problem body); the
    test servers raise the limit as the demo does, so ifmatch judges the header: 400."""
    path = tmp_path / "db.sqlite3"
    djangoproject.add_database(
        "long_header", {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    )
    doc = Document(title="t", text="x")
    doc.save(using="long_header")
    case = next(case for case in HTTP_CASES if case.id == "put-im-too-long")
    headers = dict(render_headers(case, version_etag(1), datetime.now(UTC)))
    with gunicorn(f"sqlite://{path}", workers=1) as port:
        status, received, body = call(
            port, "PUT", f"/api/documents/{doc.pk}/", headers, {"title": "y", "text": "z"}
        )
    assert status == 400, (status, body[:200])
    assert received["content-type"] == PROBLEM_MEDIA_TYPE
    assert json.loads(body)["code"] == "invalid-header"
    assert Document.objects.using("long_header").get(pk=doc.pk).version == 1
