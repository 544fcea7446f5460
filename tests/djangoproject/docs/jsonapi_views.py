"""JSON:API views of the test project (djangorestframework-jsonapi): the document resource
through ifmatch's ``ConditionalModelViewSet``, and through the library's own ``ModelViewSet``
(``naive``) for the race test to catch."""

from __future__ import annotations

from typing import Any

from django.urls import include, path
from rest_framework import permissions
from rest_framework.routers import DefaultRouter
from rest_framework_json_api import parsers, renderers, serializers, views
from rest_framework_json_api.pagination import JsonApiPageNumberPagination

from ifmatch.integrations.drf_jsonapi import ConditionalModelViewSet, ETagMetaMixin

from .models import Document


class JSONAPIDocumentSerializer(ETagMetaMixin, serializers.ModelSerializer[Document]):
    url = serializers.HyperlinkedIdentityField(view_name="jsonapi-document-detail")

    class Meta:
        model = Document
        resource_name = "documents"
        fields = ["title", "text", "url"]
        extra_kwargs = {"text": {"trim_whitespace": False}}


class NaiveJSONAPIDocumentSerializer(serializers.ModelSerializer[Document]):
    class Meta:
        model = Document
        resource_name = "documents"
        fields = ["title", "text"]
        extra_kwargs = {"text": {"trim_whitespace": False}}


class DenyMarked(permissions.BasePermission):
    """An object-level access decision: a request marked ``X-Deny`` may not see any document."""

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        return "X-Deny" not in request.headers


class Pages(JsonApiPageNumberPagination):
    page_size = 50


class JSONAPIDocumentViewSet(ConditionalModelViewSet):
    queryset = Document.objects.order_by("pk")
    serializer_class = JSONAPIDocumentSerializer
    renderer_classes = [renderers.JSONRenderer]
    parser_classes = [parsers.JSONParser]
    permission_classes = [DenyMarked]
    pagination_class = Pages
    resource_name = "documents"


class NaiveJSONAPIDocumentViewSet(views.ModelViewSet):  # type: ignore[misc]
    queryset = Document.objects.order_by("pk")
    serializer_class = NaiveJSONAPIDocumentSerializer
    renderer_classes = [renderers.JSONRenderer]
    parser_classes = [parsers.JSONParser]
    resource_name = "documents"


router = DefaultRouter()
router.register("jsonapi/documents", JSONAPIDocumentViewSet, basename="jsonapi-document")
router.register("naive-jsonapi/documents", NaiveJSONAPIDocumentViewSet, basename="naive-jsonapi")

urlpatterns: list[Any] = [path("", include(router.urls))]
