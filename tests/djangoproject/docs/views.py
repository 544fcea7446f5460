"""Views of the test project: the same document resource behind every integration style, the
talk's naive decorator as a reference, and unconditional baselines for the benchmarks."""

from __future__ import annotations

import json
from hashlib import md5
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from rest_framework import generics, status
from rest_framework.response import Response

from ifmatch.integrations.django import conditional as django_conditional
from ifmatch.integrations.drf.decorators import conditional
from ifmatch.integrations.drf.generics import (
    ConditionalListCreateAPIView,
    ConditionalModelViewSet,
    ConditionalRetrieveAPIView,
    ConditionalRetrieveUpdateDestroyAPIView,
)

from .models import Document, Folder
from .serializers import DocumentSerializer, FolderSerializer, document_json


class DocumentViewSet(ConditionalModelViewSet):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    ifmatch_allow_put_create = True


class KeyedDocumentViewSet(ConditionalModelViewSet):
    """Writes honour Idempotency-Key; DELETE requires one."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    ifmatch_allow_put_create = True
    ifmatch_idempotency_keys = True
    ifmatch_idempotency_required = ("DELETE",)


class GenericDocumentView(ConditionalRetrieveUpdateDestroyAPIView):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    ifmatch_allow_put_create = True


class GenericDocumentList(ConditionalListCreateAPIView):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


@conditional(allow_put_create=True)
class DecoratedDocumentView(generics.RetrieveUpdateDestroyAPIView[Document]):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


@conditional(scheme="version")
class VersionedDocumentView(generics.RetrieveUpdateDestroyAPIView[Document]):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


@conditional(warn_only=True)
class WarnOnlyDocumentView(generics.RetrieveUpdateDestroyAPIView[Document]):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


@conditional(require_precondition=(), include_current_representation=True)
class OptionalDocumentView(generics.RetrieveUpdateDestroyAPIView[Document]):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


class FolderView(ConditionalRetrieveAPIView):
    queryset = Folder.objects.prefetch_related("items")
    serializer_class = FolderSerializer


@django_conditional(Document, allow_create=True)
def plain_document(request: HttpRequest, pk: str, obj: Document | None) -> HttpResponseBase:
    if request.method == "DELETE":
        assert obj is not None
        obj.delete()
        return HttpResponse(status=204)
    if request.method in {"PUT", "PATCH"}:
        data = json.loads(request.body or b"{}")
        if obj is None:
            obj = Document(pk=int(pk))
            obj.title, obj.text = data.get("title", ""), data.get("text", "")
            obj.save(expect=request.ifmatch.expectation)  # type: ignore[attr-defined]
            request.ifmatch.instance = obj  # type: ignore[attr-defined]
            return JsonResponse(document_json(obj), status=201)
        for name in ("title", "text"):
            if name in data:
                setattr(obj, name, data[name])
        obj.save()
    assert obj is not None
    return JsonResponse(document_json(obj))


# The same view with Idempotency-Key honoured (and required on DELETE).
plain_document_keyed = django_conditional(
    Document, allow_create=True, idempotency_keys=True, idempotency_required=("DELETE",)
)(plain_document.__wrapped__)  # type: ignore[attr-defined]

# The same view, answering false preconditions before it runs: it makes no access decision.
plain_document_early = django_conditional(Document, allow_create=True, answer_before_view=True)(
    plain_document.__wrapped__  # type: ignore[attr-defined]
)

# The same view, refusing every unquoted entity-tag (If-Match: v3 included) with 400.
plain_document_strict = django_conditional(
    Document, allow_create=True, accept_bare_version_token=False
)(
    plain_document.__wrapped__  # type: ignore[attr-defined]
)


def plain_document_list(request: HttpRequest) -> HttpResponseBase:
    """The documents as an Eve-style HAL collection: each item with its bare ``_etag`` and its
    ``_links.self``, the plain Django item view (what halchemy reads and writes back)."""
    from ifmatch.stores.django import snapshot_of

    items = [
        {
            **document_json(doc),
            "_etag": snapshot_of(doc).etag().opaque,
            "_links": {"self": {"href": f"/plain/documents/{doc.pk}/"}},
        }
        for doc in Document.objects.order_by("pk")
    ]
    return JsonResponse({"_items": items, "_links": {"self": {"href": "/plain/documents/"}}})


@django_conditional(Document, has_permission=lambda request, doc: doc.title != "secret")
def guarded_document(request: HttpRequest, pk: str, obj: Document) -> HttpResponseBase:
    """Secret documents answer 403, before any precondition is looked at."""
    if request.method == "PUT":
        obj.text = json.loads(request.body or b"{}").get("text", obj.text)
        obj.save()
    return JsonResponse(document_json(obj))


# --- the 2018 talk's decorator, verbatim in spirit: a reference that loses updates ----------


def optimistic_concurrency_control(compute_etag_func: Any) -> Any:
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


def _compute_etag(self: Any) -> str:
    return md5(self.get_object().text.encode("utf-8")).hexdigest()


@optimistic_concurrency_control(_compute_etag)
class NaiveDocumentView(generics.RetrieveAPIView[Document], generics.UpdateAPIView[Document]):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


class UnconditionalDocumentView(generics.RetrieveUpdateAPIView[Document]):
    """The same resource without ifmatch (benchmark baseline)."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


class UnconditionalFolderView(generics.RetrieveAPIView[Folder]):
    queryset = Folder.objects.prefetch_related("items")
    serializer_class = FolderSerializer


@django_conditional(Document)
def racy_document(request: HttpRequest, pk: str, obj: Document) -> HttpResponseBase:
    """Another writer commits between the precondition check and this view's save()."""
    import threading

    from django.db import connections
    from django.db.models import F

    def other_writer() -> None:  # its own connection, committed before our save
        Document.objects.filter(pk=obj.pk).update(version=F("version") + 1, title="other writer")
        connections.close_all()

    thread = threading.Thread(target=other_writer)
    thread.start()
    thread.join()
    obj.title = "mine"
    obj.save()
    return JsonResponse(document_json(obj))


@django_conditional(Document)
def forgetful_document(request: HttpRequest, pk: str, obj: Document) -> HttpResponseBase:
    """Answers 2xx to a PUT without saving through the guarded save()."""
    Document.objects.filter(pk=obj.pk).update(title="unguarded")
    return JsonResponse(document_json(obj))


def middleware_lost(request: HttpRequest, pk: str) -> HttpResponseBase:
    """A view of its own making a conditional save; the middleware maps the loss to 412."""
    from ifmatch.stores import Expectation

    obj = Document.objects.get(pk=pk)
    obj.save(expect=Expectation.version(obj.version + 5))
    return JsonResponse(document_json(obj))


def middleware_conflict(request: HttpRequest, pk: str) -> HttpResponseBase:
    from ifmatch.core.errors import VersionConflictError

    raise VersionConflictError("the body's version 3 is not the current version 4")
