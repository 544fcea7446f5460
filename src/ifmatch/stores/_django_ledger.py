"""Idempotency records for the Django ORM store and the Django and DRF integrations.

The records live in the ``ifmatch_idempotency`` table of the app
``ifmatch.integrations.djangoapp`` (add it to ``INSTALLED_APPS``). A claim is committed at once
when the connection is in autocommit mode, so a concurrent retry sees it and answers 409. Inside
a transaction that is already open (``ATOMIC_REQUESTS``) it commits with that transaction: a
concurrent retry of the same key then waits on the record's row until the first request ends,
and finds it done (a replay) or gone (it proceeds).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, models, transaction

from ..core.errors import ConfigurationError
from ..core.idempotency import DEFAULT_IN_FLIGHT, DEFAULT_RETENTION, IdempotencyRecord
from .idempotency import Claim, ClaimStep, Completion, claim_flow

__all__ = ["DjangoLedger", "ledger_model"]

_FIELDS = tuple(field.name for field in fields(IdempotencyRecord))


def ledger_model() -> type[models.Model]:
    """The records' model.

    Raises:
        ConfigurationError: ``ifmatch.integrations.djangoapp`` is not installed.
    """
    from django.apps import apps

    try:
        return apps.get_model("ifmatch", "IdempotencyRecord")
    except LookupError:
        raise ConfigurationError(
            "Idempotency-Key needs the records' table: add 'ifmatch.integrations.djangoapp' to "
            "INSTALLED_APPS and run migrate"
        ) from None


def _to_db(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment if settings.USE_TZ else moment.replace(tzinfo=None)


def _from_db(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class DjangoLedger:
    """The records on database ``using``: ``claim``, ``lookup``, ``release``, and ``complete``
    (to be called inside the guarded write's transaction)."""

    def __init__(self, using: str) -> None:
        self.using = using
        self.model = ledger_model()

    @property
    def _rows(self) -> models.QuerySet[Any]:
        return self.model._default_manager.using(self.using)

    def _values(self, record: IdempotencyRecord) -> dict[str, Any]:
        values = {name: getattr(record, name) for name in _FIELDS}
        values["created"] = _to_db(record.created)
        values["expires"] = _to_db(record.expires)
        return values

    def _record(self, row: models.Model | None) -> IdempotencyRecord | None:
        if row is None:
            return None
        values = {name: getattr(row, name) for name in _FIELDS}
        values["created"] = _from_db(values["created"])
        values["expires"] = _from_db(values["expires"])
        return IdempotencyRecord(**values)

    def claim(
        self,
        id: str,
        fingerprint: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        in_flight: timedelta = DEFAULT_IN_FLIGHT,
    ) -> Claim:
        """Claim record ``id`` for this attempt, or say why not."""
        flow = claim_flow(id, fingerprint, retention=retention, in_flight=in_flight)
        answer: object = None
        try:
            while True:
                answer = self._step(flow.send(answer))
        except StopIteration as done:
            claim: Claim = done.value
            return claim

    def _step(self, step: ClaimStep) -> object:
        record = step.record
        if step.op == "read":
            return self.lookup(record.id)
        if step.op == "insert":
            return self._insert_if_absent(record)
        previous = step.previous
        assert previous is not None
        values = self._values(record)
        del values["id"]
        matched = self._rows.filter(
            id=previous.id, attempt=previous.attempt, done=previous.done
        ).update(**values)
        return matched == 1

    def _insert_if_absent(self, record: IdempotencyRecord) -> bool:
        """Insert ``record`` unless a record has its id: one statement, which commits at once
        in autocommit (PostgreSQL, SQLite: ``ON CONFLICT DO NOTHING RETURNING``; MySQL and
        MariaDB: ``INSERT IGNORE`` and its row count)."""
        connection = connections[self.using]
        meta = self.model._meta
        fields: list[Any] = [meta.get_field(name) for name in _FIELDS]
        quote = connection.ops.quote_name
        values = self._values(record)
        params = [
            field.get_db_prep_save(values[field.name], connection=connection) for field in fields
        ]
        columns = ", ".join(quote(field.column) for field in fields)
        marks = ", ".join(["%s"] * len(fields))
        table = quote(meta.db_table)
        key = quote(fields[0].column)  # "id", the primary key
        if connection.vendor in {"postgresql", "sqlite"}:
            sql = (
                f"INSERT INTO {table} ({columns}) VALUES ({marks}) "
                f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchone() is not None
        if connection.vendor == "mysql":
            with connection.cursor() as cursor:
                cursor.execute(f"INSERT IGNORE INTO {table} ({columns}) VALUES ({marks})", params)
                return bool(cursor.rowcount == 1)
        try:
            with transaction.atomic(using=self.using):
                self._rows.create(**values)
        except IntegrityError:
            return False
        return True

    def lookup(self, id: str) -> IdempotencyRecord | None:
        """The record ``id``, or ``None``."""
        return self._record(self._rows.filter(id=id).first())

    def release(self, id: str, attempt: str) -> None:
        """Forget ``attempt``'s pending claim of ``id`` (its write did not happen)."""
        self._rows.filter(id=id, attempt=attempt, done=False).delete()

    def complete(self, completion: Completion, version: int | None) -> bool:
        """Mark the record done, in the caller's transaction; ``False`` when another attempt
        holds it (the caller then rolls its write back)."""
        matched = self._rows.filter(
            id=completion.id, attempt=completion.attempt, done=False
        ).update(done=True, status=completion.status, version=version, location=completion.location)
        return bool(matched == 1)

    def purge(self, now: datetime | None = None) -> int:
        """Forget the records that expired before ``now``; the number forgotten."""
        moment = _to_db(now or datetime.now(UTC))
        deleted, _ = self._rows.filter(expires__lt=moment).delete()
        return deleted
