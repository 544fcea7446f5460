"""djangorestframework-jsonapi through ``ifmatch.integrations.drf_jsonapi``: real requests
through its renderer, parser and exception handler (Django's test client on SQLite, then
gunicorn workers on PostgreSQL)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

import djangoproject

djangoproject.setup()

from django.test import Client  # noqa: E402

from djangoproject.docs.models import Document  # noqa: E402
from djangoproject.harness import gunicorn  # noqa: E402
from ifmatch.check import Options, Status, Verdict, check  # noqa: E402
from integrations.jsonapi_race import race  # noqa: E402
from services import Database  # noqa: E402

JSONAPI = "application/vnd.api+json"


@pytest.fixture
def client() -> Client:
    return Client()


def doc(**values: Any) -> Document:
    document = Document(title=values.get("title", "t"), text=values.get("text", "x"))
    document.save()
    return document


def patch(client: Client, d: Document, headers: dict[str, str], **attributes: Any) -> Any:
    body = {"data": {"type": "documents", "id": str(d.pk), "attributes": attributes}}
    return client.patch(f"/jsonapi/documents/{d.pk}/", body, content_type=JSONAPI, headers=headers)


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == JSONAPI
    errors = response.json()["errors"]
    assert len(errors) == 1 and errors[0]["status"] == str(status)
    return errors[0]  # type: ignore[no-any-return]


def test_the_tag_is_in_the_header_and_in_the_resource_meta(client: Client) -> None:
    d = doc()
    response = client.get(f"/jsonapi/documents/{d.pk}/")
    assert response.status_code == 200 and response["Content-Type"] == JSONAPI
    assert response["ETag"] == '"v1"'
    data = response.json()["data"]
    assert data["meta"] == {"etag": '"v1"'}
    assert "etag" not in data["attributes"]
    assert (
        client.get(f"/jsonapi/documents/{d.pk}/", headers={"If-None-Match": '"v1"'}).status_code
        == 304
    )


def test_writes_are_guarded_and_refusals_are_jsonapi_errors(client: Client) -> None:
    d = doc()
    error = error_of(patch(client, d, {}, text="y"), 428)
    assert error["code"] == "precondition-required" and error["meta"]["current_etag"] == '"v1"'
    written = patch(client, d, {"If-Match": '"v1"'}, text="y")
    assert written.status_code == 200
    assert written["ETag"] == '"v2"' and written.json()["data"]["meta"]["etag"] == '"v2"'
    stale = patch(client, d, {"If-Match": '"v1"'}, text="z")
    error = error_of(stale, 412)
    assert stale["ETag"] == '"v2"'
    assert error["code"] == "etag-mismatch" and error["source"] == {"header": "If-Match"}
    error = error_of(patch(client, d, {"If-Match": "v1, v2"}, text="z"), 400)
    assert error["code"] == "invalid-header"
    d.refresh_from_db()
    assert (d.text, d.version) == ("y", 2)
    error_of(client.delete(f"/jsonapi/documents/{d.pk}/", headers={"If-Match": '"v1"'}), 412)
    gone = client.delete(f"/jsonapi/documents/{d.pk}/", headers={"If-Match": '"v2"'})
    assert gone.status_code == 204
    assert not Document.objects.filter(pk=d.pk).exists()


def test_the_librarys_own_errors_stay_as_it_renders_them(client: Client) -> None:
    d = doc()
    body = {"data": {"type": "other", "id": str(d.pk), "attributes": {"text": "y"}}}
    wrong_type = client.patch(
        f"/jsonapi/documents/{d.pk}/", body, content_type=JSONAPI, headers={"If-Match": '"v9"'}
    )
    # The parser's 409 (a type that is not the endpoint's) comes from the view itself, before
    # any precondition is answered.
    assert wrong_type.status_code == 409 and wrong_type["Content-Type"] == JSONAPI
    assert "ETag" not in wrong_type
    d.refresh_from_db()
    assert d.version == 1


def test_access_decisions_come_first(client: Client) -> None:
    d = doc()
    deny = {"X-Deny": "1"}
    for response in (
        client.get(f"/jsonapi/documents/{d.pk}/", headers={**deny, "If-None-Match": '"v1"'}),
        patch(client, d, {**deny, "If-Match": '"v9"'}, text="y"),
        patch(client, d, deny, text="y"),
    ):
        assert response.status_code == 403, response.content
        assert "ETag" not in response and b"v1" not in response.content
    d.refresh_from_db()
    assert d.version == 1


def test_lists_carry_item_tags_and_a_collection_tag(client: Client) -> None:
    Document.objects.all().delete()  # the list's one page holds exactly these two
    a, b = doc(), doc()
    assert patch(client, b, {"If-Match": '"v1"'}, text="changed").status_code == 200
    listing = client.get("/jsonapi/documents/")
    assert listing.status_code == 200
    items = {item["id"]: item for item in listing.json()["data"]}
    for pk in (a.pk, b.pk):
        own = client.get(f"/jsonapi/documents/{pk}/")
        assert items[str(pk)]["meta"]["etag"] == own["ETag"]
    assert items[str(b.pk)]["meta"]["etag"] == '"v2"'
    tag = listing["ETag"]
    assert client.get("/jsonapi/documents/", headers={"If-None-Match": tag}).status_code == 304
    patch(client, a, {"If-Match": '"v1"'}, text="changed")
    assert client.get("/jsonapi/documents/", headers={"If-None-Match": tag}).status_code == 200


def test_post_answers_201_with_location_and_etag(client: Client) -> None:
    body = {"data": {"type": "documents", "attributes": {"title": "new", "text": "t"}}}
    created = client.post("/jsonapi/documents/", body, content_type=JSONAPI)
    assert created.status_code == 201
    assert created["ETag"] == '"v1"' and created.json()["data"]["meta"]["etag"] == '"v1"'
    assert client.get(created["Location"])["ETag"] == '"v1"'
    stale = client.post(
        "/jsonapi/documents/", body, content_type=JSONAPI, headers={"If-Match": '"c.stale"'}
    )
    error = error_of(stale, 412)
    assert error["meta"]["current_etag"] == client.get("/jsonapi/documents/")["ETag"]


# --- several server processes on PostgreSQL ----------------------------------------------------


@pytest.mark.slow
@pytest.mark.services
def test_no_lost_updates_through_gunicorn_workers(postgres_db: Database) -> None:
    djangoproject.add_database("pg", postgres_db.django_settings())
    guarded = Document(title="race", text="")
    guarded.save(using="pg")
    naive = Document(title="naive race", text="")
    naive.save(using="pg")
    with gunicorn(postgres_db.url, workers=4) as port:
        base = f"http://127.0.0.1:{port}"
        tally, lost = race(base, f"/jsonapi/documents/{guarded.pk}/", writers=12, tokens=5)
        naive_tally, naive_lost = race(
            base, f"/naive-jsonapi/documents/{naive.pk}/", writers=12, tokens=5
        )
    print(
        f"ifmatch: {len(tally.acknowledged)} acknowledged, {tally.conflicts} 412s, "
        f"{len(lost)} lost; the library alone: {len(naive_tally.acknowledged)} acknowledged, "
        f"{len(naive_lost)} lost"
    )
    assert not tally.errors and len(tally.acknowledged) == 60
    assert lost == [], f"{len(lost)} acknowledged writes lost"
    assert tally.conflicts > 0
    assert not naive_tally.errors
    assert naive_lost, "the library's own viewset lost nothing: the harness made no contention"


@pytest.mark.slow
@pytest.mark.services
def test_the_checker_calls_it_safe(postgres_db: Database) -> None:
    djangoproject.add_database("pg", postgres_db.django_settings())
    document = Document(title=f"checked-{uuid.uuid4().hex[:8]}", text="a text")
    document.save(using="pg")
    with gunicorn(postgres_db.url, workers=4) as port:
        url = f"http://127.0.0.1:{port}/jsonapi/documents/{document.pk}/"
        with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=12)) as http:
            report = check(http, url, Options(write=True, rounds=8))
    details = {result.id: (result.status, result.detail) for result in report.results}
    assert report.verdict is Verdict.SAFE, details
    assert not [r.id for r in report.results if r.status in (Status.FAIL, Status.ERROR)], details
    way = report.result("write").data["way"]
    assert (way["method"], way["content_type"], way["body"]) == ("PATCH", JSONAPI, "resource")
    assert report.result("race").status is Status.PASS
