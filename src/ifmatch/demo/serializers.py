"""The document representation: the fields people edit, the validators, and HAL links.

Each item carries its entity-tag twice, for two kinds of clients: ``etag`` is exactly the
``ETag`` header (``"v3"``, ready to paste into ``If-Match``) and ``_etag`` is the bare token
(``v3``) that Eve-style and HAL clients such as halchemy read and send back. ``_links.self.href``
is the item's URL.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers

from ifmatch.core import version_etag
from ifmatch.integrations.drf.serializers import ETagField, HalLinksField

from .models import Document, Revision

__all__ = ["DocumentSerializer", "RevisionSerializer", "author_of"]

AUTHOR_HEADER = "X-User"


def author_of(serializer: serializers.BaseSerializer[Any], data: dict[str, Any]) -> str:
    """Who is saving: the body's ``author`` member, else the ``X-User`` request header."""
    author = data.pop("author", None)
    request = serializer.context.get("request")
    if not author and request is not None:
        author = request.headers.get(AUTHOR_HEADER, "")
    return str(author or "").strip()[:80]


class DocumentLinksField(HalLinksField):
    """HAL ``_links``: the item's ``self`` URL and its ``history``."""

    def to_representation(self, value: Any) -> dict[str, Any]:
        links = super().to_representation(value)
        href = reverse("document-history", kwargs={"pk": value.pk})
        request = self.context.get("request")
        if request is not None:
            href = request.build_absolute_uri(href)
        links["history"] = {"href": href}
        return links


class DocumentSerializer(serializers.ModelSerializer[Document]):
    """A document with its validators; saving it records a :class:`Revision`."""

    etag = ETagField(quoted=True, help_text='The ETag header value, e.g. "v3".')
    _etag = ETagField(quoted=False, help_text="The bare entity-tag token, e.g. v3.")
    _links = DocumentLinksField(view_name="document-detail")
    author = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=80,
        help_text="Who saves this version (default: the X-User header).",
    )

    class Meta:
        model = Document
        fields = [
            "id",
            "title",
            "text",
            "version",
            "saved_by",
            "etag",
            "_etag",
            "_links",
            "author",
        ]
        read_only_fields = ["id", "version", "saved_by"]
        # A document's text is kept exactly as typed, trailing newline included.
        extra_kwargs = {"text": {"trim_whitespace": False}}

    def create(self, validated_data: dict[str, Any]) -> Document:
        validated_data["saved_by"] = author_of(self, validated_data)
        document = super().create(validated_data)
        _record(document)
        return document

    def update(self, instance: Document, validated_data: dict[str, Any]) -> Document:
        # Runs inside the view's guarded transaction (IFMATCH["ATOMIC_WRITES"]): the
        # conditional UPDATE and the revision commit together, or neither does.
        validated_data["saved_by"] = author_of(self, validated_data)
        document = super().update(instance, validated_data)
        _record(document)
        return document


def _record(document: Document) -> None:
    Revision.objects.create(
        document=document,
        version=document.version,
        author=document.saved_by,
        title=document.title,
        text=document.text,
        saved_at=timezone.now(),
    )


class RevisionSerializer(serializers.ModelSerializer[Revision]):
    """One entry of a document's history."""

    etag = serializers.SerializerMethodField()

    class Meta:
        model = Revision
        fields = ["version", "etag", "author", "saved_at", "title", "text"]

    def get_etag(self, revision: Revision) -> str:
        """The entity-tag this version had (``"v3"``)."""
        return str(version_etag(revision.version))
