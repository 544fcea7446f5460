from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ifmatch.integrations.drf.serializers import ETagField, HalLinksField

from .models import Document, Folder, Item


class DocumentSerializer(serializers.ModelSerializer[Document]):
    """The demo's shape: id, title, text, etag, _etag, _links.self.href (and version)."""

    etag = ETagField()
    _etag = ETagField()
    _links = HalLinksField(view_name="document-detail")

    class Meta:
        model = Document
        fields = ["id", "title", "text", "version", "etag", "_etag", "_links"]


class PlainDocumentSerializer(serializers.ModelSerializer[Document]):
    class Meta:
        model = Document
        fields = ["id", "title", "text"]


class ItemSerializer(serializers.ModelSerializer[Item]):
    class Meta:
        model = Item
        fields = ["id", "label", "position", "done"]


class FolderSerializer(serializers.ModelSerializer[Folder]):
    items = ItemSerializer(many=True, read_only=True)
    etag = ETagField()

    class Meta:
        model = Folder
        fields = ["id", "name", "version", "etag", "items"]


def document_json(doc: Document) -> dict[str, Any]:
    return {"id": doc.pk, "title": doc.title, "text": doc.text, "version": doc.version}
