from __future__ import annotations

from django.db import models


class Document(models.Model):
    title = models.CharField(max_length=200, default="")
    text = models.TextField(default="")
    version = models.IntegerField(default=1)

    class Meta:
        app_label = "djangoapp"
        db_table = "peer_documents"
