"""Documents and the history of who saved which version.

``Document`` inherits :class:`~ifmatch.stores.django.VersionedModel`, so every ``save()`` made
through the API is one guarded ``UPDATE … WHERE version IN (…)``. A ``Revision`` row is written
in the same transaction as the guarded write, so the history never shows a save that lost.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from ifmatch.stores.django import VersionedModel


class Document(VersionedModel):
    """A titled text that several people edit."""

    title: models.CharField[str, str] = models.CharField(max_length=200)
    text: models.TextField[str, str] = models.TextField(blank=True, default="")
    saved_by: models.CharField[str, str] = models.CharField(
        max_length=80, blank=True, default="", editable=False
    )

    class Meta:
        app_label = "ifmatch_demo"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title


class Revision(models.Model):
    """One saved version of a document: who saved it, when, and what it said."""

    document: models.ForeignKey[Any, Any] = models.ForeignKey(
        Document, related_name="revisions", on_delete=models.CASCADE
    )
    version: models.PositiveBigIntegerField[int, int] = models.PositiveBigIntegerField()
    author: models.CharField[str, str] = models.CharField(max_length=80, blank=True)
    title: models.CharField[str, str] = models.CharField(max_length=200)
    text: models.TextField[str, str] = models.TextField(blank=True)
    saved_at: models.DateTimeField[Any, Any] = models.DateTimeField(null=True)

    class Meta:
        app_label = "ifmatch_demo"
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["document", "version"], name="one_revision_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.document} v{self.version} by {self.author or 'someone'}"
