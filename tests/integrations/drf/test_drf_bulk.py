"""Bulk conditional writes through Django REST framework: the status table on the scoped
view, the viewset's list route, serializer validation, and the lost-update race through
gunicorn workers on PostgreSQL (atomic and per item)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import djangoproject
from services import Database

djangoproject.setup()

from django.test import Client, override_settings  # noqa: E402

from djangoproject.docs.models import Document  # noqa: E402
from djangoproject.harness import gunicorn  # noqa: E402
from integrations.bulk_cases import (  # noqa: E402
    CASES,
    SEEDED,
    BulkCase,
    batch,
    check,
    item,
    translated,
)
from integrations.bulk_race import assert_clean, bulk_race  # noqa: E402


def seed_documents() -> dict[str, int]:
    ids = {}
    for name in SEEDED:
        document = Document(title="hidden" if name == "locked" else name, text="old")
        document.save()
        ids[name] = int(document.pk)
    ids["zz"] = max(ids.values()) + 10_000
    return ids


def get(key: Any) -> tuple[int, str] | None:
    found = Document.objects.filter(pk=key).first()
    return None if found is None else (found.version, found.text)


def post(url: str, body: Any, **headers: str) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    content_type = headers.pop("content_type", "application/json")
    return Client().generic("POST", url, data, content_type=content_type, headers=headers)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_status_table(case: BulkCase) -> None:
    ids = seed_documents()
    sent = translated(case, ids, denied=404)
    response = post(
        "/bulk/scoped:batchUpdate/", sent.encoded(), content_type=case.content_type, **case.headers
    )
    headers = dict(response.items())
    seeded = [ids[name] for name in SEEDED]
    check(sent, response.status_code, headers, response.content, get, seeded=seeded)


def test_the_viewset_batch_route_writes_and_items_read_back() -> None:
    ids = seed_documents()
    body = batch(item(ids["a"], text="first"), item(ids["b"], None, version=1, text="second"))
    response = post("/bulk/documents:batchUpdate/", body)
    assert response.status_code == 200, response.content
    results = response.json()["items"]
    assert [r["etag"] for r in results] == ['"v2"', '"v2"']
    detail = Client().get(f"/bulk/documents/{ids['a']}/")
    assert detail["ETag"] == '"v2"' and detail.json()["text"] == "first"
    assert get(ids["b"]) == (2, "second")


def test_serializer_errors_and_server_kept_fields_are_item_400s() -> None:
    ids = seed_documents()
    too_long = {"id": ids["a"], "ifMatch": '"v1"', "data": {"title": "x" * 201}}
    version = {"id": ids["b"], "ifMatch": '"v1"', "data": {"version": 7}}
    response = post(
        "/bulk/documents:batchUpdate/", batch(too_long, version, item(ids["c"]), atomic=False)
    )
    first, second, third = response.json()["items"]
    assert first["status"] == 400 and first["problem"]["pointer"] == "/items/0/data/title"
    assert "200" in first["problem"]["detail"]
    assert second["status"] == 400 and second["problem"]["pointer"] == "/items/1/data/version"
    assert third["status"] == 200
    assert get(ids["a"]) == (1, "old") and get(ids["b"]) == (1, "old")


def test_settings_shape_the_items_policy() -> None:
    ids = seed_documents()
    with override_settings(IFMATCH={"REQUIRE_PRECONDITION": ("PUT",)}):
        response = post("/bulk/scoped:batchUpdate/", batch(item(ids["a"], None)))
    assert response.status_code == 200 and get(ids["a"]) == (2, "new " + str(ids["a"]))
    with override_settings(IFMATCH={"ERROR_FORMAT": "jsonapi"}):
        refused = post("/bulk/scoped:batchUpdate/", batch(item(ids["b"], '"v9"')))
    assert refused.status_code == 412 and refused["Content-Type"] == "application/vnd.api+json"


# --- through gunicorn workers on PostgreSQL ----------------------------------------------


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.parametrize("atomic", [True, False], ids=["atomic", "per-item"])
def test_concurrent_bulk_writers_lose_nothing(postgres_db: Database, atomic: bool) -> None:
    djangoproject.add_database("postgresql", postgres_db.django_settings())
    keys = []
    for n in range(4):
        document = Document(title=f"bulk-race-{n}", text="")
        document.save(using="postgresql")
        keys.append(int(document.pk))
    writers, rounds = 8, 4
    with gunicorn(postgres_db.url, workers=4) as port:
        result = bulk_race(
            f"http://127.0.0.1:{port}",
            "/bulk/documents:batchUpdate/",
            lambda key: f"/bulk/documents/{key}/",
            keys,
            writers=writers,
            rounds=rounds,
            atomic=atomic,
        )
    assert_clean(result, writers=writers, rounds=rounds)
