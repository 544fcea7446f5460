"""The demo's API views: ifmatch's conditional generic views over :class:`Document`.

There is no precondition logic here. ``ConditionalListCreateAPIView`` and
``ConditionalRetrieveUpdateDestroyAPIView`` send strong ``ETag`` and ``Last-Modified`` headers,
answer ``304`` to ``If-None-Match``, ``412`` to a stale ``If-Match`` (also when the guarded
``UPDATE`` loses a race), ``428`` to an unconditional write and ``400`` to a malformed header,
all as ``application/problem+json`` carrying the current ``ETag``.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics

from ifmatch.integrations.drf.generics import (
    ConditionalListCreateAPIView,
    ConditionalRetrieveUpdateDestroyAPIView,
)

from .models import Document, Revision
from .serializers import AUTHOR_HEADER, DocumentSerializer, RevisionSerializer

__all__ = ["DocumentDetail", "DocumentHistory", "DocumentList"]


_author = extend_schema(
    parameters=[
        OpenApiParameter(
            AUTHOR_HEADER,
            OpenApiTypes.STR,
            OpenApiParameter.HEADER,
            description="Who saves (the history's author), unless the body names an author.",
        )
    ]
)


@extend_schema_view(post=_author)
class DocumentList(ConditionalListCreateAPIView):
    """``GET`` lists the documents (with a collection ``ETag``); ``POST`` creates one (201,
    ``Location``, ``ETag``)."""

    queryset = Document.objects.order_by("id")
    serializer_class = DocumentSerializer


@extend_schema_view(put=_author, patch=_author)
class DocumentDetail(ConditionalRetrieveUpdateDestroyAPIView):
    """One document: ``GET``/``HEAD`` (304), ``PUT``/``PATCH``/``DELETE`` with ``If-Match``
    (412, 428). A ``PUT`` to a new id with ``If-None-Match: *`` creates it."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    ifmatch_allow_put_create = True


class DocumentHistory(generics.ListAPIView[Revision]):
    """Who saved which version of a document, newest first."""

    serializer_class = RevisionSerializer

    def get_queryset(self) -> QuerySet[Revision]:
        document = get_object_or_404(Document.objects.only("id"), pk=self.kwargs["pk"])
        return Revision.objects.filter(document=document).order_by("-version")
