"""SQL shared by the sync and async SQLAlchemy stores: the clock rule, the conditional
statements, and how database errors are classified. Pure SQLAlchemy Core, no I/O.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    Enum,
    Executable,
    Integer,
    Numeric,
    Select,
    String,
    Table,
    Text,
    Uuid,
    and_,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect, Row
from sqlalchemy.exc import DBAPIError, NoInspectionAvailable
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapper
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import DateTime

from ._sqlite_clock import next_last_modified_sql
from .base import Expectation, Snapshot, unmodified_since_limit
from .collection import CollectionState, fold
from .errors import ConfigurationError

__all__ = [
    "LAST_MODIFIED_TYPE",
    "DbNow",
    "NextLastModified",
    "TableSpec",
    "is_retryable_conflict",
    "table_spec",
    "whole_seconds",
]

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

# SQLite's clock, to the second ('now' is read once per statement).
_SQLITE_SECOND = "strftime('%Y-%m-%d %H:%M:%S', 'now')"

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
    return _integer_bounds(column, dialect)[1]


# A decimal integer as PostgreSQL, MariaDB and SQLite read one from text; 24 digits is more than
# any integer column holds (and keeps int() far from its digit limit).
_DECIMAL = re.compile(r"\s*[+-]?[0-9]{1,24}\s*", re.ASCII)


def _integer_bounds(column: Column[Any], dialect: Dialect) -> tuple[int, int]:
    if dialect.name == "sqlite":
        return -(2**63), 2**63 - 1
    impl = column.type.dialect_impl(dialect)
    kind = impl.__visit_name__.lower()
    on_mysql = dialect.name in ("mysql", "mariadb")
    if not on_mysql and kind in _MYSQL_ONLY:
        # SQLAlchemy 2.0 keeps a MySQL type as it is on other databases (2.1 turns it into
        # INTEGER); there the column is a plain INTEGER, and UNSIGNED means nothing.
        kind = "integer"
    bits: int = _INTEGER_BITS.get(kind, 32)
    if on_mysql and getattr(impl, "unsigned", False):
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def key_check(column: Column[Any], dialect: Dialect) -> Callable[[Any], bool]:
    """Whether a key can name a row of ``column`` on ``dialect`` (see ``TableSpec.holds_key``).

    Checked before a key is sent: an integer beyond the column's range, a string that is no
    integer for an integer column, a string longer than a ``VARCHAR(n)``, a string that is no
    UUID for a UUID column, or (PostgreSQL) a string holding NUL or unencodable characters
    makes the database fail the whole statement ("integer out of range", "invalid input syntax
    for type uuid", "value too long"), which would otherwise surface as a 500. Such a key names
    no row and can name none. Values of other types are left to the database.
    """
    postgresql = dialect.name == "postgresql"

    def text_ok(text: str) -> bool:
        if text.isascii():
            return not (postgresql and "\x00" in text)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: no driver can send them
            return False
        return not (postgresql and "\x00" in text)

    kind = column.type
    if isinstance(kind, Integer):
        low, high = _integer_bounds(column, dialect)

        def integer(key: Any) -> bool:
            if isinstance(key, int):
                return low <= key <= high
            if isinstance(key, str):
                return _DECIMAL.fullmatch(key) is not None and low <= int(key) <= high
            return True

        return integer
    if isinstance(kind, Uuid):

        def uuid_key(key: Any) -> bool:
            if isinstance(key, str):
                try:
                    uuid.UUID(key)
                except ValueError:
                    return False
            return True

        return uuid_key
    if isinstance(kind, Enum):
        members = frozenset(kind.enums)
        return lambda key: not isinstance(key, str) or key in members
    if isinstance(kind, String):
        length = kind.length

        def string(key: Any) -> bool:
            if isinstance(key, str):
                return text_ok(key) and (length is None or len(key) <= length)
            return True

        return string
    return lambda key: True


def whole_seconds(column_type: Any, dialect: Dialect) -> bool:
    """Whether a Last-Modified column of this declared type holds whole seconds only on
    ``dialect``: a MariaDB/MySQL ``DATETIME`` without ``fsp=6``, a PostgreSQL ``TIMESTAMP``
    declared with fewer than 6 fractional digits. SQLite keeps the text it is given.

    Such a column keeps the whole-second rule (``next_last_modified(whole_seconds=True)``):
    a date with a fraction would be cut (MariaDB) or rounded (MySQL, PostgreSQL) on the way
    in, and two writes of one second would look like one.
    """
    if dialect.name == "sqlite":
        return False
    # The variant declared for this dialect, and what SQLAlchemy adapts it to (the adaptation
    # keeps MySQL's fsp but drops PostgreSQL's precision).
    declared = getattr(column_type, "_variant_mapping", {}).get(dialect.name, column_type)
    candidates = (column_type.dialect_impl(dialect), declared)
    if dialect.name in {"mysql", "mariadb"}:
        digits = max((getattr(t, "fsp", None) or 0 for t in candidates), default=0)
        return digits < 6
    found = [getattr(t, "precision", None) for t in candidates]
    return any(digits is not None and digits < 6 for digits in found)


#: The Last-Modified column type of the ``Versioned`` mixin: microseconds on every database
#: (``DATETIME(6)`` on MariaDB/MySQL, whose plain ``DATETIME`` has whole seconds).
LAST_MODIFIED_TYPE = DateTime(timezone=True).with_variant(
    mysql.DATETIME(fsp=6, timezone=True), "mysql", "mariadb"
)


class DbNow(FunctionElement[datetime]):
    """The database server's clock, truncated to the second, in UTC: the Last-Modified of a
    row being created (the first write of its second).

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
    """The Last-Modified rule (``ifmatch.stores.next_last_modified``) in SQL, on the database
    clock: the whole second for the first write of a second, else the clock's microsecond but
    at least one microsecond after the previous value. ``column`` is the Last-Modified column
    being updated; its declared type decides whether it holds fractions (see
    ``whole_seconds``): a column of whole seconds keeps the rule of one second past the
    previous value."""

    type = DateTime(timezone=True)
    inherit_cache = True
    name = "ifmatch_next_last_modified"

    def __init__(self, column: ColumnElement[Any], *, naive: bool = False) -> None:
        super().__init__(column)
        self.naive = naive

    def _gen_cache_key(self, anon_map: Any, bindparams: Any) -> Any:
        column = next(iter(self.clauses))
        return (type(self), self.naive, column._gen_cache_key(anon_map, bindparams))


def _pg_now(naive: bool, *, whole: bool = True) -> str:
    # now() is the transaction's start time on the server; timezone('UTC', …) drops the zone.
    now = "timezone('UTC', now())" if naive else "now()"
    return f"date_trunc('second', {now})" if whole else now


@compiles(DbNow, "postgresql")
def _now_postgresql(element: DbNow, compiler: SQLCompiler, **kw: Any) -> str:
    return _pg_now(element.naive)


@compiles(DbNow, "mysql")
@compiles(DbNow, "mariadb")
def _now_mysql(element: DbNow, compiler: SQLCompiler, **kw: Any) -> str:
    return "UTC_TIMESTAMP()"  # no fsp argument: whole seconds


@compiles(DbNow, "sqlite")
def _now_sqlite(element: DbNow, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{_SQLITE_SECOND} || '.000000'"


@compiles(DbNow)
@compiles(NextLastModified)
def _no_clock(element: ClauseElement, compiler: SQLCompiler, **kw: Any) -> str:
    raise ConfigurationError(
        f"ifmatch has no database clock rule for the {compiler.dialect.name!r} dialect; "
        "use PostgreSQL, MariaDB/MySQL or SQLite, or pass last_modified_column=None"
    )


def _column_sql(element: NextLastModified, compiler: SQLCompiler, **kw: Any) -> tuple[str, bool]:
    """The column's SQL, and whether it holds whole seconds only."""
    column = next(iter(element.clauses))
    return str(compiler.process(column, **kw)), whole_seconds(column.type, compiler.dialect)


@compiles(NextLastModified, "postgresql")
def _next_postgresql(element: NextLastModified, compiler: SQLCompiler, **kw: Any) -> str:
    column, whole = _column_sql(element, compiler, **kw)
    second = _pg_now(element.naive)
    if whole:
        # GREATEST ignores NULL arguments in PostgreSQL.
        return f"GREATEST({second}, date_trunc('second', {column}) + interval '1 second')"
    now = _pg_now(element.naive, whole=False)
    return (
        f"CASE WHEN {column} IS NULL OR {second} > {column} THEN {second} "
        f"ELSE GREATEST({now}, {column} + interval '1 microsecond') END"
    )


@compiles(NextLastModified, "mysql")
@compiles(NextLastModified, "mariadb")
def _next_mysql(element: NextLastModified, compiler: SQLCompiler, **kw: Any) -> str:
    # UTC_TIMESTAMP() and UTC_TIMESTAMP(6) are read once per statement: the same instant, the
    # first cut to the second.
    column, whole = _column_sql(element, compiler, **kw)
    if whole:
        # GREATEST returns NULL if any argument is NULL in MySQL/MariaDB, hence the COALESCE.
        previous = f"{column} - INTERVAL MICROSECOND({column}) MICROSECOND + INTERVAL 1 SECOND"
        return f"GREATEST(UTC_TIMESTAMP(), COALESCE({previous}, UTC_TIMESTAMP()))"
    return (
        f"CASE WHEN {column} IS NULL OR UTC_TIMESTAMP() > {column} THEN UTC_TIMESTAMP() "
        f"ELSE GREATEST(UTC_TIMESTAMP(6), {column} + INTERVAL 1 MICROSECOND) END"
    )


@compiles(NextLastModified, "sqlite")
def _next_sqlite(element: NextLastModified, compiler: SQLCompiler, **kw: Any) -> str:
    # Text in SQLAlchemy's format, 'YYYY-MM-DD HH:MM:SS.ffffff', compared as text.
    column, _ = _column_sql(element, compiler, **kw)
    return next_last_modified_sql(column, bare_seconds=False)


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
    _key_checks: dict[str, Callable[[Any], bool]] = field(default_factory=dict, compare=False)

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

    def holds_key(self, key: Any, dialect: Dialect) -> bool:
        """Whether ``key`` can name a row on ``dialect``: a key the key column cannot hold is
        never sent (see ``key_check``); reads find nothing and writes match nothing."""
        check = self._key_checks.get(dialect.name)
        if check is None:
            check = self._key_checks[dialect.name] = key_check(self.key, dialect)
        return check(key)

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
            # allows(): last_modified <= since, at full precision; no bound at all when since
            # lies past the end of the calendar in UTC.
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
            where.append(or_(lm.is_(None), lm <= bindparam("ifm_since")))
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

    def select_collection(self, query: Select[Any] | None, dialect: Dialect) -> Select[Any]:
        """The aggregate a collection's validators are made of, over the rows ``query``
        selects (default: the whole table); see ``ifmatch.stores.collection``.

        PostgreSQL and MariaDB/MySQL hash each row's ``(key, version)`` and sum the hashes in
        one row ``(count, digest, newest Last-Modified)``. SQLite has no hash function: the
        statement then selects the rows ``(key, version, Last-Modified)`` for :func:`fold`.
        """
        rows = (query if query is not None else select(self.table)).subquery()
        key, version = rows.c[self.key.name], rows.c[self.version.name]
        newest: Any = null()
        if self.last_modified is not None:
            newest = rows.c[self.last_modified.name]
        if dialect.name == "sqlite":
            return select(key, version, newest)
        pair = func.concat(sql_cast(key, Text), ":", sql_cast(version, Text))
        if dialect.name == "postgresql":
            # 64 signed bits, shifted into 60 unsigned bits like MariaDB's.
            digest: Any = (func.hashtextextended(pair, 0).op(">>")(4)) + 576460752303423488
        else:
            hexdigits = func.substring(func.md5(pair), 1, 15)
            digest = sql_cast(func.conv(hexdigits, 16, 10), Numeric(20, 0))
        newest_row = func.max(newest) if self.last_modified is not None else null()
        return select(func.count(), func.coalesce(func.sum(digest), 0), newest_row).select_from(
            rows
        )

    def collection(self, result: Any, dialect: Dialect) -> CollectionState:
        """The :class:`CollectionState` from the result of :meth:`select_collection`."""
        if dialect.name == "sqlite":
            return fold((row[0], row[1], utc(row[2])) for row in result)
        count, digest, newest = result.one()
        return CollectionState(int(count), int(digest), utc(newest))

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

    def precision_query(self, dialect: Dialect) -> tuple[Any, Params] | None:
        """A query for the fractional digits the Last-Modified column really has, when its
        declared type promises microseconds on a database that may not keep them (a table
        created before the type said so); ``None`` when there is nothing to verify."""
        column = self.last_modified
        if column is None or dialect.name == "sqlite" or whole_seconds(column.type, dialect):
            return None
        schema = "current_schema()" if dialect.name == "postgresql" else "DATABASE()"
        query = text(
            "SELECT datetime_precision FROM information_schema.columns "
            f"WHERE table_schema = COALESCE(:schema, {schema}) "
            "AND table_name = :table AND column_name = :column"
        )
        return query, {"schema": self.table.schema, "table": self.table.name, "column": column.name}

    def check_precision(self, digits: Any) -> None:
        """Refuse a Last-Modified column declared with microseconds that keeps fewer.

        Raises:
            ConfigurationError: the column keeps fewer than 6 fractional digits.
        """
        if digits is None or int(digits) >= 6 or self.last_modified is None:
            return
        name = f"{self.table.name}.{self.last_modified.name}"
        raise ConfigurationError(
            f"{name} keeps {int(digits)} fractional digits but is declared with microseconds: "
            "ifmatch would record two writes of one second as one. Migrate it "
            f"(MariaDB/MySQL: ALTER TABLE {self.table.name} MODIFY {self.last_modified.name} "
            f"DATETIME(6) NOT NULL; PostgreSQL: ALTER TABLE {self.table.name} ALTER COLUMN "
            f"{self.last_modified.name} TYPE timestamptz(6)), or declare it with the "
            "precision it has"
        )

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
    if type(value) is datetime and value.tzinfo is UTC:  # the usual case: nothing to do
        return value
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
