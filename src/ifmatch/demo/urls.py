"""The demo's URLs: the API, its OpenAPI schema and docs. WhiteNoise serves the page at ``/``."""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .views import DocumentDetail, DocumentHistory, DocumentList

urlpatterns: list[Any] = [
    path("api/documents/", DocumentList.as_view(), name="document-list"),
    path("api/documents/<int:pk>/", DocumentDetail.as_view(), name="document-detail"),
    path("api/documents/<int:pk>/history/", DocumentHistory.as_view(), name="document-history"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
