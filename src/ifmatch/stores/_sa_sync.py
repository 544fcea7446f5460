"""The synchronous SQLAlchemy store (``ifmatch.stores.sqlalchemy.SQLAlchemyStore``)."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, CursorResult, Engine, Select, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, UnboundExecutionError
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from ..core.idempotency import DEFAULT_IN_FLIGHT, DEFAULT_RETENTION, IdempotencyRecord
from ._ledger_sql import Superseded
from ._sa_common import (
    FRESH_LEVELS,
    READ_KEY,
    Item,
    Plan,
    StoreBase,
    aborted_batch,
    settle,
    unavailable,
)
from ._sql import is_duplicate_key, is_retryable_conflict
from .base import BulkItem, CASResult, Expectation, Outcome, Snapshot, in_caller_order, lock_order
from .collection import CollectionState
from .idempotency import Claim, Completion, claim_flow

K = TypeVar("K")

SessionSource = Session | scoped_session[Any] | sessionmaker[Any]


class SQLAlchemyStore(StoreBase[K]):
    """Compare-and-set over one table through a SQLAlchemy ``Session``.

    Every write is ONE conditional statement::

        UPDATE t SET …, version = version + 1, last_modified = <database clock rule>
         WHERE key = :key AND version IN (…) [AND version NOT IN (…)]
               [AND (last_modified IS NULL OR last_modified < :since_plus_1s)]
        [RETURNING version, last_modified]

    and the matched row count (or the returned row) says whether it won. Create-only writes are
    an ``INSERT … ON CONFLICT (key) DO NOTHING`` (a duplicate-key error on MariaDB/MySQL).

    Args:
        model: a mapped class (e.g. using :class:`Versioned`) or a ``Table``.
        session: a ``Session`` (or ``scoped_session``): statements run in the caller's
            transaction and the caller commits; or a ``sessionmaker``: every call runs in its
            own transaction, commits it, and retries serialization failures.
        version_column: the integer version attribute (a mapper ``version_id_col`` is used
            when there is no attribute of that name).
        last_modified_column: the Last-Modified attribute, or ``None`` for versions only.
        key_column: the unique key attribute; defaults to the single primary key.
        retries: how many times a serialization failure or deadlock is retried (own
            transactions only) before the write is reported LOST.
        idempotency: the table of idempotency records (:func:`idempotency_table`), for
            ``claim`` / ``lookup`` / ``release`` and writes with ``completion=``.

    Raises:
        ConfigurationError: the model or the database cannot support a guarded write.
        TypeError: ``session`` is not a session or a sessionmaker.
    """

    def __init__(
        self,
        model: Any,
        session: SessionSource,
        *,
        version_column: str = "version",
        last_modified_column: str | None = "last_modified",
        key_column: str | None = None,
        retries: int = 3,
        idempotency: Table | None = None,
    ) -> None:
        self._configure(
            model, version_column, last_modified_column, key_column, retries, idempotency
        )
        self._factory: sessionmaker[Any] | None = None
        self._session: Callable[[], Session] | None = None
        self._peeking: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
        if isinstance(session, sessionmaker):
            self._factory = session
            bind = session.kw.get("bind")
        elif isinstance(session, scoped_session):
            # Checked on first use: creating the scoped session now could happen outside the
            # scope it belongs to (e.g. outside a Flask application context).
            self._session = session
            bind = None
        elif isinstance(session, Session):
            self._session = lambda: session
            bind = _bind_of(session)
        else:
            raise TypeError(f"expected a Session or a sessionmaker, got {session!r}")
        if isinstance(bind, Engine | Connection):
            self._check(bind.dialect)

    # --- reads ------------------------------------------------------------------------------

    def read(self, key: K) -> Snapshot | None:
        """The current validators of ``key`` (in the caller's transaction in session mode)."""
        with self._using() as session:
            return self._read_in(session, key)

    def peek(self, key: K) -> Snapshot | None:
        """The validators of ``key`` as last committed, read alone: one ``SELECT`` on a pooled
        connection in autocommit, outside the caller's session and any transaction (no
        ``BEGIN``, no ``ROLLBACK``). For answering a revalidation with 304
        (``protect(validators=store.peek)`` in Flask); a write still checks the version in its
        own statement."""
        engine = self._peek_engine()
        with engine.connect() as connection:
            if not self._spec.holds_key(key, self._check(connection.dialect)):
                return None
            row = connection.execute(self._snapshot_query, {READ_KEY: key}).first()
            return self._spec.snapshot(row)

    def _peek_engine(self) -> Engine:
        """The engine the model's table is bound to, in autocommit (one per engine: a
        scoped session, e.g. Flask-SQLAlchemy's, may bind to another engine per app)."""
        if self._factory is not None:
            bind = self._factory.kw.get("bind")
        else:
            assert self._session is not None
            bind = self._session().get_bind(clause=self._spec.table)
        engine = bind.engine if isinstance(bind, Connection) else bind
        if not isinstance(engine, Engine):
            raise TypeError(
                "peek() needs a session bound to an engine (sessionmaker(engine) or "
                "Session(engine))"
            )
        autocommit = self._peeking.get(engine)
        if autocommit is None:
            autocommit = self._peeking[engine] = engine.execution_options(
                isolation_level="AUTOCOMMIT"
            )
        return autocommit

    def get(self, key: K) -> tuple[Snapshot, dict[str, Any]] | None:
        """The validators and all column values of ``key``, read together."""
        with self._using() as session:
            if not self._spec.holds_key(key, self._dialect(session)):
                return None
            row = session.execute(self._row_query, {READ_KEY: key}).first()
            if row is None:
                return None
            snapshot = self._spec.snapshot(row)
            assert snapshot is not None
            return snapshot, self._spec.values(row)

    def read_collection(self, query: Select[Any] | None = None) -> CollectionState:
        """The validators' material of the collection of rows ``query`` selects (default: the
        whole table), in one aggregate query; see ``ifmatch.stores.collection``."""
        with self._using() as session:
            dialect = self._dialect(session)
            statement = self._spec.select_collection(query, dialect)
            return self._spec.collection(session.execute(statement), dialect)

    # --- idempotency records (see ifmatch.stores.idempotency) ------------------------------

    def claim(
        self,
        id: str,
        fingerprint: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        in_flight: timedelta = DEFAULT_IN_FLIGHT,
    ) -> Claim:
        """Claim record ``id`` for this attempt, or say why not. Each step commits at once, in
        a transaction of its own, so a concurrent retry sees the claim."""
        ledger = self._ledger_sql()
        engine = self._ledger_engine()
        flow = claim_flow(id, fingerprint, retention=retention, in_flight=in_flight)
        answer: object = None
        try:
            while True:
                step = flow.send(answer)
                with engine.begin() as connection:
                    statement = ledger.step(step, connection.dialect)
                    answer = ledger.answer(step, connection.execute(statement))
        except StopIteration as done:
            claim: Claim = done.value
            return claim

    def lookup(self, id: str) -> IdempotencyRecord | None:
        """The record ``id`` as committed, or ``None``."""
        ledger = self._ledger_sql()
        with self._ledger_engine().begin() as connection:
            return ledger.record(connection.execute(ledger.select(id)).first())

    def release(self, id: str, attempt: str) -> None:
        """Forget ``attempt``'s pending claim of ``id`` (its write did not happen)."""
        ledger = self._ledger_sql()
        with self._ledger_engine().begin() as connection:
            connection.execute(ledger.release(id, attempt))

    def _ledger_engine(self) -> Engine:
        if self._factory is not None:
            bind = self._factory.kw.get("bind")
        else:
            assert self._session is not None
            bind = self._session().get_bind()
        engine = bind.engine if isinstance(bind, Connection) else bind
        if not isinstance(engine, Engine):
            raise TypeError("idempotency records need a session bound to an engine")
        return engine

    # --- writes -----------------------------------------------------------------------------

    def compare_and_set(
        self,
        key: K,
        expect: Expectation,
        values: Mapping[str, Any],
        *,
        completion: Completion | None = None,
    ) -> CASResult:
        """Apply ``values`` and bump the version iff ``expect`` holds (see the class doc); with
        ``completion``, mark that idempotency record done in the same transaction."""
        return self._set_one(Item(key, expect, self._spec.assignments(values)), completion)

    def _set_one(self, item: Item, completion: Completion | None = None) -> CASResult:
        return self._one(item, lambda dialect: self._set_plan(item, dialect), completion)

    def compare_and_delete(
        self, key: K, expect: Expectation, *, completion: Completion | None = None
    ) -> CASResult:
        """``DELETE FROM t WHERE key = :key AND <expectation> [RETURNING …]``."""
        item = Item(key, expect, {}, deleting=True)
        return self._one(item, lambda dialect: self._delete_plan(key, expect, dialect), completion)

    def compare_and_set_many(
        self, items: Iterable[BulkItem[K]], *, all_or_nothing: bool = False
    ) -> list[CASResult]:
        """Guarded bulk write: one conditional statement per item, in one transaction.

        A lost or missing item does not stop the others unless ``all_or_nothing``; then any
        miss rolls the batch back and the items that had won are reported ``ABORTED``.
        """
        given = self._items(items)
        order = lock_order([item.key for item in given])
        batch = [given[position] for position in order]  # row locks in key order: no deadlock
        return in_caller_order(order, self._many(batch, all_or_nothing))

    def _many(self, batch: list[Item], all_or_nothing: bool) -> list[CASResult]:
        if self._session is not None:
            return self._many_in_session(self._session(), batch, all_or_nothing)
        for _ in range(self.retries + 1):
            try:
                return self._many_own(batch, all_or_nothing)
            except DBAPIError as exc:
                if not is_retryable_conflict(exc):
                    raise unavailable(exc) from exc
        if all_or_nothing:
            return aborted_batch(batch, self._fresh_many(batch))
        return [self._set_one(item) for item in batch]

    # --- internals --------------------------------------------------------------------------

    def _one(
        self,
        item: Item,
        plan_for: Callable[[Dialect], Plan],
        completion: Completion | None = None,
    ) -> CASResult:
        if self._session is not None:
            return self._one_in_session(self._session(), item, plan_for, completion)
        creating = item.creating
        for _ in range(self.retries + 1):
            try:
                with self._factory_session() as session, session.begin():
                    plan = plan_for(self._write_dialect(session))
                    creating = plan.creating
                    result = self._attempt(session, item, plan)
                    if result is not None and completion is not None:
                        self._complete(session, completion, plan, result)
            except Superseded:
                break  # rolled back: another attempt of the same key completed it
            except DBAPIError as exc:
                if is_retryable_conflict(exc):
                    continue
                raise unavailable(exc) from exc
            if result is not None:
                return result
            break
        return self._missed(self.read(item.key), creating=creating)

    def _one_in_session(
        self,
        session: Session,
        item: Item,
        plan_for: Callable[[Dialect], Plan],
        completion: Completion | None = None,
    ) -> CASResult:
        session.flush()
        plan = plan_for(self._write_dialect(session))
        try:
            if completion is None:
                result = self._attempt(session, item, plan)
            else:
                # In a savepoint: a superseded completion rolls back only this write.
                with session.begin_nested():
                    result = self._attempt(session, item, plan)
                    if result is not None:
                        self._complete(session, completion, plan, result)
        except Superseded:
            result = None
        except DBAPIError as exc:
            if not is_retryable_conflict(exc):
                raise unavailable(exc) from exc
            # The database has already rolled this transaction back (PostgreSQL: aborted).
            session.rollback()
            return self._missed(self._read_in(session, item.key), creating=plan.creating)
        if result is None:
            return self._missed(self._fresh_read(session, item.key), creating=plan.creating)
        self._sync_identity(session, item, plan)
        return result

    def _complete(
        self, session: Session, completion: Completion, plan: Plan, result: CASResult
    ) -> None:
        ledger = self._ledger_sql()
        version = self._completed_version(plan, result)
        ledger.check_completed(session.execute(ledger.complete(completion, version)))

    def _attempt(self, session: Session, item: Item, plan: Plan) -> CASResult | None:
        """Run one guarded statement; the result if it won, ``None`` if it matched nothing."""
        if plan.bound is None:
            return None
        try:
            result: CursorResult[Any] = session.execute(*plan.bound)  # type: ignore[assignment]
        except IntegrityError as exc:
            if plan.creating and is_duplicate_key(exc):
                return None
            raise
        if plan.returning:
            return self._returned(result)
        if self._matched(result) == 0:
            return None
        if plan.deleting:
            return CASResult(Outcome.WON)
        # No UPDATE … RETURNING (MariaDB, MySQL): read our own write under the row lock.
        return CASResult(Outcome.WON, self._read_in(session, item.key))

    def _many_own(self, batch: list[Item], all_or_nothing: bool) -> list[CASResult]:
        with self._factory_session() as session:
            dialect = self._write_dialect(session)
            plans = [self._set_plan(item, dialect) for item in batch]
            results = [
                self._attempt(session, item, plan) for item, plan in zip(batch, plans, strict=True)
            ]
            applied = not all_or_nothing or None not in results
            if applied:
                session.commit()
            else:
                session.rollback()
        missed = [i for i, r in enumerate(results) if r is None or not applied]
        fresh = self._fresh_many([batch[i] for i in missed]) if missed else []
        fresh_by_index = dict(zip(missed, fresh, strict=True))
        return settle(batch, results, fresh_by_index, applied=applied, plans=plans)

    def _many_in_session(
        self, session: Session, batch: list[Item], all_or_nothing: bool
    ) -> list[CASResult]:
        session.flush()
        dialect = self._write_dialect(session)
        savepoint = session.begin_nested() if all_or_nothing else None
        results: list[CASResult | None] = []
        plans = [self._set_plan(item, dialect) for item in batch]
        try:
            for item, plan in zip(batch, plans, strict=True):
                results.append(self._attempt(session, item, plan))
        except DBAPIError as exc:
            if not is_retryable_conflict(exc):
                raise unavailable(exc) from exc
            session.rollback()  # the database rolled the whole transaction back
            failed = [*results, None, *[CASResult(Outcome.LOST)] * (len(batch) - len(results) - 1)]
            fresh = {i: self._read_in(session, item.key) for i, item in enumerate(batch)}
            return settle(batch, failed, fresh, applied=False, plans=plans)
        applied = not all_or_nothing or None not in results
        if savepoint is not None:
            (savepoint.commit if applied else savepoint.rollback)()
        fresh = {
            i: self._fresh_read(session, item.key)
            for i, (item, result) in enumerate(zip(batch, results, strict=True))
            if result is None or not applied
        }
        if applied:
            for item, result in zip(batch, results, strict=True):
                if result is not None:
                    self._sync_identity(session, item, self._set_plan(item, dialect))
        return settle(batch, results, fresh, applied=applied, plans=plans)

    def _fresh_many(self, batch: list[Item]) -> list[Snapshot | None]:
        with self._factory_session() as session:
            return [self._read_in(session, item.key) for item in batch]

    def _read_in(self, session: Session, key: Any) -> Snapshot | None:
        if not self._spec.holds_key(key, self._dialect(session)):
            return None
        return self._spec.snapshot(session.execute(self._snapshot_query, {READ_KEY: key}).first())

    def _fresh_read(self, session: Session, key: Any) -> Snapshot | None:
        """The latest committed state, outside the caller's transaction snapshot.

        At READ COMMITTED (and on SQLite, which has one writer) a new statement in the same
        transaction sees it; at REPEATABLE READ or SERIALIZABLE it is read on another
        connection of the same engine.
        """
        if not self._spec.holds_key(key, self._dialect(session)):
            return None
        connection = session.connection()
        if connection.dialect.name == "sqlite" or connection.get_isolation_level() in FRESH_LEVELS:
            return self._read_in(session, key)
        with connection.engine.connect() as other:
            return self._spec.snapshot(other.execute(self._snapshot_query, {READ_KEY: key}).first())

    def _sync_identity(self, session: Session, item: Item, plan: Plan) -> None:
        """Keep an instance of this row already loaded in the session consistent."""
        identity = self._identity(item.key)
        instance = None if identity is None else session.identity_map.get(identity)
        if instance is None:
            return
        if plan.deleting:
            session.expunge(instance)
        else:
            session.expire(instance, self._synced_attributes(item))

    def _dialect(self, session: Session) -> Dialect:
        return self._check(session.get_bind(clause=self._spec.table).dialect)

    def _write_dialect(self, session: Session) -> Dialect:
        """The dialect, once the Last-Modified column's precision is verified (see
        ``StoreBase._precision_query``): a write computes dates the column must keep."""
        bind = session.get_bind(clause=self._spec.table)
        query = self._precision_query(bind)
        if query is not None:
            self._precision_found(bind, session.execute(*query).scalar())
        return self._check(bind.dialect)

    def _factory_session(self) -> Session:
        assert self._factory is not None
        session: Session = self._factory()
        return session

    def _using(self) -> Any:
        if self._session is not None:
            return _Borrowed(self._session())
        return self._factory_session()


class _Borrowed:
    """A context manager that lends the caller's session without closing it."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def __enter__(self) -> Session:
        return self.session

    def __exit__(self, *exc: object) -> None:
        return None


def _bind_of(session: Session) -> Engine | Connection | None:
    try:
        return session.get_bind()
    except UnboundExecutionError:
        return None
