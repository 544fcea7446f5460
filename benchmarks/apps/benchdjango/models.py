from __future__ import annotations

from django.db import models

from ifmatch.stores.django import VersionedModel


class Document(VersionedModel):
    title = models.CharField(max_length=200, default="")
    text = models.TextField(default="")

    class Meta:
        app_label = "benchdjango"


class Item(models.Model):
    document = models.ForeignKey(Document, related_name="items", on_delete=models.CASCADE)
    position = models.IntegerField()
    name = models.CharField(max_length=64)
    value = models.FloatField()
    tags = models.CharField(max_length=64)

    class Meta:
        app_label = "benchdjango"
        ordering = ["position"]
