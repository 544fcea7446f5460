"""What the sync and async SQLAlchemy stores share: configuration, statement plans, results."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, CursorResult, Executable, Select, Table, bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from ._ledger_sql import LedgerSQL
from ._sql import TableSpec, table_spec
from .base import BulkItem, CASResult, Expectation, Outcome, Snapshot
from .errors import ConfigurationError, StoreError, StoreUnavailable

K = TypeVar("K")

# Per engine, the tables whose Last-Modified precision has been verified.
_VERIFIED: weakref.WeakKeyDictionary[Any, set[Table]] = weakref.WeakKeyDictionary()

# Isolation levels at which a plain SELECT in the current transaction sees the latest commit.
FRESH_LEVELS = frozenset({"READ COMMITTED", "READ UNCOMMITTED", "AUTOCOMMIT"})


@dataclass(frozen=True, slots=True)
class Plan:
    """One guarded statement to run, and how to read its outcome."""

    bound: tuple[Executable, dict[str, Any]] | None  # None: no row can match; only read
    returning: bool
    creating: bool = False
    deleting: bool = False


@dataclass(frozen=True, slots=True)
class Item:
    key: Any
    expect: Expectation
    values: dict[Column[Any], Any]
    deleting: bool = False

    @property
    def creating(self) -> bool:
        return self.expect.exists is False and not self.deleting


#: The bound parameter naming the key in ``StoreBase._snapshot_query``.
READ_KEY = "ifm_read_key"


class StoreBase(Generic[K]):
    """Configuration and the I/O-free half of the SQLAlchemy stores."""

    _spec: TableSpec
    _snapshot_query: Select[Any]
    _row_query: Select[Any]
    retries: int

    def _configure(
        self,
        model: Any,
        version_column: str,
        last_modified_column: str | None,
        key_column: str | None,
        retries: int,
        idempotency: Table | None = None,
    ) -> None:
        self._spec = table_spec(model, version_column, last_modified_column, key_column)
        self.retries = retries
        self._checked: set[int] = set()
        self._ledger = None if idempotency is None else LedgerSQL(idempotency)
        # The validators' read and the row's, built once with the key bound at execution: no
        # statement to build and no cache key to compute on each read.
        spec = self._spec
        self._snapshot_query = select(*spec.returned()).where(spec.key == bindparam(READ_KEY))
        self._row_query = select(*spec.columns.values()).where(spec.key == bindparam(READ_KEY))

    def _ledger_sql(self) -> LedgerSQL:
        if self._ledger is None:
            raise ConfigurationError(
                "this store keeps no idempotency records: pass idempotency=idempotency_table(…)"
            )
        return self._ledger

    @staticmethod
    def _completed_version(plan: Plan, result: CASResult) -> int | None:
        """The version an idempotency record keeps: the new one (``None`` after a delete)."""
        if plan.deleting or result.snapshot is None:
            return None
        return result.snapshot.version

    @property
    def spec(self) -> TableSpec:
        """The resolved table, key, version and Last-Modified columns."""
        return self._spec

    def snapshot(self, instance: Any) -> Snapshot:
        """The validators of a loaded instance of the model (no I/O: read from its attributes),
        for ``load=`` in the integrations."""
        from .sqlalchemy import snapshot

        version = self._attribute(self._spec.version)
        last_modified = self._spec.last_modified
        lm = None if last_modified is None else self._attribute(last_modified)
        return snapshot(instance, version_column=version, last_modified_column=lm)

    def _attribute(self, column: Any) -> str:
        return next(name for name, col in self._spec.columns.items() if col is column)

    def _check(self, dialect: Dialect) -> Dialect:
        if id(dialect) not in self._checked:
            self._spec.check_dialect(dialect)
            self._checked.add(id(dialect))
        return dialect

    def _precision_query(self, bind: Any) -> tuple[Any, dict[str, Any]] | None:
        """The query verifying the Last-Modified column's precision on ``bind``'s database,
        once per engine and table (``None``: verified, or nothing to verify)."""
        engine = getattr(bind, "engine", bind)
        done = _VERIFIED.get(engine)
        if done is not None and self._spec.table in done:
            return None
        query = self._spec.precision_query(bind.dialect)
        if query is None:
            self._verified(engine)
        return query

    def _precision_found(self, bind: Any, digits: Any) -> None:
        self._spec.check_precision(digits)
        self._verified(getattr(bind, "engine", bind))

    def _verified(self, engine: Any) -> None:
        with contextlib.suppress(TypeError):  # not weakly referenceable: verify next time
            _VERIFIED.setdefault(engine, set()).add(self._spec.table)

    def _items(self, items: Iterable[BulkItem[K]]) -> list[Item]:
        return [Item(k, e, self._spec.assignments(v)) for k, e, v in items]

    def _set_plan(self, item: Item, dialect: Dialect) -> Plan:
        if not self._spec.holds_key(item.key, dialect):
            return Plan(None, False)  # names no row and can name none: NOT_FOUND, even a create
        if item.expect.exists is False:
            insert = self._spec.insert(item.key, item.values, dialect)
            return Plan(insert, dialect.insert_returning, creating=True)
        update = self._spec.update(item.key, item.expect, item.values, dialect)
        return Plan(update, dialect.update_returning)

    def _delete_plan(self, key: Any, expect: Expectation, dialect: Dialect) -> Plan:
        if not self._spec.holds_key(key, dialect):
            return Plan(None, False, deleting=True)
        statement = self._spec.delete(key, expect, dialect)
        return Plan(statement, dialect.delete_returning, deleting=True)

    def _returned(self, result: CursorResult[Any]) -> CASResult | None:
        row = result.first()
        return None if row is None else CASResult(Outcome.WON, self._spec.snapshot(row))

    @staticmethod
    def _matched(result: CursorResult[Any]) -> int:
        count = result.rowcount
        if count > 1:
            raise StoreError(f"a guarded write matched {count} rows; the key is not unique")
        return count

    @staticmethod
    def _missed(snapshot: Snapshot | None, *, creating: bool = False) -> CASResult:
        # A create-only write that found the key taken lost, even if the row is gone again.
        if snapshot is None and not creating:
            return CASResult(Outcome.NOT_FOUND)
        return CASResult(Outcome.LOST, snapshot)

    def _synced_attributes(self, item: Item) -> list[str]:
        changed = {self._spec.version, self._spec.last_modified, *item.values}
        return [name for name, column in self._spec.columns.items() if column in changed]

    def _identity(self, key: Any) -> Any:
        """The identity-map key of the instance stored under ``key``, if the key is the PK."""
        mapper = self._spec.mapper
        if mapper is None or list(mapper.primary_key) != [self._spec.key]:
            return None
        return mapper.identity_key_from_primary_key((key,))


def unavailable(exc: DBAPIError) -> BaseException:
    """The exception to raise for a database error that is not a conflict."""
    if exc.connection_invalidated:
        return StoreUnavailable(f"the database connection was lost: {exc.orig}")
    return exc


def settle(
    items: Sequence[Item],
    results: Sequence[CASResult | None],
    fresh: Mapping[int, Snapshot | None],
    *,
    applied: bool,
    plans: Sequence[Plan] | None = None,
) -> list[CASResult]:
    """Per-item results of a batch. Items that missed get their freshly read state; if the
    batch was rolled back (``applied`` false), the items that had won are ABORTED."""
    settled: list[CASResult] = []
    for index, (item, result) in enumerate(zip(items, results, strict=True)):
        if result is None:
            creating = item.creating if plans is None else plans[index].creating
            settled.append(StoreBase._missed(fresh[index], creating=creating))
        elif applied:
            settled.append(result)
        else:
            settled.append(CASResult(Outcome.ABORTED, fresh[index]))
    return settled


def aborted_batch(items: Sequence[Item], fresh: Sequence[Snapshot | None]) -> list[CASResult]:
    """An all-or-nothing batch that could not be serialized after every retry: nothing applied."""
    return settle(
        items, [CASResult(Outcome.ABORTED)] * len(items), dict(enumerate(fresh)), applied=False
    )
