"""Collection validators (``ifmatch.stores.collection``): the aggregate changes on every insert,
update and delete, with UUID keys and without a Last-Modified column, on every store that lists
(Django ORM and SQLAlchemy on SQLite, PostgreSQL and MariaDB; memory), where counts, sums and
maxima of versions and keys (the aggregate before it) miss a delete plus an insert."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import String, create_engine, delete, insert, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

import djangoproject
from ifmatch.stores.collection import CollectionState, fold, row_digest
from ifmatch.stores.memory import MemoryStore
from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore, SQLAlchemyStore
from services import Database

djangoproject.setup()

from djangoproject.docs.models import Note  # noqa: E402
from ifmatch.stores._django_sql import collection_state  # noqa: E402


class Base(DeclarativeBase):
    pass


class Card(Base):
    """UUID keys as strings, a version column and no Last-Modified column."""

    __tablename__ = "ifmatch_collection_cards"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(20), default="")
    version: Mapped[int] = mapped_column(default=1)


def old_aggregate(rows: list[tuple[str, int]]) -> tuple[int, int, int, str]:
    """The aggregate collection tags were made of before: count, sum and maximum of the
    versions, and the maximum key."""
    return (len(rows), sum(v for _, v in rows), max(v for _, v in rows), max(k for k, _ in rows))


def keys_below(top: str, n: int) -> list[str]:
    """``n`` fresh UUID keys that sort below ``top`` (so the maximum key does not move)."""
    found: list[str] = []
    while len(found) < n:
        key = str(uuid.uuid4())
        if key < top:
            found.append(key)
    return found


def swap_scenario() -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Two listings the old aggregate cannot tell apart: one row deleted, another inserted
    with the same version, under a key below the largest one."""
    top = "f" * 8 + str(uuid.uuid4())[8:]
    a, b = keys_below(top, 2)
    before = [(top, 3), (a, 1)]
    after = [(top, 3), (b, 1)]
    assert old_aggregate(before) == old_aggregate(after)
    return before, after


def test_fold_sees_the_swap_the_old_aggregate_missed() -> None:
    before, after = swap_scenario()
    assert fold((k, v, None) for k, v in before) != fold((k, v, None) for k, v in after)


def test_etag_depends_on_target_variant_and_key() -> None:
    state = CollectionState(2, 12345)
    tags = {
        state.etag(target="/a"),
        state.etag(target="/b"),
        state.etag(target="/a", variant="text/html"),
        state.etag(target="/a", key=b"secret"),
    }
    assert len(tags) == 4
    assert all(not tag.weak for tag in tags)


@given(st.lists(st.tuples(st.uuids(), st.integers(1, 2**40)), min_size=1, max_size=20))
def test_every_single_change_moves_the_digest(rows: list[tuple[uuid.UUID, int]]) -> None:
    pairs = dict(rows)
    base = fold((k, v, None) for k, v in pairs.items())
    first = next(iter(pairs))
    bumped = {**pairs, first: pairs[first] + 1}
    removed = {k: v for k, v in pairs.items() if k != first}
    added = {**pairs, uuid.uuid4(): 1}
    for changed in (bumped, removed, added):
        assert fold((k, v, None) for k, v in changed.items()) != base
    assert 0 <= row_digest(first, 1) < 2**60


# --- Django ORM --------------------------------------------------------------------------------


@pytest.fixture
def notes(django_alias: str) -> Iterator[Any]:
    manager = Note.objects.using(django_alias)
    manager.all().delete()
    yield manager
    manager.all().delete()


def django_state(notes: Any) -> CollectionState:
    state: CollectionState = collection_state(notes.all(), "version", None)
    return state


def test_django_collection_changes_on_every_write(notes: Any) -> None:
    top = uuid.UUID("f" * 8 + str(uuid.uuid4())[8:])
    low, other = (uuid.UUID(k) for k in keys_below(str(top), 2))
    notes.create(id=top, text="top")
    note = notes.create(id=low, text="a")
    seen = [django_state(notes)]
    note.text = "a2"
    note.save()  # update: the version moves
    seen.append(django_state(notes))
    note.delete()
    notes.create(id=other, text="b", version=2)  # delete + insert: the old aggregate's blind spot
    seen.append(django_state(notes))
    notes.create(id=uuid.uuid4(), text="c")
    seen.append(django_state(notes))
    notes.filter(id=other).delete()
    seen.append(django_state(notes))
    assert len(set(seen)) == len(seen), seen
    assert [s.count for s in seen] == [2, 2, 2, 3, 2]
    assert all(s.last_modified is None for s in seen)


def test_django_collection_is_the_filtered_rows(notes: Any) -> None:
    notes.create(owner="guido", text="g")
    mine = notes.filter(owner="ada")
    empty = collection_state(mine, "version", None)
    assert empty == CollectionState(0, 0, None)
    notes.create(owner="ada", text="a")
    assert collection_state(mine, "version", None).count == 1
    assert collection_state(notes.all(), "version", None).count == 2


def test_django_digest_is_the_same_sum_for_the_same_rows(notes: Any) -> None:
    """Two reads of an unchanged collection agree (a 304 is possible), and a row's update back
    to an earlier text still moves the digest (the version never goes back)."""
    note = notes.create(text="x")
    first, again = django_state(notes), django_state(notes)
    assert first == again
    note.text = "y"
    note.save()
    note.text = "x"
    note.save()
    assert django_state(notes) != first


# --- SQLAlchemy ----------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def sa_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cards.db'}"
    fixture = "postgres_db" if request.param == "postgresql" else "mariadb_db"
    db: Database = request.getfixturevalue(fixture)
    url: str = db.sqlalchemy_url()
    return url


@pytest.fixture
def cards(sa_url: str) -> Iterator[tuple[SQLAlchemyStore[str], Callable[..., Any]]]:
    engine = create_engine(sa_url)
    Base.metadata.create_all(engine)
    factory = sessionmaker(engine)
    with factory.begin() as session:
        session.execute(delete(Card))

    def run(statement: Any) -> None:
        with factory.begin() as session:
            session.execute(statement)

    yield SQLAlchemyStore(Card, factory, last_modified_column=None), run
    with factory.begin() as session:
        session.execute(delete(Card))
    engine.dispose()


def test_sqlalchemy_collection_changes_on_every_write(
    cards: tuple[SQLAlchemyStore[str], Callable[..., Any]],
) -> None:
    store, run = cards
    top = "f" * 8 + str(uuid.uuid4())[8:]
    low, other = keys_below(top, 2)
    run(insert(Card).values(id=top, version=3))
    run(insert(Card).values(id=low, version=1))
    seen = [store.read_collection()]
    run(update(Card).where(Card.id == low).values(version=2))
    seen.append(store.read_collection())
    run(delete(Card).where(Card.id == low))
    run(insert(Card).values(id=other, version=2))  # the old aggregate's blind spot
    seen.append(store.read_collection())
    run(insert(Card).values(id=str(uuid.uuid4()), version=1, owner="ada"))
    seen.append(store.read_collection())
    assert len(set(seen)) == len(seen), seen
    assert [s.count for s in seen] == [2, 2, 2, 3]
    only_ada = store.read_collection(select(Card).where(Card.owner == "ada"))
    assert only_ada.count == 1
    nobody = store.read_collection(select(Card).where(Card.owner == "nobody"))
    assert nobody == CollectionState(0, 0, None)
    assert store.read_collection() == seen[-1]  # unchanged rows, the same state


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.sampled_from("iud"), st.integers(0, 5)), min_size=1, max_size=12))
def test_sqlalchemy_digest_follows_any_sequence_of_writes(
    cards: tuple[SQLAlchemyStore[str], Callable[..., Any]], steps: list[tuple[str, int]]
) -> None:
    store, run = cards
    run(delete(Card))
    rows: dict[str, int] = {}
    previous = store.read_collection()
    for kind, index in steps:
        keys = sorted(rows)
        if kind == "i" or not keys:
            key = str(uuid.uuid4())
            rows[key] = 1 + index
            run(insert(Card).values(id=key, version=rows[key]))
        elif kind == "u":
            key = keys[index % len(keys)]
            rows[key] += 1
            run(update(Card).where(Card.id == key).values(version=rows[key]))
        else:
            key = keys[index % len(keys)]
            del rows[key]
            run(delete(Card).where(Card.id == key))
        state = store.read_collection()
        assert state != previous
        assert state.count == len(rows)
        previous = state


def test_async_store_reads_the_same_state(
    sa_url: str, cards: tuple[SQLAlchemyStore[str], Callable[..., Any]]
) -> None:
    store, run = cards
    for n in range(3):
        run(insert(Card).values(id=str(uuid.uuid4()), version=n + 1))
    async_url = sa_url.replace("sqlite://", "sqlite+aiosqlite://")
    async_url = async_url.replace("postgresql+psycopg://", "postgresql+asyncpg://")
    async_url = async_url.replace("mysql+pymysql://", "mysql+aiomysql://")

    async def read() -> CollectionState:
        engine = create_async_engine(async_url)
        try:
            found = AsyncSQLAlchemyStore(
                Card, async_sessionmaker(engine), last_modified_column=None
            )
            return await found.read_collection()
        finally:
            await engine.dispose()

    assert asyncio.run(read()) == store.read_collection()


def test_memory_store_collection() -> None:
    from ifmatch.stores import Expectation

    store = MemoryStore()
    for key in ("a", "b"):
        store.compare_and_set(key, Expectation(exists=False), {"owner": key})
    first = store.read_collection()
    store.compare_and_delete("a", Expectation())
    store.compare_and_set("c", Expectation(exists=False), {"owner": "c"})
    assert store.read_collection() != first
    assert store.read_collection(lambda key, values: values["owner"] == "b").count == 1
