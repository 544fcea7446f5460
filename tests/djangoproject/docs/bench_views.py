"""Peers measured next to ifmatch in ``benchmarks/drf.py``: drf-extensions' ``APIETAGMixin``
and Django's ``condition`` decorator, each used the way its documentation shows."""

from __future__ import annotations

import hashlib
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.http import condition
from rest_framework import generics
from rest_framework_extensions.etag.mixins import APIRetrieveETAGMixin

from .models import Document, Folder, Item
from .serializers import DocumentSerializer, FolderSerializer


class ExtDocumentView(APIRetrieveETAGMixin, generics.RetrieveAPIView[Document]):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


class ExtFolderView(APIRetrieveETAGMixin, generics.RetrieveAPIView[Folder]):
    queryset = Folder.objects.prefetch_related("items")
    serializer_class = FolderSerializer


def _document_etag(request: HttpRequest, pk: int) -> str:
    text = Document.objects.values_list("text", flat=True).get(pk=pk)
    return hashlib.md5(text.encode()).hexdigest()


def _folder_etag(request: HttpRequest, pk: int) -> str:
    rows: Any = list(Item.objects.filter(folder_id=pk).values_list())
    rows.append(Folder.objects.values_list().get(pk=pk))
    return hashlib.md5(repr(rows).encode()).hexdigest()


@condition(etag_func=_document_etag)
def condition_document(request: HttpRequest, pk: int) -> HttpResponseBase:
    obj = Document.objects.get(pk=pk)
    return JsonResponse(DocumentSerializer(obj, context={"request": request}).data)


@condition(etag_func=_folder_etag)
def condition_folder(request: HttpRequest, pk: int) -> HttpResponseBase:
    obj = Folder.objects.prefetch_related("items").get(pk=pk)
    return JsonResponse(FolderSerializer(obj, context={"request": request}).data)
