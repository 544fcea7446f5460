"""PostgreSQL SERIALIZABLE can refuse a transaction at its COMMIT, after every statement
succeeded. The DRF views and the plain Django decorator must answer that 412 with a problem
body, never 500, both when they own the transaction and under ``ATOMIC_REQUESTS`` (where
Django commits after the view returned and only ``ConditionalMiddleware`` sees it fail).

The request's transaction T1 reads row B and writes row A; meanwhile T2 reads A (the version
before T1's write) and writes B, and commits first: a read/write cycle, so PostgreSQL fails
T1's COMMIT with SQLSTATE 40001.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import djangoproject
from services import Database

djangoproject.setup()

import psycopg  # noqa: E402
from django.db import connections  # noqa: E402
from django.http import HttpRequest, HttpResponseBase, JsonResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import include, path  # noqa: E402

from djangoproject.docs.models import Document  # noqa: E402
from djangoproject.docs.serializers import DocumentSerializer, document_json  # noqa: E402
from ifmatch.core import PROBLEM_MEDIA_TYPE  # noqa: E402
from ifmatch.integrations.django import conditional  # noqa: E402
from ifmatch.integrations.drf.generics import ConditionalRetrieveUpdateAPIView  # noqa: E402

pytestmark = pytest.mark.services

DSN: dict[str, str] = {}  # how T2 connects, set by the alias fixture


def interfere(a: int, b: int) -> None:
    """T2: read row ``a`` as it was before the request's write, write row ``b``, commit."""
    with psycopg.connect(DSN["dsn"]) as other:
        other.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        other.execute("SELECT text FROM docs_document WHERE id = %s", [a]).fetchall()
        other.execute("UPDATE docs_document SET title = 'T2' WHERE id = %s", [b])
        other.commit()


class InterferingSerializer(DocumentSerializer):
    def update(self, instance: Document, validated_data: dict[str, Any]) -> Document:
        view = self.context["view"]
        alias = instance._state.db
        Document.objects.using(alias).get(pk=view.kwargs["other"])  # T1 reads B
        updated = super().update(instance, validated_data)  # T1 writes A (guarded UPDATE)
        interfere(instance.pk, view.kwargs["other"])
        return updated


class SerializableDocumentView(ConditionalRetrieveUpdateAPIView):
    serializer_class = InterferingSerializer

    def get_queryset(self) -> Any:
        return Document.objects.using(self.kwargs["alias"])


def plain_view(request: HttpRequest, alias: str, pk: int, other: int) -> HttpResponseBase:
    @conditional(Document.objects.using(alias))
    def view(request: HttpRequest, pk: int, obj: Document) -> HttpResponseBase:
        Document.objects.using(alias).get(pk=other)  # T1 reads B
        obj.text = json.loads(request.body)["text"]
        obj.save()  # T1 writes A (guarded UPDATE)
        interfere(obj.pk, other)
        return JsonResponse(document_json(obj))

    return view(request, pk=pk)


urlpatterns = [
    path("drf/<str:alias>/<int:pk>/<int:other>/", SerializableDocumentView.as_view()),
    path("plain/<str:alias>/<int:pk>/<int:other>/", plain_view),
    path("", include("djangoproject.urls")),  # the serializer's links
]


@pytest.fixture(params=[True, False], ids=["atomic-requests", "view-transaction"])
def alias(request: pytest.FixtureRequest, postgres_db: Database) -> str:
    atomic = bool(request.param)
    name = "pg_serializable_atomic" if atomic else "pg_serializable"
    settings = {
        **postgres_db.django_settings(),
        "ATOMIC_REQUESTS": atomic,
        "OPTIONS": {"isolation_level": psycopg.IsolationLevel.SERIALIZABLE},
    }
    djangoproject.add_database(name, settings)
    DSN["dsn"] = psycopg.conninfo.make_conninfo(
        host=postgres_db.host,
        port=postgres_db.port,
        user=postgres_db.user,
        password=postgres_db.password or None,
        dbname=postgres_db.name,
    )
    return name


@pytest.mark.parametrize("style", ["drf", "plain"])
@override_settings(ROOT_URLCONF=__name__)
def test_a_serialization_failure_at_commit_is_412_not_500(alias: str, style: str) -> None:
    a = Document(title="a", text="before")
    a.save(using=alias)
    b = Document(title="b", text="")
    b.save(using=alias)
    response = Client().put(
        f"/{style}/{alias}/{a.pk}/{b.pk}/",
        json.dumps({"title": "a", "text": "mine"}),
        content_type="application/json",
        headers={"If-Match": '"v1"'},
    )
    connections[alias].close()
    assert response.status_code == 412, response.content
    assert response["Content-Type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == 412
    if "current_etag" in body:  # read again after the failed transaction, on its database
        assert body["current_etag"] == '"v1"' and response["ETag"] == '"v1"'
    stored = Document.objects.using(alias).get(pk=a.pk)
    assert (stored.version, stored.text) == (1, "before")  # the refused write left no trace
    assert Document.objects.using(alias).get(pk=b.pk).title == "T2"  # T2 did commit
