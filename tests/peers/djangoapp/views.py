"""The document behind Django's ``condition`` and behind drf-extensions, as their docs show.

``condition`` gets the version column as its tag function (its cheapest honest tag source);
drf-extensions' ``APIETAGMixin`` hashes the instance's values and requires If-Match on writes
(428). Both compare the tag first, and the write runs afterwards as a separate statement.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import F
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import condition, require_http_methods
from rest_framework import serializers, viewsets
from rest_framework_extensions.etag.mixins import APIETAGMixin

from .models import Document

# --- Django's condition --------------------------------------------------------------------


def _document_json(doc: Document) -> dict[str, Any]:
    return {"id": doc.pk, "title": doc.title, "text": doc.text}


def _version_tag(request: HttpRequest, pk: int) -> str:
    return f"v{Document.objects.values_list('version', flat=True).get(pk=pk)}"


@require_http_methods(["GET", "HEAD", "PUT"])
@condition(etag_func=_version_tag)
def condition_document(request: HttpRequest, pk: int) -> HttpResponseBase:
    doc = get_object_or_404(Document, pk=pk)
    if request.method == "PUT":
        data = json.loads(request.body)
        doc.title = data.get("title", doc.title)
        doc.text = data["text"]
        doc.version = F("version") + 1  # type: ignore[assignment]
        doc.save()
        doc.refresh_from_db()
    return JsonResponse(_document_json(doc))


# --- drf-extensions ------------------------------------------------------------------------


class DocumentSerializer(serializers.ModelSerializer[Document]):
    class Meta:
        model = Document
        fields = ["id", "title", "text"]


class DocumentViewSet(APIETAGMixin, viewsets.ModelViewSet[Document]):  # type: ignore[misc]
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
