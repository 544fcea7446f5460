"""Models, engines and session wrappers shared by the SQLAlchemy store tests, the race worker
and the test server app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, String, Text, create_engine, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ifmatch.stores.sqlalchemy import (
    AsyncSQLAlchemyStore,
    SQLAlchemyStore,
    Versioned,
    idempotency_table,
)


class Base(DeclarativeBase):
    pass


#: The idempotency records of the stores under test.
LEDGER = idempotency_table(Base.metadata)


class Doc(Versioned, Base):
    __tablename__ = "ifmatch_docs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(String(200), default="")


def sqlite_proper_transactions(engine: Engine, *, wal: bool = True) -> Engine:
    """pysqlite's legacy transaction handling defers BEGIN and breaks SAVEPOINT; this is the
    SQLAlchemy-documented recipe that makes SQLite transactions (and savepoints) real."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA busy_timeout = 30000")
        if wal:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


def make_engine(
    url: str,
    *,
    isolation_level: str | None = None,
    snapshot_isolation: bool | None = None,
    pool_size: int = 5,
    max_overflow: int = 2,
) -> Engine:
    """An engine for ``url``; SQLite files get WAL mode and real transactions; MariaDB can get
    ``innodb_snapshot_isolation`` set per session."""
    kwargs: dict[str, Any] = {}
    if isolation_level is not None:
        kwargs["isolation_level"] = isolation_level
    if url.startswith("sqlite"):
        return sqlite_proper_transactions(create_engine(url, **kwargs), wal=":memory:" not in url)
    engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow, **kwargs)
    if snapshot_isolation is not None:
        value = "ON" if snapshot_isolation else "OFF"

        @event.listens_for(engine, "connect")
        def _snapshot(dbapi_connection: Any, record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET SESSION innodb_snapshot_isolation={value}")

    return engine


def make_async_engine(url: str, **kwargs: Any) -> AsyncEngine:
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        sqlite_proper_transactions(engine.sync_engine)
    return engine


def create_tables(engine: Engine) -> None:
    Base.metadata.create_all(engine)


class SessionPerCall:
    """The store in session mode: each call gets a fresh ``Session``, the store runs inside
    it, and the caller (this wrapper) commits, as a request handler would."""

    def __init__(self, factory: sessionmaker[Session], model: Any = Doc) -> None:
        self.factory = factory
        self.model = model

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self.factory() as session:
                store = SQLAlchemyStore(self.model, session, idempotency=LEDGER)
                result = getattr(store, name)(*args, **kwargs)
                session.commit()
                return result

        return call


class AsyncSessionPerCall:
    """``SessionPerCall`` for ``AsyncSession``, run on ``runner``'s loop."""

    def __init__(
        self, factory: async_sessionmaker[AsyncSession], runner: asyncio.Runner, model: Any = Doc
    ) -> None:
        self.factory = factory
        self.runner = runner
        self.model = model

    def __getattr__(self, name: str) -> Callable[..., Any]:
        async def run(*args: Any, **kwargs: Any) -> Any:
            async with self.factory() as session:
                store = AsyncSQLAlchemyStore(self.model, session, idempotency=LEDGER)
                result = await getattr(store, name)(*args, **kwargs)
                await session.commit()
                return result

        return lambda *args, **kwargs: self.runner.run(run(*args, **kwargs))
