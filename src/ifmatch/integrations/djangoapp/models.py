"""The idempotency records' table (see ``ifmatch.core.idempotency``)."""

from __future__ import annotations

from typing import Any

from django.db import models


class IdempotencyRecord(models.Model):
    """One key within its scope: claimed by a request, done with its write.

    ``id`` is the key and scope hashed (``ifmatch.core.idempotency.record_id``); ``done`` is
    set in the same transaction as the guarded write, so it is true exactly when the write
    committed.
    """

    id: models.CharField[str, str] = models.CharField(max_length=64, primary_key=True)
    fingerprint: models.CharField[str, str] = models.CharField(max_length=64)
    attempt: models.CharField[str, str] = models.CharField(max_length=32)
    created: models.DateTimeField[Any, Any] = models.DateTimeField()
    expires: models.DateTimeField[Any, Any] = models.DateTimeField(db_index=True)
    done: models.BooleanField[bool, bool] = models.BooleanField(default=False)
    status: models.SmallIntegerField[Any, Any] = models.SmallIntegerField(null=True)
    version: models.BigIntegerField[Any, Any] = models.BigIntegerField(null=True)
    location: models.TextField[Any, Any] = models.TextField(null=True)

    class Meta:
        app_label = "ifmatch"
        db_table = "ifmatch_idempotency"
