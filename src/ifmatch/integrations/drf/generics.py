"""Ready-made conditional generic views and viewsets.

The talk's ``RetrieveAPIView, UpdateAPIView`` document view becomes::

    class DocumentView(ConditionalRetrieveUpdateDestroyAPIView):
        queryset = Document.objects.all()
        serializer_class = DocumentSerializer
"""

from __future__ import annotations

from typing import Any

from rest_framework import generics, viewsets

from .mixins import ConditionalMixin

__all__ = [
    "ConditionalListCreateAPIView",
    "ConditionalModelViewSet",
    "ConditionalReadOnlyModelViewSet",
    "ConditionalRetrieveAPIView",
    "ConditionalRetrieveUpdateAPIView",
    "ConditionalRetrieveUpdateDestroyAPIView",
]


class ConditionalRetrieveAPIView(ConditionalMixin, generics.RetrieveAPIView[Any]):  # type: ignore[misc]
    """GET/HEAD with ETag, Last-Modified and 304."""


class ConditionalRetrieveUpdateAPIView(ConditionalMixin, generics.RetrieveUpdateAPIView[Any]):  # type: ignore[misc]
    """GET/HEAD plus guarded PUT/PATCH (412/428, new ETag on success)."""


class ConditionalRetrieveUpdateDestroyAPIView(  # type: ignore[misc]
    ConditionalMixin, generics.RetrieveUpdateDestroyAPIView[Any]
):
    """GET/HEAD plus guarded PUT/PATCH/DELETE."""


class ConditionalListCreateAPIView(ConditionalMixin, generics.ListCreateAPIView[Any]):  # type: ignore[misc]
    """A list with a collection ETag (304) and POST answering 201 with ETag and Location."""


class ConditionalModelViewSet(ConditionalMixin, viewsets.ModelViewSet[Any]):  # type: ignore[misc]
    """Every ModelViewSet action, conditional."""


class ConditionalReadOnlyModelViewSet(ConditionalMixin, viewsets.ReadOnlyModelViewSet[Any]):  # type: ignore[misc]
    """list and retrieve with validators and 304."""
