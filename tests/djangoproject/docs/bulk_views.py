"""Bulk conditional writes on the document collection (``docs/bulk.md``): the viewset's
``bulk_update`` at the collection's batch URL, and a scoped variant whose queryset hides some
documents."""

from __future__ import annotations

from typing import Any

from django.urls import path

from ifmatch.integrations.drf.bulk import BulkUpdateAPIView, BulkUpdateMixin

from .models import Document
from .serializers import PlainDocumentSerializer
from .views import DocumentViewSet


class BulkDocumentViewSet(BulkUpdateMixin, DocumentViewSet):
    bulk_max_items = 5


class ScopedBulkView(BulkUpdateAPIView):
    """Only documents whose title is not "hidden" are the caller's."""

    queryset = Document.objects.exclude(title="hidden")
    serializer_class = PlainDocumentSerializer
    bulk_max_items = 5


urlpatterns: list[Any] = [
    path("bulk/documents:batchUpdate/", BulkDocumentViewSet.as_view({"post": "bulk_update"})),
    path(
        "bulk/documents/<int:pk>/",
        BulkDocumentViewSet.as_view(
            {"get": "retrieve", "put": "update", "patch": "partial_update"}
        ),
    ),
    path("bulk/scoped:batchUpdate/", ScopedBulkView.as_view()),
]
