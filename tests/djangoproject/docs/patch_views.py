"""DRF views taking merge-patch and JSON Patch bodies: ``/drf/documents/<id>`` requires
If-Match (428 without), ``/drf/open/<id>`` lets an unconditional PATCH through."""

from __future__ import annotations

from typing import Any

from django.urls import path
from rest_framework import serializers

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
