"""Every store on every backend it supports here, seen through one interface, for the hostile
values matrix (``test_hostile_values.py``) and the guard-agreement property test.

A :class:`Target` can create a record, read its version, Last-Modified and one text value, and
*seed* a stored version directly (bypassing the store) to reach the edges of a version column.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    SmallInteger,
    String,
    Text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from ifmatch.stores import Expectation, Outcome, Snapshot
from ifmatch.stores.memory import MemoryStore
from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore, SQLAlchemyStore
from services import Database

from .contract import SyncFacade
from .sa_support import Doc, make_async_engine, make_engine

I32 = 2**31 - 1
I64 = 2**63 - 1
U64 = 2**64 - 1
I16 = 2**15 - 1
SAFE = 2**53 - 1  # the largest integer a double holds together with every smaller one


class HostileBase(DeclarativeBase):
    pass


class BigDoc(HostileBase):
    """A version column declared BIGINT."""

    __tablename__ = "hostile_big"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_modified: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=True)


class SmallDoc(HostileBase):
    """A version column declared SMALLINT."""

    __tablename__ = "hostile_small"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    last_modified: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass
class Target:
    """One store on one backend.

    Attributes:
        name: for test ids.
        store: the store, with the synchronous interface.
        field: the text field the tests write.
        max_version: the largest version the backend's column holds (``None``: no bound),
            as the database documents it, not as the store computes it.
        seed: sets the stored version of a key directly.
        value: reads the text field of a key (``None`` if the key is absent).
        new_key: a fresh key.
        last_modified: whether the store keeps a Last-Modified.
    """

    name: str
    store: Any
    field: str
    max_version: int | None
    seed: Callable[[Any, int], None]
    value: Callable[[Any], str | None]
    new_key: Callable[[], Any] = lambda: uuid.uuid4().hex
    last_modified: bool = True

    def create(self, text: str = "original") -> tuple[Any, Snapshot]:
        key = self.new_key()
        result = self.store.compare_and_set(key, Expectation(exists=False), {self.field: text})
        assert result.outcome is Outcome.WON, result
        assert result.snapshot is not None
        return key, result.snapshot

    def state(self, key: Any) -> tuple[Snapshot | None, str | None]:
        return self.store.read(key), self.value(key)


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


# --- memory ----------------------------------------------------------------------------------


def memory_target() -> Target:
    store = MemoryStore()

    def seed(key: Any, version: int) -> None:
        # The store's own record, rewritten: a version no sequence of writes here would reach.
        snapshot, values = store._records[key]
        store._records[key] = (replace(snapshot, version=version), values)

    def value(key: Any) -> str | None:
        record = store.get(key)
        return None if record is None else record[1]["body"]

    return Target("memory", store, "body", None, seed, value)


# --- SQLAlchemy ------------------------------------------------------------------------------

SA_MODELS: dict[str, Any] = {"int": Doc, "bigint": BigDoc, "smallint": SmallDoc}
# What each declared type holds, per database (SQLite: any INTEGER is 64-bit).
SA_LIMITS = {
    "int": {"sqlite": I64, "postgresql": I32, "mariadb": I32},
    "bigint": {"sqlite": I64, "postgresql": I64, "mariadb": I64},
    "smallint": {"sqlite": I64, "postgresql": I16, "mariadb": I16},
}


class Engines:
    """One sync engine per database (tables created once) and async engines on one loop."""

    def __init__(self, request: pytest.FixtureRequest, sqlite_path: str) -> None:
        self.request = request
        self.sqlite_path = sqlite_path
        self.sync: dict[str, Engine] = {}
        self.asynchronous: dict[str, AsyncEngine] = {}
        self.runner = asyncio.Runner()

    def url(self, vendor: str, *, asynchronous: bool) -> str:
        if vendor == "sqlite":
            driver = "sqlite+aiosqlite" if asynchronous else "sqlite"
            return f"{driver}:///{self.sqlite_path}"
        fixture = "postgres_db" if vendor == "postgresql" else "mariadb_db"
        db: Database = self.request.getfixturevalue(fixture)
        return db.sqlalchemy_url(asynchronous=asynchronous)

    def engine(self, vendor: str) -> Engine:
        if vendor not in self.sync:
            engine = make_engine(self.url(vendor, asynchronous=False))
            Doc.metadata.create_all(engine)
            HostileBase.metadata.create_all(engine)
            self.sync[vendor] = engine
        return self.sync[vendor]

    def async_engine(self, vendor: str) -> AsyncEngine:
        self.engine(vendor)  # the tables
        if vendor not in self.asynchronous:
            self.asynchronous[vendor] = make_async_engine(self.url(vendor, asynchronous=True))
        return self.asynchronous[vendor]

    def close(self) -> None:
        for engine in self.asynchronous.values():
            self.runner.run(engine.dispose())
        self.runner.close()
        for sync in self.sync.values():
            sync.dispose()


def sqlalchemy_target(engines: Engines, vendor: str, kind: str, *, asynchronous: bool) -> Target:
    model = SA_MODELS[kind]
    table = model.__table__
    engine = engines.engine(vendor)
    if asynchronous:
        factory = async_sessionmaker(engines.async_engine(vendor))
        store: Any = SyncFacade(AsyncSQLAlchemyStore(model, factory), engines.runner)
    else:
        store = SQLAlchemyStore(model, sessionmaker(engine))

    def seed(key: Any, version: int) -> None:
        with engine.begin() as connection:
            connection.execute(update(table).where(table.c.id == key).values(version=version))

    def value(key: Any) -> str | None:
        with engine.connect() as connection:
            row = connection.execute(table.select().where(table.c.id == key)).first()
        return None if row is None else row.body

    mode = "async" if asynchronous else "sync"
    name = f"sa-{mode}-{kind}-{vendor}"
    return Target(name, store, "body", declared_max(name), seed, value)


# --- Django ----------------------------------------------------------------------------------

# The test project's models: Record (PositiveBigIntegerField version, Last-Modified) and Ticket
# (IntegerField ``rev``, no Last-Modified). MariaDB's PositiveBigIntegerField is BIGINT UNSIGNED.
DJANGO_LIMITS = {
    "record": {"sqlite": I64, "postgresql": I64, "mariadb": U64},
    "ticket": {"sqlite": I64, "postgresql": I32, "mariadb": I32},
}


def django_alias(request: pytest.FixtureRequest, vendor: str) -> str:
    import djangoproject

    djangoproject.setup()
    if vendor == "sqlite":
        return "default"
    fixture = "postgres_db" if vendor == "postgresql" else "mariadb_db"
    db: Database = request.getfixturevalue(fixture)
    alias = "pg" if vendor == "postgresql" else "maria"
    djangoproject.add_database(alias, db.django_settings())
    return alias


def django_target(request: pytest.FixtureRequest, vendor: str, kind: str) -> Target:
    alias = django_alias(request, vendor)
    from djangoproject.docs.models import Record, Ticket
    from ifmatch.stores.django import DjangoStore

    model: Any = Record if kind == "record" else Ticket
    field, version_field = ("body", "version") if kind == "record" else ("subject", "rev")
    manager = model._base_manager.using(alias)

    def seed(key: Any, version: int) -> None:
        assert manager.filter(pk=key).update(**{version_field: version}) == 1

    def value(key: Any) -> str | None:
        row = manager.filter(pk=key).values_list(field, flat=True).first()
        return None if row is None else str(row)

    def new_key() -> Any:
        return uuid.uuid4().hex if kind == "record" else uuid.uuid4().int % I32 + 1

    return Target(
        f"django-{kind}-{vendor}",
        DjangoStore(model, using=alias),
        field,
        declared_max(f"django-{kind}-{vendor}"),
        seed,
        value,
        new_key,
        last_modified=kind == "record",
    )


# --- Redis -----------------------------------------------------------------------------------


def redis_target(url: str, runner: asyncio.Runner, *, asynchronous: bool) -> Iterator[Target]:
    import redis
    import redis.asyncio

    from ifmatch.stores.redis import AsyncRedisStore, RedisStore

    prefix = f"ifmatch-hostile:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(url)
    store: Any
    async_client = None
    if asynchronous:
        async_client = redis.asyncio.Redis.from_url(url)
        store = SyncFacade(AsyncRedisStore(async_client, prefix=prefix), runner)
    else:
        store = RedisStore(client, prefix=prefix)

    def seed(key: Any, version: int) -> None:
        client.hset(f"{prefix}{key}", "version", str(version))

    def value(key: Any) -> str | None:
        return _text(client.hget(f"{prefix}{key}", "body"))

    mode = "async" if asynchronous else "sync"
    yield Target(f"redis-{mode}", store, "body", declared_max("redis"), seed, value)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()
    if async_client is not None:
        runner.run(async_client.aclose())


# --- the fixture parameters ------------------------------------------------------------------

SA_TARGETS = [
    *(f"sa-sync-{kind}-{vendor}" for kind in SA_MODELS for vendor in SA_LIMITS[kind]),
    *(f"sa-async-{kind}-{vendor}" for kind in ("int", "bigint") for vendor in SA_LIMITS[kind]),
]
DJANGO_TARGETS = [
    f"django-{kind}-{vendor}"
    for kind in DJANGO_LIMITS
    for vendor in ("sqlite", "postgresql", "mariadb")
]
TARGETS = ["memory", *SA_TARGETS, *DJANGO_TARGETS, "redis-sync", "redis-async"]


def declared_max(name: str) -> int | None:
    """The largest version target ``name``'s column holds (``None``: no bound)."""
    if name == "memory":
        return None
    if name.startswith("sa-"):
        _, _, kind, vendor = name.split("-")
        return SA_LIMITS[kind][vendor]
    if name.startswith("django-"):
        _, kind, vendor = name.split("-")
        return DJANGO_LIMITS[kind][vendor]
    return SAFE


def target_params(*, holding: int = 0) -> list[Any]:
    """The targets whose columns hold ``holding`` (all of them by default)."""
    return [
        pytest.param(
            name,
            marks=[] if name == "memory" or name.endswith("sqlite") else [pytest.mark.services],
        )
        for name in TARGETS
        if (declared_max(name) or holding) >= holding
    ]


def build_target(request: pytest.FixtureRequest, engines: Engines, name: str) -> Iterator[Target]:
    """The target called ``name`` (one of ``TARGETS``)."""
    if name == "memory":
        yield memory_target()
    elif name.startswith("sa-"):
        _, mode, kind, vendor = name.split("-")
        yield sqlalchemy_target(engines, vendor, kind, asynchronous=mode == "async")
    elif name.startswith("django-"):
        _, kind, vendor = name.split("-")
        yield django_target(request, vendor, kind)
    else:
        url: str = request.getfixturevalue("redis_url")
        yield from redis_target(url, engines.runner, asynchronous=name == "redis-async")
