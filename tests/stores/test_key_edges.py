"""Keys at and past the edges of the key column, on every SQL backend, sync and async.

A URL segment becomes a store key as the app's router parses it: ``/<int:id>`` gives any
integer, ``/<id>`` any string. An integer past the column's range, a string that is no integer
for an integer column, one longer than a ``VARCHAR(n)``, no UUID for a UUID column, no member
of an ENUM, or (PostgreSQL) a string holding NUL made the database fail the statement
("integer out of range", "invalid input syntax", "value too long"), and the app answered 500.
Such a key names no row and can name none: reads find nothing, every write is ``NOT_FOUND``
(a create too: nothing can be created under it), a batch holding one is refused like one
holding a missing key, and nothing raises. Keys exactly at the edges work like any other.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import BigInteger, Engine, Integer, SmallInteger, String, Text, Uuid
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from ifmatch.stores import CASResult, Expectation, Outcome
from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore, SQLAlchemyStore

from .contract import SyncFacade
from .hostile import Engines


class Base(DeclarativeBase):
    pass


class IntKey(Base):
    __tablename__ = "edge_int_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    body: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False)


class SmallKey(Base):
    __tablename__ = "edge_small_key"
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    body: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False)


class BigKey(Base):
    __tablename__ = "edge_big_key"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    body: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False)


class ShortKey(Base):
    __tablename__ = "edge_short_key"
    id: Mapped[str] = mapped_column(String(8), primary_key=True)
    body: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False)


class UuidKey(Base):
    __tablename__ = "edge_uuid_key"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    body: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False)


class Colour(enum.Enum):
    red = "red"
    green = "green"


class EnumKey(Base):
    __tablename__ = "edge_enum_key"
    id: Mapped[Colour] = mapped_column(SAEnum(Colour), primary_key=True)
    body: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False)


I16, I32, I64 = 2**15 - 1, 2**31 - 1, 2**63 - 1
HUGE = 10**20
# SQLite keeps every INTEGER in 64 bits, whatever the declared width.
BOUNDS = {
    "int": {"sqlite": I64, "postgresql": I32, "mariadb": I32},
    "small": {"sqlite": I64, "postgresql": I16, "mariadb": I16},
    "big": {"sqlite": I64, "postgresql": I64, "mariadb": I64},
}
MODELS: dict[str, Any] = {
    "int": IntKey,
    "small": SmallKey,
    "big": BigKey,
    "short": ShortKey,
    "uuid": UuidKey,
    "enum": EnumKey,
}
VENDORS = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.services),
    pytest.param("mariadb", marks=pytest.mark.services),
]


@pytest.fixture(scope="module")
def engines(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engines]:
    pool = Engines(request, str(tmp_path_factory.mktemp("edges") / "edges.db"))
    yield pool
    pool.close()


def tables(engine: Engine) -> Engine:
    Base.metadata.create_all(engine)
    return engine


@pytest.fixture(params=VENDORS)
def vendor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sync", "async"])
def make_store(request: pytest.FixtureRequest, engines: Engines, vendor: str) -> Any:
    engine = tables(engines.engine(vendor))

    def make(kind: str) -> Any:
        model = MODELS[kind]
        if request.param == "sync":
            return SQLAlchemyStore(model, sessionmaker(engine), last_modified_column=None)
        from sqlalchemy.ext.asyncio import async_sessionmaker

        factory = async_sessionmaker(engines.async_engine(vendor))
        store = AsyncSQLAlchemyStore(model, factory, last_modified_column=None)
        return SyncFacade(store, engines.runner)

    return make


def unstorable(kind: str, vendor: str) -> list[Any]:
    """Keys the column cannot hold on ``vendor``."""
    if kind in BOUNDS:
        top = BOUNDS[kind][vendor]
        return [top + 1, -top - 2, HUGE, -HUGE, str(top + 1), "abc", "1.5", "", "9" * 5000]
    if kind == "short":
        keys = ["x" * 9, "\udc80"]
        return [*keys, "a\x00b"] if vendor == "postgresql" else keys
    if kind == "uuid":
        return ["not-a-uuid", "", "1" * 40]
    return ["blue", "", "RED"]


def storable(kind: str, vendor: str) -> list[Any]:
    """Keys at the edges that the column holds."""
    if kind in BOUNDS:
        top = BOUNDS[kind][vendor]
        return [top, -top - 1, 0]
    if kind == "short":
        return ["x" * 8, "é" * 8]
    if kind == "uuid":
        return [uuid.uuid4()]
    return [Colour.green]


def assert_not_found(result: CASResult) -> None:
    assert result.outcome is Outcome.NOT_FOUND and result.snapshot is None, result


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_key_the_column_cannot_hold_names_nothing(
    make_store: Any, vendor: str, kind: str
) -> None:
    store = make_store(kind)
    for key in unstorable(kind, vendor):
        assert store.read(key) is None, key
        assert store.get(key) is None, key
        assert_not_found(store.compare_and_set(key, Expectation(exists=False), {"body": "new"}))
        assert_not_found(store.compare_and_set(key, Expectation(versions={1}), {"body": "x"}))
        assert_not_found(store.compare_and_set(key, Expectation(exists=True), {"body": "x"}))
        assert_not_found(store.compare_and_set(key, Expectation(), {"body": "x"}))
        assert_not_found(store.compare_and_delete(key, Expectation(versions={1})))
        assert_not_found(store.compare_and_delete(key, Expectation()))


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_keys_at_the_edges_work_like_any_other(make_store: Any, vendor: str, kind: str) -> None:
    store = make_store(kind)
    for key in storable(kind, vendor):
        store.compare_and_delete(key, Expectation())  # a run before this one may have left it
        created = store.compare_and_set(key, Expectation(exists=False), {"body": "new"})
        assert created.outcome is Outcome.WON and created.snapshot is not None, (key, created)
        assert store.read(key) == created.snapshot
        again = store.compare_and_set(key, Expectation(exists=False), {"body": "again"})
        assert again.outcome is Outcome.LOST and again.snapshot == created.snapshot
        updated = store.compare_and_set(key, Expectation(versions={1}), {"body": "two"})
        assert updated.outcome is Outcome.WON
        assert updated.snapshot is not None and updated.snapshot.version == 2
        assert store.get(key)[1]["body"] == "two"
        assert store.compare_and_delete(key, Expectation(versions={2})).outcome is Outcome.WON
        assert store.read(key) is None


@pytest.mark.parametrize("all_or_nothing", [False, True])
def test_a_batch_holding_such_a_key(make_store: Any, vendor: str, all_or_nothing: bool) -> None:
    store = make_store("int")
    good = 7 if all_or_nothing else 8
    store.compare_and_delete(good, Expectation())
    bad = BOUNDS["int"][vendor] + 1
    results = store.compare_and_set_many(
        [(good, Expectation(exists=False), {"body": "g"}), (bad, Expectation(exists=False), {})],
        all_or_nothing=all_or_nothing,
    )
    assert_not_found(results[1])
    if all_or_nothing:
        assert results[0].outcome is Outcome.ABORTED
        assert store.read(good) is None
    else:
        assert results[0].outcome is Outcome.WON
        assert store.read(good) == results[0].snapshot
