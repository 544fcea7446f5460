"""djangorestframework-jsonapi: race-free conditional requests for JSON:API viewsets.

``ifmatch.integrations.drf``'s ``ConditionalMixin``, made to speak JSON:API::

    from ifmatch.integrations.drf_jsonapi import ConditionalModelViewSet, ETagMetaMixin
    from rest_framework_json_api import serializers

    class DocumentSerializer(ETagMetaMixin, serializers.ModelSerializer):
        class Meta:
            model = Document                      # a VersionedModel
            fields = ["title", "text"]

    class DocumentViewSet(ConditionalModelViewSet):
        queryset = Document.objects.all()
        serializer_class = DocumentSerializer

Everything the DRF integration does holds (``ETag`` / ``Last-Modified``, 304, guarded
``PATCH`` / ``DELETE`` with 412 / 428, collection tags, ``POST`` answering 201 with ``ETag`` and
``Location``, ``Idempotency-Key``), through djangorestframework-jsonapi's own renderer, parser
and exception handler, and:

- every answer ifmatch gives (304 aside: 400, 404, 409, 412, 428, 503) is a JSON:API error
  document (``application/vnd.api+json``), whatever ``IFMATCH["ERROR_FORMAT"]`` says, so one
  project can serve JSON:API and plain views side by side;
- ``ETagMetaMixin`` puts each resource object's entity-tag in its ``meta``
  (``"meta": {"etag": "\\"v3\\""}``), in lists too, so a client can update an item straight
  from a list with ``If-Match``;
- a related resource (``/documents/7/author``, ``RelatedMixin``) is answered as the library
  answers it, without the parent's validators: its representation is not the parent's.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponseBase
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework_json_api import views as jsonapi_views

from ..core import JSONAPI_MEDIA_TYPE, PROBLEM_MEDIA_TYPE, jsonapi_errors
from .drf.mixins import ConditionalMixin
from .drf.serializers import ETagField

__all__ = [
    "META_NAME",
    "ConditionalModelViewSet",
    "ConditionalReadOnlyModelViewSet",
    "ETagMetaMixin",
    "JSONAPIConditionalMixin",
]

#: The ``meta`` member of a resource object holding its entity-tag.
META_NAME = "etag"


def jsonapi_error_response(response: HttpResponseBase) -> HttpResponseBase:
    """``response`` with an RFC 9457 problem body turned into a JSON:API error document (the
    other responses as they are)."""
    media_type = response.get("Content-Type", "").split(";")[0].strip().lower()
    if media_type != PROBLEM_MEDIA_TYPE or not hasattr(response, "content"):
        return response
    try:
        problem = json.loads(response.content)
    except ValueError:
        return response
    if not isinstance(problem, dict) or "status" not in problem:
        return response
    response.content = json.dumps(jsonapi_errors(problem), separators=(",", ":")).encode()
    response["Content-Type"] = JSONAPI_MEDIA_TYPE
    return response


class JSONAPIConditionalMixin(ConditionalMixin):
    """``ConditionalMixin`` for djangorestframework-jsonapi views: put it first in the bases.

    Its answers are JSON:API error documents, and a related resource (``retrieve_related``)
    carries no validators of the parent it was reached through.
    """

    def get_object(self) -> Any:
        if getattr(self, "action", None) == "retrieve_related":
            # The body is the related resource, not this one: nothing of this one's version
            # applies to it (a 304 to the parent's tag would hide a change to the related row).
            return GenericAPIView.get_object(self)  # type: ignore[arg-type]
        return super().get_object()

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)
        return jsonapi_error_response(response)


class ETagMetaMixin:
    """Serializer mixin: the instance's entity-tag in the resource object's ``meta``.

    Adds a read-only ``etag`` field (the full tag, ``"v3"`` quoted, exactly as in the ``ETag``
    header, so it goes into ``If-Match`` as is) and lists it in ``Meta.meta_fields``, which
    djangorestframework-jsonapi renders into ``meta`` rather than ``attributes``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = getattr(cls, "_declared_fields", None)
        if isinstance(declared, dict) and META_NAME not in declared:
            # Declared, as djangorestframework-jsonapi wants its meta fields to be.
            setattr(cls, "_declared_fields", {**declared, META_NAME: ETagField(quoted=True)})  # noqa: B010
        meta = getattr(cls, "Meta", None)
        if meta is not None:
            names = tuple(getattr(meta, "meta_fields", ()))
            if META_NAME not in names:
                meta.meta_fields = (*names, META_NAME)


class ConditionalModelViewSet(JSONAPIConditionalMixin, jsonapi_views.ModelViewSet):  # type: ignore[misc]
    """djangorestframework-jsonapi's ``ModelViewSet``, conditional."""


class ConditionalReadOnlyModelViewSet(
    JSONAPIConditionalMixin,
    jsonapi_views.ReadOnlyModelViewSet,  # type: ignore[misc]
):
    """djangorestframework-jsonapi's ``ReadOnlyModelViewSet``: validators and 304."""
