from __future__ import annotations

import uuid

from django.db import models

from ifmatch.stores.django import ConditionalSaveMixin, VersionedModel


class Document(VersionedModel):
    title = models.CharField(max_length=200, default="")
    text = models.TextField(default="")

    class Meta:
        app_label = "docs"


class Folder(VersionedModel):
    """A resource whose representation nests many rows (for the ≈100 KB benchmark)."""

    name = models.CharField(max_length=200, default="")

    class Meta:
        app_label = "docs"


class Item(models.Model):
    folder = models.ForeignKey(Folder, related_name="items", on_delete=models.CASCADE)
    label = models.CharField(max_length=64)
    position = models.IntegerField()
    done = models.BooleanField(default=False)

    class Meta:
        app_label = "docs"
        ordering = ["position"]


class Ticket(ConditionalSaveMixin, models.Model):
    """An existing model with its own version column name and no Last-Modified."""

    ifmatch_version_field = "rev"
    ifmatch_last_modified_field = None

    subject = models.CharField(max_length=200, default="")
    rev = models.IntegerField(default=1)

    class Meta:
        app_label = "docs"


class Plain(models.Model):
    """A model without a version column (for start-up checks)."""

    name = models.CharField(max_length=20, default="")

    class Meta:
        app_label = "docs"


class Record(VersionedModel):
    """The shared store contract's record (``tests/stores/contract.py``): two text fields
    under a string key."""

    key = models.CharField(primary_key=True, max_length=64)
    body = models.TextField(default="")
    note = models.TextField(default="")

    class Meta:
        app_label = "docs"


class OwnedDocument(VersionedModel):
    """A document only its owner may see or change (the access-order tests)."""

    owner = models.CharField(max_length=50, default="")
    title = models.CharField(max_length=200, default="")
    text = models.TextField(default="")
    secret = models.CharField(max_length=200, default="")  # only staff see it

    class Meta:
        app_label = "docs"


class Note(ConditionalSaveMixin, models.Model):
    """UUID keys and no Last-Modified column: the collection tag must still see every insert,
    update and delete (the collection tests)."""

    ifmatch_last_modified_field = None

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.CharField(max_length=50, default="")
    text = models.TextField(default="")
    version = models.PositiveBigIntegerField(default=1)

    class Meta:
        app_label = "docs"


class PatchDocument(VersionedModel):
    """A JSON document taking merge-patch and JSON Patch bodies (test_drf_patch.py)."""

    id = models.CharField(max_length=64, primary_key=True)
    title = models.CharField(max_length=200, default="")
    tokens = models.JSONField(default=dict)

    class Meta:
        app_label = "docs"
