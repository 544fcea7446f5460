"""DRF and plain Django views taking merge-patch and JSON Patch bodies: ``/drf/documents/<id>``
and ``/django/documents/<id>`` require If-Match (428 without), ``/drf/open/<id>`` and
``/django/open/<id>`` let an unconditional PATCH through."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.urls import path
from rest_framework import serializers

from ifmatch.core.patching import PatchError
from ifmatch.integrations.django import conditional as django_conditional
from ifmatch.integrations.django_patch import patchable
from ifmatch.integrations.drf.generics import ConditionalRetrieveUpdateAPIView
from ifmatch.integrations.drf.patch import PatchMixin

from .models import PatchDocument


class StrictCharField(serializers.CharField):
    """A string, not a number DRF would turn into one."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class PatchDocumentSerializer(serializers.ModelSerializer[PatchDocument]):
    title = StrictCharField(max_length=200)

    class Meta:
        model = PatchDocument
        fields = ["title", "tokens"]

    def validate_tokens(self, tokens: Any) -> Any:
        if not isinstance(tokens, dict) or any(value is not True for value in tokens.values()):
            raise serializers.ValidationError("an object whose members are all true")
        return tokens

    def validate(self, attrs: Any) -> Any:
        extra = sorted(set(self.initial_data) - set(self.fields))
        if extra:
            raise serializers.ValidationError(f"unknown members: {extra}")
        return attrs


class PatchDocumentView(PatchMixin, ConditionalRetrieveUpdateAPIView):
    queryset = PatchDocument.objects.all()
    serializer_class = PatchDocumentSerializer
    ifmatch_allow_put_create = True


class OpenPatchDocumentView(PatchDocumentView):
    ifmatch_require_precondition = ()


urlpatterns = [
    path("drf/documents/<str:pk>", PatchDocumentView.as_view()),
    path("drf/open/<str:pk>", OpenPatchDocumentView.as_view()),
]


# Plain Django: the same resource through ifmatch.integrations.django_patch.


def _represent(obj: PatchDocument) -> dict[str, Any]:
    return {"title": obj.title, "tokens": obj.tokens}


def _update(obj: PatchDocument, document: Any) -> None:
    serializer = PatchDocumentSerializer(data=document)
    if not serializer.is_valid():
        raise PatchError(422, "the patched document is not valid", errors=serializer.errors)
    obj.title, obj.tokens = serializer.validated_data["title"], serializer.validated_data["tokens"]


def _plain(request: HttpRequest, pk: str, obj: PatchDocument | None) -> HttpResponseBase:
    if request.method == "OPTIONS":
        response = HttpResponse()
        response["Allow"] = "GET, HEAD, PUT, PATCH, OPTIONS"
        return response
    if request.method == "PUT":
        document = json.loads(request.body)
        created = obj is None
        if obj is None:
            obj = PatchDocument(pk=pk)
        try:
            _update(obj, document)
        except PatchError as error:
            return JsonResponse({"errors": error.errors}, status=422)
        obj.save(expect=request.ifmatch.expectation)  # type: ignore[attr-defined]
        request.ifmatch.instance = obj  # type: ignore[attr-defined]
        return JsonResponse(_represent(obj), status=201 if created else 200)
    assert obj is not None
    return JsonResponse(_represent(obj))


_patchable = patchable(represent=_represent, update=_update)
plain_patch_document = django_conditional(PatchDocument, allow_create=True)(_patchable(_plain))
plain_open_patch_document = django_conditional(
    PatchDocument, allow_create=True, require_precondition=()
)(_patchable(_plain))

urlpatterns += [
    path("django/documents/<str:pk>", plain_patch_document),
    path("django/open/<str:pk>", plain_open_patch_document),
]
