"""The asynchronous SQLAlchemy store (``ifmatch.stores.sqlalchemy.AsyncSQLAlchemyStore``).

The same statements and outcomes as the synchronous store; see ``_sa_sync`` for the comments.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_scoped_session,
    async_sessionmaker,
)

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

AsyncSessionSource = AsyncSession | async_scoped_session[Any] | async_sessionmaker[Any]


class AsyncSQLAlchemyStore(StoreBase[K]):
    """Compare-and-set over one table through a SQLAlchemy ``AsyncSession``.

    Same arguments, statements and outcomes as :class:`SQLAlchemyStore`, with ``session`` an
    ``AsyncSession`` / ``async_scoped_session`` (the caller commits) or an
    ``async_sessionmaker`` (each call runs and commits its own transaction).
    """

    def __init__(
        self,
        model: Any,
        session: AsyncSessionSource,
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
        self._factory: async_sessionmaker[Any] | None = None
        self._session: Callable[[], AsyncSession] | None = None
        self._scoped: async_scoped_session[Any] | None = None
        self._peeking: AsyncEngine | None = None
        bind: Any
        if isinstance(session, async_sessionmaker):
            self._factory = session
            bind = session.kw.get("bind")
        elif isinstance(session, async_scoped_session):
            self._session = session  # checked on first use, inside its scope
            self._scoped = session
            bind = None
        elif isinstance(session, AsyncSession):
            self._session = lambda: session
            bind = session.bind
        else:
            raise TypeError(f"expected an AsyncSession or an async_sessionmaker, got {session!r}")
        if isinstance(bind, AsyncEngine | AsyncConnection):
            self._check(bind.dialect)

    async def read(self, key: K) -> Snapshot | None:
        """The current validators of ``key`` (in the caller's transaction in session mode)."""
        async with self._using() as session:
            return await self._read_in(session, key)

    async def get(self, key: K) -> tuple[Snapshot, dict[str, Any]] | None:
        """The validators and all column values of ``key``, read together."""
        async with self._using() as session:
            if not self._spec.holds_key(key, self._dialect(session)):
                return None
            row = (await session.execute(self._row_query, {READ_KEY: key})).first()
            if row is None:
                return None
            snapshot = self._spec.snapshot(row)
            assert snapshot is not None
            return snapshot, self._spec.values(row)

    async def read_collection(self, query: Select[Any] | None = None) -> CollectionState:
        """The validators' material of the collection of rows ``query`` selects (default: the
        whole table), in one aggregate query; see ``ifmatch.stores.collection``."""
        async with self._using() as session:
            dialect = self._dialect(session)
            statement = self._spec.select_collection(query, dialect)
            result = await session.execute(statement)
            return self._spec.collection(result, dialect)

    async def claim(
        self,
        id: str,
        fingerprint: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        in_flight: timedelta = DEFAULT_IN_FLIGHT,
    ) -> Claim:
        """Claim record ``id`` for this attempt (see ``SQLAlchemyStore.claim``)."""
        ledger = self._ledger_sql()
        engine = self._engine()
        flow = claim_flow(id, fingerprint, retention=retention, in_flight=in_flight)
        answer: object = None
        try:
            while True:
                step = flow.send(answer)
                async with engine.begin() as connection:
                    statement = ledger.step(step, connection.dialect)
                    answer = ledger.answer(step, await connection.execute(statement))
        except StopIteration as done:
            claim: Claim = done.value
            return claim

    async def lookup(self, id: str) -> IdempotencyRecord | None:
        """The record ``id`` as committed, or ``None``."""
        ledger = self._ledger_sql()
        async with self._engine().begin() as connection:
            return ledger.record((await connection.execute(ledger.select(id))).first())

    async def release(self, id: str, attempt: str) -> None:
        """Forget ``attempt``'s pending claim of ``id`` (its write did not happen)."""
        ledger = self._ledger_sql()
        async with self._engine().begin() as connection:
            await connection.execute(ledger.release(id, attempt))

    async def peek(self, key: K) -> Snapshot | None:
        """The validators of ``key`` as last committed, read alone: one ``SELECT`` on a pooled
        connection in autocommit, outside the caller's session and any transaction (no
        ``BEGIN``, no ``ROLLBACK``). For answering a revalidation with 304
        (``Conditional(validators=store.peek)``); a write still checks the version in its own
        statement."""
        if self._peeking is None:
            self._peeking = self._engine().execution_options(isolation_level="AUTOCOMMIT")
        async with self._peeking.connect() as connection:
            if not self._spec.holds_key(key, self._check(connection.dialect)):
                return None
            result = await connection.execute(self._snapshot_query, {READ_KEY: key})
            return self._spec.snapshot(result.first())

    def _engine(self) -> AsyncEngine:
        """The engine the sessions are bound to (idempotency records and ``peek`` use it
        directly)."""
        bind: Any = None
        if self._factory is not None:
            bind = self._factory.kw.get("bind")
        elif self._scoped is not None:
            bind = self._scoped.session_factory.kw.get("bind")
        if bind is None and self._session is not None:
            bind = self._session().bind
        engine = bind.engine if isinstance(bind, AsyncConnection) else bind
        if not isinstance(engine, AsyncEngine):
            raise TypeError(
                "idempotency records and peek() need a session bound to an engine "
                "(async_sessionmaker(engine) or AsyncSession(engine))"
            )
        return engine

    async def compare_and_set(
        self,
        key: K,
        expect: Expectation,
        values: Mapping[str, Any],
        *,
        completion: Completion | None = None,
    ) -> CASResult:
        """Apply ``values`` and bump the version iff ``expect`` holds (with ``completion``,
        mark that idempotency record done in the same transaction)."""
        item = Item(key, expect, self._spec.assignments(values))
        return await self._set_one(item, completion)

    async def _set_one(self, item: Item, completion: Completion | None = None) -> CASResult:
        return await self._one(item, lambda dialect: self._set_plan(item, dialect), completion)

    async def compare_and_delete(
        self, key: K, expect: Expectation, *, completion: Completion | None = None
    ) -> CASResult:
        """Delete ``key`` iff ``expect`` holds."""
        item = Item(key, expect, {}, deleting=True)
        return await self._one(
            item, lambda dialect: self._delete_plan(key, expect, dialect), completion
        )

    async def compare_and_set_many(
        self, items: Iterable[BulkItem[K]], *, all_or_nothing: bool = False
    ) -> list[CASResult]:
        """Guarded bulk write (see ``SQLAlchemyStore.compare_and_set_many``)."""
        given = self._items(items)
        order = lock_order([item.key for item in given])
        batch = [given[position] for position in order]  # row locks in key order: no deadlock
        return in_caller_order(order, await self._many(batch, all_or_nothing))

    async def _many(self, batch: list[Item], all_or_nothing: bool) -> list[CASResult]:
        if self._session is not None:
            return await self._many_in_session(self._session(), batch, all_or_nothing)
        for _ in range(self.retries + 1):
            try:
                return await self._many_own(batch, all_or_nothing)
            except DBAPIError as exc:
                if not is_retryable_conflict(exc):
                    raise unavailable(exc) from exc
        if all_or_nothing:
            return aborted_batch(batch, await self._fresh_many(batch))
        return [await self._set_one(item) for item in batch]

    async def _one(
        self,
        item: Item,
        plan_for: Callable[[Dialect], Plan],
        completion: Completion | None = None,
    ) -> CASResult:
        if self._session is not None:
            return await self._one_in_session(self._session(), item, plan_for, completion)
        creating = item.creating
        for _ in range(self.retries + 1):
            try:
                async with self._factory_session() as session, session.begin():
                    plan = plan_for(await self._write_dialect(session))
                    creating = plan.creating
                    result = await self._attempt(session, item, plan)
                    if result is not None and completion is not None:
                        await self._complete(session, completion, plan, result)
            except Superseded:
                break
            except DBAPIError as exc:
                if is_retryable_conflict(exc):
                    continue
                raise unavailable(exc) from exc
            if result is not None:
                return result
            break
        return self._missed(await self.read(item.key), creating=creating)

    async def _one_in_session(
        self,
        session: AsyncSession,
        item: Item,
        plan_for: Callable[[Dialect], Plan],
        completion: Completion | None = None,
    ) -> CASResult:
        await session.flush()
        plan = plan_for(await self._write_dialect(session))
        try:
            if completion is None:
                result = await self._attempt(session, item, plan)
            else:
                async with session.begin_nested():
                    result = await self._attempt(session, item, plan)
                    if result is not None:
                        await self._complete(session, completion, plan, result)
        except Superseded:
            result = None
        except DBAPIError as exc:
            if not is_retryable_conflict(exc):
                raise unavailable(exc) from exc
            await session.rollback()
            return self._missed(await self._read_in(session, item.key), creating=plan.creating)
        if result is None:
            fresh = await self._fresh_read(session, item.key)
            return self._missed(fresh, creating=plan.creating)
        self._sync_identity(session, item, plan)
        return result

    async def _complete(
        self, session: AsyncSession, completion: Completion, plan: Plan, result: CASResult
    ) -> None:
        ledger = self._ledger_sql()
        version = self._completed_version(plan, result)
        ledger.check_completed(await session.execute(ledger.complete(completion, version)))

    async def _attempt(self, session: AsyncSession, item: Item, plan: Plan) -> CASResult | None:
        if plan.bound is None:
            return None
        try:
            result: Any = await session.execute(*plan.bound)
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
        return CASResult(Outcome.WON, await self._read_in(session, item.key))

    async def _many_own(self, batch: list[Item], all_or_nothing: bool) -> list[CASResult]:
        async with self._factory_session() as session:
            dialect = await self._write_dialect(session)
            plans = [self._set_plan(item, dialect) for item in batch]
            results = [
                await self._attempt(session, item, plan)
                for item, plan in zip(batch, plans, strict=True)
            ]
            applied = not all_or_nothing or None not in results
            await (session.commit() if applied else session.rollback())
        missed = [i for i, r in enumerate(results) if r is None or not applied]
        fresh = await self._fresh_many([batch[i] for i in missed]) if missed else []
        fresh_by_index = dict(zip(missed, fresh, strict=True))
        return settle(batch, results, fresh_by_index, applied=applied, plans=plans)

    async def _many_in_session(
        self, session: AsyncSession, batch: list[Item], all_or_nothing: bool
    ) -> list[CASResult]:
        await session.flush()
        dialect = await self._write_dialect(session)
        savepoint = await session.begin_nested() if all_or_nothing else None
        results: list[CASResult | None] = []
        plans = [self._set_plan(item, dialect) for item in batch]
        try:
            for item, plan in zip(batch, plans, strict=True):
                results.append(await self._attempt(session, item, plan))
        except DBAPIError as exc:
            if not is_retryable_conflict(exc):
                raise unavailable(exc) from exc
            await session.rollback()
            failed = [*results, None, *[CASResult(Outcome.LOST)] * (len(batch) - len(results) - 1)]
            fresh = {i: await self._read_in(session, item.key) for i, item in enumerate(batch)}
            return settle(batch, failed, fresh, applied=False, plans=plans)
        applied = not all_or_nothing or None not in results
        if savepoint is not None:
            await (savepoint.commit() if applied else savepoint.rollback())
        fresh = {
            i: await self._fresh_read(session, item.key)
            for i, (item, result) in enumerate(zip(batch, results, strict=True))
            if result is None or not applied
        }
        if applied:
            for item, result in zip(batch, results, strict=True):
                if result is not None:
                    self._sync_identity(session, item, self._set_plan(item, dialect))
        return settle(batch, results, fresh, applied=applied, plans=plans)

    async def _fresh_many(self, batch: list[Item]) -> list[Snapshot | None]:
        async with self._factory_session() as session:
            return [await self._read_in(session, item.key) for item in batch]

    async def _read_in(self, session: AsyncSession, key: Any) -> Snapshot | None:
        if not self._spec.holds_key(key, self._dialect(session)):
            return None
        result = await session.execute(self._snapshot_query, {READ_KEY: key})
        return self._spec.snapshot(result.first())

    async def _fresh_read(self, session: AsyncSession, key: Any) -> Snapshot | None:
        if not self._spec.holds_key(key, self._dialect(session)):
            return None
        connection = await session.connection()
        if connection.dialect.name == "sqlite" or (
            await connection.get_isolation_level() in FRESH_LEVELS
        ):
            return await self._read_in(session, key)
        async with connection.engine.connect() as other:
            result = await other.execute(self._snapshot_query, {READ_KEY: key})
            return self._spec.snapshot(result.first())

    def _sync_identity(self, session: AsyncSession, item: Item, plan: Plan) -> None:
        identity = self._identity(item.key)
        instance = None if identity is None else session.identity_map.get(identity)
        if instance is None:
            return
        if plan.deleting:
            session.expunge(instance)
        else:
            session.expire(instance, self._synced_attributes(item))

    def _dialect(self, session: AsyncSession) -> Dialect:
        return self._check(session.sync_session.get_bind(clause=self._spec.table).dialect)

    async def _write_dialect(self, session: AsyncSession) -> Dialect:
        """The dialect, once the Last-Modified column's precision is verified (see
        ``StoreBase._precision_query``): a write computes dates the column must keep."""
        bind = session.sync_session.get_bind(clause=self._spec.table)
        query = self._precision_query(bind)
        if query is not None:
            self._precision_found(bind, (await session.execute(*query)).scalar())
        return self._check(bind.dialect)

    def _factory_session(self) -> AsyncSession:
        assert self._factory is not None
        session: AsyncSession = self._factory()
        return session

    @contextlib.asynccontextmanager
    async def _using(self) -> AsyncIterator[AsyncSession]:
        if self._session is not None:
            yield self._session()
        else:
            async with self._factory_session() as session:
                yield session
