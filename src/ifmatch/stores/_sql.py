"""SQL shared by the sync and async SQLAlchemy stores: the clock rule, the conditional
statements, and how database errors are classified. Pure SQLAlchemy Core, no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    Executable,
    Integer,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Dialect, Row
from sqlalchemy.exc import DBAPIError, NoInspectionAvailable
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapper
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import DateTime

from .base import Expectation, Snapshot, unmodified_since_limit
from .errors import ConfigurationError

__all__ = ["DbNow", "NextLastModified", "TableSpec", "is_retryable_conflict", "table_spec"]

Params = dict[str, Any]
Bound = tuple[Executable, Params]

CLOCK_DIALECTS = frozenset({"postgresql", "mysql", "mariadb", "sqlite"})

# PostgreSQL: serialization_failure, deadlock_detected.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
# MariaDB/MySQL: ER_CHECKREAD "Record has changed since last read" (innodb_snapshot_isolation),
# ER_LOCK_DEADLOCK. Both roll the whole transaction back.
_RETRYABLE_MYSQL_ERRNOS = frozenset({1020, 1213})
_MYSQL_DUPLICATE_KEY = 1062
# SQLite: SQLITE_BUSY (5, incl. BUSY_SNAPSHOT 517) and SQLITE_LOCKED (6), low byte of the code.
_RETRYABLE_SQLITE_CODES = frozenset({5, 6})

_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.000000"  # SQLAlchemy's SQLite DATETIME storage format

# Bits of an integer column type, by SQLAlchemy visit name; anything else is a 32-bit INTEGER.
_INTEGER_BITS = {
    "tinyint": 8,
    "smallint": 16,
    "small_integer": 16,
    "mediumint": 24,
    "bigint": 64,
    "big_integer": 64,
}
_MYSQL_ONLY = frozenset({"tinyint", "mediumint"})


def max_version(column: Column[Any], dialect: Dialect) -> int:
    """The largest version ``column`` can hold on ``dialect``, from its declared type.

    SQLite stores every INTEGER in up to 64 bits, whatever the declared width. Elsewhere the
    type decides (SMALLINT, INTEGER, BIGINT, MariaDB/MySQL TINYINT, MEDIUMINT and UNSIGNED).
    Larger numbers are never sent as parameters: PostgreSQL refuses them ("integer out of
    range") and SQLite's driver cannot bind past 64 bits.
    """
    if dialect.name == "sqlite":
        return 2**63 - 1
    impl = column.type.dialect_impl(dialect)
    kind = impl.__visit_name__.lower()
    mysql = dialect.name in ("mysql", "mariadb")
    if not mysql and kind in _MYSQL_ONLY:
        # SQLAlchemy 2.0 keeps a MySQL type as it is on other databases (2.1 turns it into
        # INTEGER); there the column is a plain INTEGER, and UNSIGNED means nothing.
        kind = "integer"
    bits: int = _INTEGER_BITS.get(kind, 32)
    unsigned = mysql and bool(getattr(impl, "unsigned", False))
    return (1 << bits) - 1 if unsigned else (1 << (bits - 1)) - 1


class DbNow(FunctionElement[datetime]):
    """The database server's clock, truncated to the second, in UTC.

    ``naive`` selects a ``timestamp without time zone`` on PostgreSQL (MySQL/MariaDB and SQLite
    store naive UTC values anyway).
    """

    type = DateTime(timezone=True)
    inherit_cache = True
    name = "ifmatch_db_now"

    def __init__(self, *, naive: bool = False) -> None:
        super().__init__()
        self.naive = naive

    def _gen_cache_key(self, anon_map: Any, bindparams: Any) -> Any:
        return (type(self), self.naive)


class NextLastModified(FunctionElement[datetime]):
    """The Last-Modified rule, in SQL: ``max(now, trunc(previous) + 1 second)``, where a NULL
    previous value yields ``now``. ``column`` is the Last-Modified column being updated."""

    type = DateTime(timezone=True)
    inherit_cache = True
    name = "ifmatch_next_last_modified"

    def __init__(self, column: ColumnElement[Any], *, naive: bool = False) -> None:
        super().__init__(column)
        self.naive = naive

    def _gen_cache_key(self, anon_map: Any, bindparams: Any) -> Any:
        column = next(iter(self.clauses))
        return (type(self), self.naive, column._gen_cache_key(anon_map, bindparams))


def _pg_now(naive: bool) -> str:
    # now() is the transaction's start time on the server; timezone('UTC', …) drops the zone.
    if naive:
        return "date_trunc('second', timezone('UTC', now()))"
    return "date_trunc('second', now())"


@compiles(DbNow, "postgresql")
def _now_postgresql(element: DbNow, compiler: SQLCompiler, **kw: Any) -> str:
    return _pg_now(element.naive)


@compiles(DbNow, "mysql")
@compiles(DbNow, "mariadb")
def _now_mysql(element: DbNow, compiler: SQLCompiler, **kw: Any) -> str:
    return "UTC_TIMESTAMP()"  # no fsp argument: whole seconds


@compiles(DbNow, "sqlite")
def _now_sqlite(element: DbNow, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('{_SQLITE_FORMAT}', 'now')"


@compiles(DbNow)
@compiles(NextLastModified)
def _no_clock(element: ClauseElement, compiler: SQLCompiler, **kw: Any) -> str:
    raise ConfigurationError(
        f"ifmatch has no database clock rule for the {compiler.dialect.name!r} dialect; "
        "use PostgreSQL, MariaDB/MySQL or SQLite, or pass last_modified_column=None"
    )


def _column_sql(element: NextLastModified, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(NextLastModified, "postgresql")
def _next_postgresql(element: NextLastModified, compiler: SQLCompiler, **kw: Any) -> str:
    # GREATEST ignores NULL arguments in PostgreSQL.
    column = _column_sql(element, compiler, **kw)
    return (
        f"GREATEST({_pg_now(element.naive)}, date_trunc('second', {column}) + interval '1 second')"
    )


@compiles(NextLastModified, "mysql")
@compiles(NextLastModified, "mariadb")
def _next_mysql(element: NextLastModified, compiler: SQLCompiler, **kw: Any) -> str:
    # GREATEST returns NULL if any argument is NULL in MySQL/MariaDB, hence the COALESCE.
    column = _column_sql(element, compiler, **kw)
    previous = f"{column} - INTERVAL MICROSECOND({column}) MICROSECOND + INTERVAL 1 SECOND"
    return f"GREATEST(UTC_TIMESTAMP(), COALESCE({previous}, UTC_TIMESTAMP()))"


@compiles(NextLastModified, "sqlite")
def _next_sqlite(element: NextLastModified, compiler: SQLCompiler, **kw: Any) -> str:
    # max() of text values compares them as strings; both sides use the same fixed format.
    column = _column_sql(element, compiler, **kw)
    now = f"strftime('{_SQLITE_FORMAT}', 'now')"
    return f"max({now}, coalesce(strftime('{_SQLITE_FORMAT}', {column}, '+1 second'), {now}))"


@dataclass(frozen=True, slots=True)
class TableSpec:
    """Where a versioned resource lives: its table, key, version and Last-Modified columns."""

    table: Table
    key: Column[Any]
    version: Column[Any]
    last_modified: Column[Any] | None
    columns: Mapping[str, Column[Any]]  # attribute (or column) name -> column
    mapper: Mapper[Any] | None
    # Statements built once per shape (dialect, which conditions, which columns), then run with
    # bound parameters: building and keying a statement costs more than running it.
    _templates: dict[tuple[Any, ...], Executable] = field(default_factory=dict, compare=False)
    _max_versions: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def aware(self) -> bool:
        """Whether the Last-Modified column stores time zones (PostgreSQL only)."""
        column = self.last_modified
        return column is not None and bool(getattr(column.type, "timezone", False))

    def naive_for(self, dialect: Dialect) -> bool:
        return not (dialect.name == "postgresql" and self.aware)

    def assignments(self, values: Mapping[str, Any]) -> dict[Column[Any], Any]:
        """Map ``values`` (by attribute or column name) to columns; refuse managed columns."""
        managed = {self.key, self.version, self.last_modified}
        result: dict[Column[Any], Any] = {}
        for name, value in values.items():
            column = self.columns.get(name)
            if column is None:
                raise KeyError(f"{self.table.name} has no column {name!r}")
            if column in managed:
                raise ValueError(f"{name!r} is managed by the store and cannot be set")
            result[column] = value
        return result

    def db_datetime(self, value: datetime, dialect: Dialect) -> datetime:
        """``value`` as a bound parameter for the Last-Modified column."""
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value.replace(tzinfo=None) if self.naive_for(dialect) else value

    def max_version(self, dialect: Dialect) -> int:
        """The largest version the version column holds on ``dialect`` (see ``max_version``)."""
        limit = self._max_versions.get(dialect.name)
        if limit is None:
            limit = self._max_versions[dialect.name] = max_version(self.version, dialect)
        return limit

    def condition_params(self, key: Any, expect: Expectation, dialect: Dialect) -> Params | None:
        """The bound values of a guarded WHERE clause, or ``None`` if no existing row can match
        (create-only, or an If-Match that names none of the versions the column can hold)."""
        top = self._max_versions.get(dialect.name)
        expect = expect.bounded(self.max_version(dialect) if top is None else top)
        if expect.exists is False or expect.versions == frozenset():
            return None
        params: Params = {"ifm_key": key}
        if expect.versions is not None:
            if len(expect.versions) == 1:  # the usual If-Match: "version = :v", no expanding IN
                (params["ifm_version"],) = expect.versions
            else:
                params["ifm_versions"] = sorted(expect.versions)
        if expect.not_versions:
            params["ifm_not_versions"] = sorted(expect.not_versions)
        if expect.unmodified_since is not None and self.last_modified is not None:
            # allows(): trunc(last_modified) <= since  <=>  last_modified < trunc(since) + 1s;
            # no bound at all when since is the last second of year 9999.
            limit = unmodified_since_limit(expect.unmodified_since)
            if limit is not None:
                params["ifm_since"] = self.db_datetime(limit, dialect)
        return params

    def conditions(self, params: Params) -> ColumnElement[bool]:
        """The guarded WHERE clause for the parameters ``condition_params`` produced."""
        where: list[ColumnElement[bool]] = [self.key == bindparam("ifm_key")]
        if "ifm_version" in params:
            where.append(self.version == bindparam("ifm_version"))
        elif "ifm_versions" in params:
            where.append(self.version.in_(bindparam("ifm_versions", expanding=True)))
        if "ifm_not_versions" in params:
            where.append(self.version.not_in(bindparam("ifm_not_versions", expanding=True)))
        if "ifm_since" in params and self.last_modified is not None:
            # A resource without a modification date ignores If-Unmodified-Since (RFC 9110
            # §13.1.4: "if the resource does not have a modification date available").
            lm = self.last_modified
            where.append(or_(lm.is_(None), lm < bindparam("ifm_since")))
        return and_(*where)

    def returned(self) -> list[Column[Any]]:
        columns = [self.version]
        if self.last_modified is not None:
            columns.append(self.last_modified)
        return columns

    def update(
        self, key: Any, expect: Expectation, values: Mapping[Column[Any], Any], dialect: Dialect
    ) -> Bound | None:
        """``UPDATE … SET values, version + 1, Last-Modified rule WHERE key AND expectation``."""
        params = self.condition_params(key, expect, dialect)
        if params is None:
            return None
        shape = ("update", dialect.name, *params, "|", *_value_shape(values, params))
        statement = self._templates.get(shape)
        if statement is None:
            changes: dict[Column[Any], Any] = {**_bound(values), self.version: self.version + 1}
            if self.last_modified is not None:
                naive = self.naive_for(dialect)
                changes[self.last_modified] = NextLastModified(self.last_modified, naive=naive)
            built = update(self.table).where(self.conditions(params)).values(changes)
            statement = built.returning(*self.returned()) if dialect.update_returning else built
            self._remember(shape, statement, values)
        return statement, params

    def delete(self, key: Any, expect: Expectation, dialect: Dialect) -> Bound | None:
        params = self.condition_params(key, expect, dialect)
        if params is None:
            return None
        shape = ("delete", dialect.name, *params)
        statement = self._templates.get(shape)
        if statement is None:
            built = delete(self.table).where(self.conditions(params))
            statement = built.returning(*self.returned()) if dialect.delete_returning else built
            self._remember(shape, statement, {})
        return statement, params

    def insert(self, key: Any, values: Mapping[Column[Any], Any], dialect: Dialect) -> Bound:
        """Create-only: an INSERT that does nothing (or fails with a duplicate key) if the key
        exists. PostgreSQL and SQLite use ``ON CONFLICT (key) DO NOTHING``."""
        params: Params = {"ifm_key": key}
        shape = ("insert", dialect.name, *_value_shape(values, params))
        statement = self._templates.get(shape)
        if statement is None:
            statement = self._insert(values, dialect)
            self._remember(shape, statement, values)
        return statement, params

    def _insert(self, values: Mapping[Column[Any], Any], dialect: Dialect) -> Executable:
        row: dict[Column[Any], Any] = {
            **_bound(values),
            self.key: bindparam("ifm_key"),
            self.version: 1,
        }
        if self.last_modified is not None:
            row[self.last_modified] = DbNow(naive=self.naive_for(dialect))
        statement: Any
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement = pg_insert(self.table).on_conflict_do_nothing(index_elements=[self.key])
        elif dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(self.table).on_conflict_do_nothing(index_elements=[self.key])
        else:
            statement = insert(self.table)
        statement = statement.values(row)
        if dialect.insert_returning:
            return cast(Executable, statement.returning(*self.returned()))
        return cast(Executable, statement)

    def _remember(
        self, shape: tuple[Any, ...], statement: Executable, values: Mapping[Any, Any]
    ) -> None:
        # SQL expressions among the values are part of the statement: not reusable.
        if not any(isinstance(value, ClauseElement) for value in values.values()):
            self._templates[shape] = statement

    def select_snapshot(self, key: Any) -> Select[Any]:
        return select(*self.returned()).where(self.key == key)

    def select_row(self, key: Any) -> Select[Any]:
        return select(*self.columns.values()).where(self.key == key)

    def snapshot(self, row: Row[Any] | None) -> Snapshot | None:
        """The snapshot in a row that has the version (and Last-Modified) columns."""
        if row is None:
            return None
        mapping = row._mapping
        last_modified = None if self.last_modified is None else mapping[self.last_modified]
        return Snapshot(int(mapping[self.version]), utc(last_modified))

    def values(self, row: Row[Any]) -> dict[str, Any]:
        mapping = row._mapping
        return {name: mapping[column] for name, column in self.columns.items()}

    def check_dialect(self, dialect: Dialect) -> None:
        """Fail loudly if this dialect cannot run the guarded statements safely."""
        if self.last_modified is not None and dialect.name not in CLOCK_DIALECTS:
            raise ConfigurationError(
                f"no database clock rule for the {dialect.name!r} dialect; "
                "pass last_modified_column=None to keep versions only"
            )
        if not dialect.supports_sane_rowcount and not (
            dialect.update_returning and dialect.delete_returning
        ):
            raise ConfigurationError(
                f"the {dialect.name}+{dialect.driver} driver does not report reliable row "
                "counts, so a conditional UPDATE cannot tell a win from a loss"
            )


def _value_shape(values: Mapping[Column[Any], Any], params: dict[str, Any]) -> tuple[Any, ...]:
    """The columns being set (part of a template's identity); plain values go into ``params``."""
    names: list[Any] = []
    for column, value in values.items():
        if isinstance(value, ClauseElement):
            names.append((column.key, id(value)))
        else:
            names.append(column.key)
            params[f"ifm_v_{column.key}"] = value
    return tuple(names)


def _bound(values: Mapping[Column[Any], Any]) -> dict[Column[Any], Any]:
    return {
        column: value
        if isinstance(value, ClauseElement)
        else bindparam(f"ifm_v_{column.key}", type_=column.type)
        for column, value in values.items()
    }


def utc(value: datetime | None) -> datetime | None:
    """A database datetime as an aware UTC datetime (naive values are UTC by convention)."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite values computed in SQL and read without a type
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


@functools.lru_cache(maxsize=256)
def table_spec(
    model: Any, version_column: str, last_modified_column: str | None, key_column: str | None
) -> TableSpec:
    """Resolve and validate the columns of ``model`` (a mapped class or a ``Table``).

    Raises:
        ConfigurationError: a missing or non-integer version column, a missing Last-Modified
            column, no single-column key, or a mapper ``version_id_col`` on another column.
    """
    mapper, table, columns = _columns_of(model)
    version = _version_column(mapper, columns, version_column, table)
    last_modified = None
    if last_modified_column is not None:
        last_modified = columns.get(last_modified_column)
        if last_modified is None:
            raise ConfigurationError(
                f"{table.name} has no column {last_modified_column!r}; "
                "pass last_modified_column=None to keep versions only"
            )
    key = _key_column(table, columns, key_column)
    return TableSpec(table, key, version, last_modified, columns, mapper)


def _columns_of(model: Any) -> tuple[Mapper[Any] | None, Table, dict[str, Column[Any]]]:
    if isinstance(model, Table):
        return None, model, {column.name: column for column in model.columns}
    try:
        mapper: Mapper[Any] = inspect(model)
    except NoInspectionAvailable:
        raise ConfigurationError(f"{model!r} is neither a mapped class nor a Table") from None
    table = mapper.local_table
    if not isinstance(table, Table):
        raise ConfigurationError(f"{model!r} is not mapped to a single table")
    columns = {
        attr.key: attr.columns[0]
        for attr in mapper.column_attrs
        if len(attr.columns) == 1
        and isinstance(attr.columns[0], Column)
        and attr.columns[0].table is table
    }
    return mapper, table, columns


def _version_column(
    mapper: Mapper[Any] | None, columns: Mapping[str, Column[Any]], name: str, table: Table
) -> Column[Any]:
    version_id = mapper.version_id_col if mapper is not None else None
    column = columns.get(name)
    if column is None and isinstance(version_id, Column) and version_id.table is table:
        column = version_id  # the mapper's version_id_col, under another name
    if column is None:
        raise ConfigurationError(
            f"{table.name} has no version column {name!r}: add the Versioned mixin or "
            "pass version_column=..."
        )
    if not isinstance(column.type, Integer):
        raise ConfigurationError(f"the version column {table.name}.{column.name} is not an integer")
    if version_id is not None and version_id is not column:
        raise ConfigurationError(
            f"the mapper's version_id_col ({version_id}) is not the store's version column "
            f"({column}); ORM flushes would not bump the version the store checks"
        )
    return column


def _key_column(table: Table, columns: Mapping[str, Column[Any]], name: str | None) -> Column[Any]:
    if name is not None:
        column = columns.get(name)
        if column is None:
            raise ConfigurationError(f"{table.name} has no key column {name!r}")
        if not (column.primary_key or column.unique):
            raise ConfigurationError(f"the key column {table.name}.{name} is not unique")
        return column
    primary = list(table.primary_key.columns)
    if len(primary) != 1:
        raise ConfigurationError(
            f"{table.name} has a composite or no primary key; pass key_column=..."
        )
    return primary[0]


def is_retryable_conflict(exc: BaseException) -> bool:
    """True for serialization failures and deadlocks: the transaction was rolled back by the
    database and may be retried (PostgreSQL 40001/40P01, MariaDB/MySQL 1020/1213, SQLite busy).
    """
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if orig is None:
        return False
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in _RETRYABLE_SQLSTATES:
        return True
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _RETRYABLE_SQLITE_CODES
    return _mysql_errno(orig) in _RETRYABLE_MYSQL_ERRNOS


def is_duplicate_key(exc: DBAPIError) -> bool:
    return _mysql_errno(exc.orig) == _MYSQL_DUPLICATE_KEY


def _mysql_errno(orig: BaseException | None) -> int | None:
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None
