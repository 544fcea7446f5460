"""The idempotency records' table for the SQLAlchemy stores, and its statements (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Executable,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Dialect, Row

from ..core.idempotency import IdempotencyRecord
from .errors import ConfigurationError
from .idempotency import ClaimStep, Completion

__all__ = ["LedgerSQL", "Superseded", "idempotency_table"]


class Superseded(Exception):
    """A completion found its record held by another attempt: roll the write back."""


COLUMNS = (
    "id",
    "fingerprint",
    "attempt",
    "created",
    "expires",
    "done",
    "status",
    "version",
    "location",
)


def idempotency_table(metadata: MetaData, name: str = "ifmatch_idempotency") -> Table:
    """The table idempotency records live in, on ``metadata`` (create it with the app's own
    tables: ``metadata.create_all`` or a migration). One row per key and scope::

        id           the key within its scope, hashed (64 hex characters), primary key
        fingerprint  the request that claimed it, hashed
        attempt      the attempt holding the claim
        created      when it was claimed; expires: when it is forgotten (indexed)
        done         whether the write committed; status, version, location: its answer
    """
    return Table(
        name,
        metadata,
        Column("id", String(64), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("attempt", String(32), nullable=False),
        Column("created", DateTime(timezone=True), nullable=False),
        Column("expires", DateTime(timezone=True), nullable=False, index=True),
        Column("done", Boolean, nullable=False, default=False),
        Column("status", SmallInteger),
        Column("version", BigInteger),
        Column("location", Text),
    )


class LedgerSQL:
    """The statements of one records table."""

    def __init__(self, table: Table) -> None:
        missing = [name for name in COLUMNS if name not in table.c]
        if missing:
            raise ConfigurationError(
                f"{table.name} is not an idempotency table (no {', '.join(missing)}): make it "
                "with ifmatch.stores.sqlalchemy.idempotency_table"
            )
        self.table = table

    def _moment(self, value: datetime, dialect: Dialect) -> datetime:
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def _values(self, record: IdempotencyRecord, dialect: Dialect) -> dict[str, Any]:
        return {
            "id": record.id,
            "fingerprint": record.fingerprint,
            "attempt": record.attempt,
            "created": self._moment(record.created, dialect),
            "expires": self._moment(record.expires, dialect),
            "done": record.done,
            "status": record.status,
            "version": record.version,
            "location": record.location,
        }

    def record(self, row: Row[Any] | None) -> IdempotencyRecord | None:
        if row is None:
            return None
        values = row._mapping
        return IdempotencyRecord(
            id=values["id"],
            fingerprint=values["fingerprint"],
            attempt=values["attempt"],
            created=_utc(values["created"]),
            expires=_utc(values["expires"]),
            done=bool(values["done"]),
            status=values["status"],
            version=values["version"],
            location=values["location"],
        )

    def select(self, id: str) -> Executable:
        return select(*(self.table.c[name] for name in COLUMNS)).where(self.table.c.id == id)

    def step(self, step: ClaimStep, dialect: Dialect) -> Executable:
        """The statement for one step of ``claim_flow``; its result is read by ``answer``."""
        if step.op == "read":
            return self.select(step.record.id)
        values = self._values(step.record, dialect)
        if step.op == "insert":
            return self._insert_if_absent(values, dialect)
        previous = step.previous
        assert previous is not None
        table = self.table
        return (
            update(table)
            .where(
                table.c.id == previous.id,
                table.c.attempt == previous.attempt,
                table.c.done == previous.done,
            )
            .values(values)
        )

    def _insert_if_absent(self, values: dict[str, Any], dialect: Dialect) -> Executable:
        # PostgreSQL and SQLite say whether the row went in by returning it (a driver may not
        # report the row count of an INSERT … ON CONFLICT); MySQL/MariaDB by the row count.
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            pg = pg_insert(self.table).values(values).on_conflict_do_nothing()
            return pg.returning(self.table.c.id)
        if dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            lite = sqlite_insert(self.table).values(values).on_conflict_do_nothing()
            return lite.returning(self.table.c.id)
        if dialect.name in {"mysql", "mariadb"}:
            return insert(self.table).values(values).prefix_with("IGNORE")
        raise ConfigurationError(f"no idempotency records for the {dialect.name!r} dialect")

    def answer(self, step: ClaimStep, result: Any) -> object:
        """What to send back into ``claim_flow`` for ``step``'s statement ``result``."""
        if step.op == "read":
            return self.record(result.first())
        if result.returns_rows:
            return result.first() is not None
        return bool(result.rowcount == 1)

    @staticmethod
    def check_completed(result: Any) -> None:
        """Raise :class:`Superseded` unless the completion matched its record."""
        if result.rowcount != 1:
            raise Superseded

    def complete(self, completion: Completion, version: int | None) -> Executable:
        """Mark the record done, only for the attempt holding it (1 row, or the write lost)."""
        table = self.table
        return (
            update(table)
            .where(
                table.c.id == completion.id,
                table.c.attempt == completion.attempt,
                table.c.done.is_(False),
            )
            .values(
                done=True,
                status=completion.status,
                version=version,
                location=completion.location,
            )
        )

    def release(self, id: str, attempt: str) -> Executable:
        table = self.table
        return delete(table).where(
            table.c.id == id, table.c.attempt == attempt, table.c.done.is_(False)
        )

    def purge(self, now: datetime, dialect: Dialect) -> Executable:
        """Forget the records that expired before ``now``."""
        return delete(self.table).where(self.table.c.expires < self._moment(now, dialect))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
