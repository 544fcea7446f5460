"""The SQLAlchemy stores: the shared contract on SQLite, PostgreSQL and MariaDB (sync and
async, own transactions and the caller's session), then what is specific to SQLAlchemy."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    create_engine,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    scoped_session,
    sessionmaker,
)
from sqlalchemy.orm.exc import StaleDataError

from ifmatch.stores import ConfigurationError, Expectation, Outcome
from ifmatch.stores._sql import max_version
from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore, SQLAlchemyStore, snapshot

from .contract import Backend, ContractSuite, IdempotencySuite, SyncFacade
from .sa_support import (
    LEDGER,
    AsyncSessionPerCall,
    Doc,
    SessionPerCall,
    create_tables,
    make_async_engine,
    make_engine,
)

SYNC = ["sqlite", "postgresql", "mariadb"]
ASYNC = {"sqlite": "sqlite+aiosqlite", "postgresql": "asyncpg", "mariadb": "aiomysql"}


def backend_params(vendors: Any) -> list[Any]:
    return [
        pytest.param(f"{vendor}-{mode}", marks=[] if vendor == "sqlite" else [pytest.mark.services])
        for vendor in vendors
        for mode in ("own", "session")
    ]


def database_url(request: pytest.FixtureRequest, vendor: str, *, asynchronous: bool) -> str:
    if vendor == "sqlite":
        path = request.getfixturevalue("sqlite_dir") / "contract.db"
        return f"sqlite+aiosqlite:///{path}" if asynchronous else f"sqlite:///{path}"
    db = request.getfixturevalue("postgres_db" if vendor == "postgresql" else "mariadb_db")
    url: str = db.sqlalchemy_url(asynchronous=asynchronous)
    return url


@pytest.fixture(scope="module")
def sqlite_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tmp_path_factory.mktemp("sa")


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, Any]]:
    cache: dict[str, Any] = {}
    yield cache
    for engine in cache.values():
        engine.dispose()


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as loop:
        yield loop


@pytest.fixture(scope="module")
def async_engines(runner: asyncio.Runner) -> Iterator[dict[str, AsyncEngine]]:
    cache: dict[str, AsyncEngine] = {}
    yield cache
    for engine in cache.values():
        runner.run(engine.dispose())


def sync_engine(request: pytest.FixtureRequest, engines: dict[str, Any], vendor: str) -> Any:
    if vendor not in engines:
        engine = make_engine(database_url(request, vendor, asynchronous=False))
        create_tables(engine)
        engines[vendor] = engine
    return engines[vendor]


def async_engine(
    request: pytest.FixtureRequest,
    async_engines: dict[str, AsyncEngine],
    runner: asyncio.Runner,
    vendor: str,
) -> AsyncEngine:
    if vendor not in async_engines:
        engine = make_async_engine(database_url(request, vendor, asynchronous=True))
        sync_engine(request, request.getfixturevalue("engines"), vendor)  # creates the table
        async_engines[vendor] = engine
    return async_engines[vendor]


class TestSQLAlchemyContract(ContractSuite, IdempotencySuite):
    @pytest.fixture(params=backend_params(SYNC))
    def backend(self, request: pytest.FixtureRequest, engines: dict[str, Any]) -> Backend:
        vendor, mode = request.param.split("-")
        factory = sessionmaker(sync_engine(request, engines, vendor))
        if mode == "own":
            return Backend(request.param, SQLAlchemyStore(Doc, factory, idempotency=LEDGER))
        return Backend(request.param, SessionPerCall(factory))


class TestAsyncSQLAlchemyContract(ContractSuite, IdempotencySuite):
    @pytest.fixture(params=backend_params(ASYNC))
    def backend(
        self,
        request: pytest.FixtureRequest,
        async_engines: dict[str, AsyncEngine],
        runner: asyncio.Runner,
    ) -> Backend:
        vendor, mode = request.param.split("-")
        factory = async_sessionmaker(async_engine(request, async_engines, runner, vendor))
        if mode == "own":
            store = SyncFacade(AsyncSQLAlchemyStore(Doc, factory, idempotency=LEDGER), runner)
            return Backend(f"async-{request.param}", store)
        return Backend(f"async-{request.param}", AsyncSessionPerCall(factory, runner))


# --- configuration ---------------------------------------------------------------------------


class _Base(DeclarativeBase):
    pass


class NoVersion(_Base):
    __tablename__ = "no_version"
    id: Mapped[int] = mapped_column(primary_key=True)


class TextVersion(_Base):
    __tablename__ = "text_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(10))


class Composite(_Base):
    __tablename__ = "composite"
    a: Mapped[int] = mapped_column(primary_key=True)
    b: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]


class Revised(_Base):
    """A model that already uses the ORM's own versioning, under another column name."""

    __tablename__ = "revised"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    rev: Mapped[int] = mapped_column(nullable=False)
    __mapper_args__ = {"version_id_col": rev}


@pytest.fixture
def memory_engine() -> Iterator[Any]:
    engine = create_engine("sqlite://")
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    ("model", "kwargs", "message"),
    [
        (NoVersion, {}, "no version column"),
        (TextVersion, {}, "not an integer"),
        (Composite, {"last_modified_column": None}, "composite"),
        (Doc, {"last_modified_column": "changed_at"}, "no column 'changed_at'"),
        (Doc, {"key_column": "note"}, "not unique"),
        (Revised, {"version_column": "id", "last_modified_column": None}, "version_id_col"),
        (object, {}, "neither a mapped class nor a Table"),
    ],
)
def test_unsafe_models_fail_at_construction(
    memory_engine: Any, model: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SQLAlchemyStore(model, sessionmaker(memory_engine), **kwargs)


def test_a_driver_without_reliable_row_counts_fails_at_construction(memory_engine: Any) -> None:
    dialect = memory_engine.dialect
    dialect.supports_sane_rowcount = False
    dialect.update_returning = dialect.delete_returning = False
    with pytest.raises(ConfigurationError, match="reliable row counts"):
        SQLAlchemyStore(Doc, sessionmaker(memory_engine))


def test_a_dialect_without_a_clock_rule_fails_at_construction(memory_engine: Any) -> None:
    memory_engine.dialect.name = "exotic"
    with pytest.raises(ConfigurationError, match="clock rule"):
        SQLAlchemyStore(Doc, sessionmaker(memory_engine))
    SQLAlchemyStore(Doc, sessionmaker(memory_engine), last_modified_column=None)  # versions only


def test_session_must_be_a_session_or_a_sessionmaker(memory_engine: Any) -> None:
    with pytest.raises(TypeError, match="Session or a sessionmaker"):
        SQLAlchemyStore(Doc, memory_engine)


# --- ORM integration -------------------------------------------------------------------------


@pytest.fixture
def sqlite_factory(tmp_path: Any) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'orm.db'}")
    create_tables(engine)
    _Base.metadata.create_all(engine)
    yield sessionmaker(engine)
    engine.dispose()


def test_versioned_orm_flushes_bump_the_version_and_last_modified(
    sqlite_factory: sessionmaker[Session],
) -> None:
    with sqlite_factory() as session:
        doc = Doc(id="orm", body="a")
        session.add(doc)
        session.commit()
        first = snapshot(doc)
        doc.body = "b"
        session.commit()
        second = snapshot(doc)
    assert (first.version, second.version) == (1, 2)
    assert first.last_modified is not None and second.last_modified is not None
    assert second.last_modified > first.last_modified  # same second: moved on by one


def test_a_stale_orm_flush_is_refused(sqlite_factory: sessionmaker[Session]) -> None:
    store = SQLAlchemyStore(Doc, sqlite_factory)
    store.compare_and_set("stale", Expectation(exists=False), {"body": "a"})
    with sqlite_factory(expire_on_commit=False) as session:
        doc = session.get(Doc, "stale")
        assert doc is not None
        session.commit()  # end the read; the instance keeps version 1
        store.compare_and_set("stale", Expectation.version(1), {"body": "other writer"})
        doc.body = "mine"
        with pytest.raises(StaleDataError):
            session.commit()
    assert store.get("stale")[1]["body"] == "other writer"  # type: ignore[index]


def test_a_loaded_instance_sees_the_stores_write(sqlite_factory: sessionmaker[Session]) -> None:
    SQLAlchemyStore(Doc, sqlite_factory).compare_and_set("id", Expectation(exists=False), {})
    with sqlite_factory() as session:
        doc = session.get(Doc, "id")
        assert doc is not None and doc.version == 1
        store = SQLAlchemyStore(Doc, session)
        result = store.compare_and_set("id", Expectation.version(1), {"body": "new"})
        assert (doc.version, doc.body) == (2, "new")
        assert store.snapshot(doc) == result.snapshot
        store.compare_and_delete("id", Expectation.version(2))
        assert doc not in session
        session.commit()


def test_mapper_version_id_col_under_another_name(sqlite_factory: sessionmaker[Session]) -> None:
    with sqlite_factory() as session:
        session.add(Revised(id=1, title="t"))
        session.commit()
    store = SQLAlchemyStore(Revised, sqlite_factory, last_modified_column=None)
    result = store.compare_and_set(1, Expectation.version(1), {"title": "u"})
    assert result.outcome is Outcome.WON
    assert result.snapshot is not None and result.snapshot.version == 2
    assert result.snapshot.last_modified is None


def test_a_core_table_works_too(tmp_path: Any) -> None:
    metadata = MetaData()
    table = Table(
        "plain",
        metadata,
        Column("slug", String(20), primary_key=True),
        Column("version", Integer, nullable=False),
        Column("body", String(20)),
    )
    engine = create_engine(f"sqlite:///{tmp_path / 'core.db'}")
    metadata.create_all(engine)
    store = SQLAlchemyStore(table, sessionmaker(engine), last_modified_column=None)
    assert store.compare_and_set("s", Expectation(exists=False), {"body": "x"}).won
    assert store.compare_and_set("s", Expectation.version(1), {"body": "y"}).won
    assert store.compare_and_set("s", Expectation.version(1), {"body": "z"}).outcome is (
        Outcome.LOST
    )
    engine.dispose()


def test_one_expected_version_is_an_equality_and_several_an_in_list(
    sqlite_factory: sessionmaker[Session],
) -> None:
    """The usual If-Match names one version: ``version = ?`` (no expanding IN to render on
    every write); a list of versions still guards with ``IN``, and both refuse a stale one."""
    from sqlalchemy import event

    store = SQLAlchemyStore(Doc, sqlite_factory)
    engine = sqlite_factory.kw["bind"]
    updates: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE"):
            updates.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert store.compare_and_set("eq", Expectation(exists=False), {"body": "a"}).won
        assert store.compare_and_set("eq", Expectation.version(1), {"body": "b"}).won
        assert store.compare_and_set("eq", Expectation.version(1), {"body": "c"}).outcome is (
            Outcome.LOST
        )
        several = Expectation(exists=True, versions=frozenset({1, 2}))
        assert store.compare_and_set("eq", several, {"body": "d"}).won
        assert store.compare_and_set("eq", several, {"body": "e"}).outcome is Outcome.LOST
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(updates) == 4
    assert all(" IN " not in sql and "version = ?" in sql for sql in updates[:2])
    assert all(" IN (" in sql for sql in updates[2:])
    assert store.read("eq").version == 3  # type: ignore[union-attr]


def test_unknown_fields_are_refused(sqlite_factory: sessionmaker[Session]) -> None:
    with pytest.raises(KeyError, match="no column 'colour'"):
        SQLAlchemyStore(Doc, sqlite_factory).compare_and_set("k", Expectation(), {"colour": 1})


def test_a_scoped_session_is_resolved_on_each_call(sqlite_factory: sessionmaker[Session]) -> None:
    registry = scoped_session(sqlite_factory)
    store = SQLAlchemyStore(Doc, registry)  # builds no session yet
    assert not registry.registry.has()
    assert store.compare_and_set("scoped", Expectation(exists=False), {"body": "a"}).won
    registry.commit()
    registry.remove()
    assert store.read("scoped").version == 1  # type: ignore[union-attr]
    registry.remove()


# --- the largest storable version ------------------------------------------------------------


@pytest.mark.parametrize(
    ("column_type", "limits"),
    [
        (Integer(), {"postgresql": 2**31 - 1, "mysql": 2**31 - 1, "sqlite": 2**63 - 1}),
        (BigInteger(), {"postgresql": 2**63 - 1, "mysql": 2**63 - 1, "sqlite": 2**63 - 1}),
        (SmallInteger(), {"postgresql": 2**15 - 1, "mysql": 2**15 - 1, "sqlite": 2**63 - 1}),
        (mysql.TINYINT(), {"postgresql": 2**31 - 1, "mysql": 2**7 - 1, "sqlite": 2**63 - 1}),
        (mysql.MEDIUMINT(), {"postgresql": 2**31 - 1, "mysql": 2**23 - 1}),
        (mysql.INTEGER(unsigned=True), {"mysql": 2**32 - 1, "postgresql": 2**31 - 1}),
        (mysql.BIGINT(unsigned=True), {"mysql": 2**64 - 1, "sqlite": 2**63 - 1}),
        (Integer().with_variant(BigInteger(), "postgresql"), {"postgresql": 2**63 - 1}),
    ],
    ids=repr,
)
def test_max_version_comes_from_the_column_type_per_dialect(
    column_type: Any, limits: dict[str, int]
) -> None:
    dialects = {
        "postgresql": postgresql.dialect(),
        "mysql": mysql.dialect(),
        "sqlite": sqlite.dialect(),
    }
    column = Column("version", column_type)
    for name, limit in limits.items():
        assert max_version(column, dialects[name]) == limit, name


def test_a_store_sends_no_version_its_column_cannot_hold(memory_engine: Any) -> None:
    create_tables(memory_engine)
    spec = SQLAlchemyStore(Doc, sessionmaker(memory_engine)).spec
    pg = postgresql.dialect()
    params = spec.condition_params(
        "k", Expectation(True, frozenset({2, 2**31}), frozenset({2**40, 5})), pg
    )
    assert params is not None
    assert (params["ifm_version"], params["ifm_not_versions"]) == (2, [5])
    assert spec.condition_params("k", Expectation.version(2**31), pg) is None
    assert spec.condition_params("k", Expectation.version(2**31), sqlite.dialect()) is not None
