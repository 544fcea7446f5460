"""The same document resource behind Django REST framework and plain Django views: without
ifmatch (the baseline), with ifmatch, and with each peer, used the way its documentation
shows. Peers that take a tag function (Django's ``condition``) get the version column, the
cheapest honest source; the others hash what they serve."""

from __future__ import annotations

import json
from hashlib import md5
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import condition, conditional_page
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework_extensions.etag.mixins import APIRetrieveETAGMixin

from ifmatch.integrations.django import conditional
from ifmatch.integrations.drf.generics import ConditionalRetrieveUpdateDestroyAPIView

from .models import Document
from .serializers import DocumentSerializer

DOCUMENTS = Document.objects.prefetch_related("items")

# --- Django REST framework ---------------------------------------------------------------------


class BareView(generics.RetrieveUpdateAPIView[Document]):
    """Without ifmatch."""

    queryset = DOCUMENTS
    serializer_class = DocumentSerializer


class IfMatchView(ConditionalRetrieveUpdateDestroyAPIView):
    queryset = DOCUMENTS
    serializer_class = DocumentSerializer


class KeyedView(IfMatchView):
    """The same view honouring Idempotency-Key: the key's record is claimed, then completed in
    the write's transaction."""

    ifmatch_idempotency_keys = True


class CurrentView(IfMatchView):
    """The same view with the current representation in its 412 bodies, so a client can
    retry from the refusal instead of a new GET (the goodput benchmark)."""

    ifmatch_include_current_representation = True


class ExtensionsView(APIRetrieveETAGMixin, generics.RetrieveAPIView[Document]):
    """drf-extensions: the tag is a hash of the instance's field values."""

    queryset = DOCUMENTS
    serializer_class = DocumentSerializer


def optimistic_concurrency_control(compute_etag_func: Any) -> Any:
    """The class decorator from the 2018 Paris.py talk: compare If-Match, then write."""

    def cls_decorator(cls: Any) -> Any:
        def get_decorator(meth: Any) -> Any:
            def g(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
                resp = meth(self, request, *args, **kwargs)
                resp["etag"] = compute_etag_func(self)
                return resp

            return g

        def put_decorator(meth: Any) -> Any:
            def g(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
                etag = request.META.get("HTTP_IF_MATCH")
                if etag != compute_etag_func(self):
                    return Response(status=status.HTTP_412_PRECONDITION_FAILED)
                resp = meth(self, request, *args, **kwargs)
                resp["etag"] = compute_etag_func(self)
                return resp

            return g

        cls.get = get_decorator(cls.get)
        cls.put = put_decorator(cls.put)
        return cls

    return cls_decorator


def _text_md5(view: Any) -> str:
    return md5(view.get_object().text.encode("utf-8")).hexdigest()


@optimistic_concurrency_control(_text_md5)
class ParisView(generics.RetrieveAPIView[Document], generics.UpdateAPIView[Document]):
    queryset = DOCUMENTS
    serializer_class = DocumentSerializer


# --- plain Django ------------------------------------------------------------------------------


def document_json(doc: Document) -> dict[str, Any]:
    items = list(doc.items.values("id", "position", "name", "value", "tags"))  # type: ignore[attr-defined]
    return {"id": doc.pk, "title": doc.title, "text": doc.text, "items": items}


def _apply(request: HttpRequest, doc: Document) -> None:
    data = json.loads(request.body)
    doc.text = data["text"]
    doc.title = data.get("title", doc.title)
    doc.save()


def bare_document(request: HttpRequest, pk: int) -> HttpResponseBase:
    """Without ifmatch."""
    doc = get_object_or_404(Document, pk=pk)
    if request.method == "PUT":
        _apply(request, doc)
    return JsonResponse(document_json(doc))


# The view makes no access decision of its own: its false preconditions (304, 412) are answered
# before it runs, from the version columns alone (docs/security.md, the early mode).
@conditional(Document.objects.all(), answer_before_view=True)
def ifmatch_document(request: HttpRequest, pk: int, obj: Document) -> HttpResponseBase:
    if request.method == "PUT":
        _apply(request, obj)  # obj.save() is the guarded write
    return JsonResponse(document_json(obj))


def _version_tag(request: HttpRequest, pk: int) -> str:
    return f"v{Document.objects.values_list('version', flat=True).get(pk=pk)}"


@condition(etag_func=_version_tag)
def condition_document(request: HttpRequest, pk: int) -> HttpResponseBase:
    """Django's ``condition``: the tag is checked, then the view writes unconditionally."""
    return bare_document(request, pk)


@conditional_page
def middleware_document(request: HttpRequest, pk: int) -> HttpResponseBase:
    """``ConditionalGetMiddleware`` (as a view decorator): the tag is a hash of the body."""
    return bare_document(request, pk)
