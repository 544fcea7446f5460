"""SQL building blocks for the Django ORM store: the database clock, the Last-Modified rule,
one conditional ``UPDATE`` (with ``RETURNING`` where the backend has it), and the recognition
of serialization failures.

Private: ``ifmatch.stores.django`` is the public face.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    Count,
    DateTimeField,
    DecimalField,
    F,
    Field,
    Func,
    Max,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.sql.compiler import SQLCompiler
from django.db.models.sql.subqueries import UpdateQuery
from django.utils.dateparse import parse_datetime

from ..core.errors import ConfigurationError
from ._sqlite_clock import next_last_modified_sql
from .base import Expectation, Snapshot, unmodified_since_limit

__all__ = [
    "SUPPORTED_VENDORS",
    "DatabaseNow",
    "NextLastModified",
    "check_connection",
    "collection_state",
    "expectation_filter",
    "is_transient",
    "max_version",
    "column_whole_seconds",
    "next_last_modified_expression",
    "update_returning",
]

SUPPORTED_VENDORS = frozenset({"postgresql", "mysql", "sqlite"})


class DatabaseNow(Func):
    """The database server's current time in UTC, truncated to whole seconds: the
    Last-Modified of a row being created (the first write of its second).

    Last-Modified comes from the database clock, never from an application server's clock, so
    many app servers whose clocks disagree still produce one increasing sequence per row.
    """

    output_field = DateTimeField()
    template = "CURRENT_TIMESTAMP"

    def as_sql(  # type: ignore[override]
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> Any:
        raise ConfigurationError(
            f"ifmatch has no database clock for the {connection.vendor!r} backend; "
            f"supported: {', '.join(sorted(SUPPORTED_VENDORS))}"
        )

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> Any:
        # STATEMENT_TIMESTAMP, not CURRENT_TIMESTAMP (the transaction's start), like Now().
        return super().as_sql(
            compiler, connection, template="DATE_TRUNC('second', STATEMENT_TIMESTAMP())", **extra
        )

    def as_mysql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any) -> Any:
        # UTC_TIMESTAMP() without a precision argument has whole seconds, in UTC whatever the
        # session time zone; Django stores naive UTC in DATETIME columns when USE_TZ is on.
        return super().as_sql(compiler, connection, template="UTC_TIMESTAMP()", **extra)

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> Any:
        # The '%' are doubled twice: once for the template, once for the backend's paramstyle.
        return super().as_sql(
            compiler,
            connection,
            template="STRFTIME('%%%%Y-%%%%m-%%%%d %%%%H:%%%%M:%%%%S', 'now')",
            **extra,
        )


class NextLastModified(Func):
    """The Last-Modified rule (``ifmatch.stores.next_last_modified``) in SQL, on the database
    clock: the whole second for the first write of a second, else the clock's microsecond (on
    SQLite its millisecond) but always after the previous value. A column of whole seconds
    (``whole_seconds``, see :func:`column_whole_seconds`) keeps the rule of one second past
    the previous value.
    """

    output_field = DateTimeField()

    def __init__(self, field_name: str, *, whole_seconds: bool = False) -> None:
        super().__init__(F(field_name))
        self.whole_seconds = whole_seconds

    def as_sql(  # type: ignore[override]
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> Any:
        raise ConfigurationError(
            f"ifmatch has no database clock for the {connection.vendor!r} backend; "
            f"supported: {', '.join(sorted(SUPPORTED_VENDORS))}"
        )

    def _column(self, compiler: SQLCompiler) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return sql, list(params)

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> Any:
        column, params = self._column(compiler)
        second = "DATE_TRUNC('second', STATEMENT_TIMESTAMP())"
        if self.whole_seconds:  # GREATEST ignores NULL arguments in PostgreSQL
            sql = f"GREATEST({second}, DATE_TRUNC('second', {column}) + INTERVAL '1 second')"
            return sql, params
        sql = (
            f"CASE WHEN {column} IS NULL OR {second} > {column} THEN {second} "
            f"ELSE GREATEST(STATEMENT_TIMESTAMP(), {column} + INTERVAL '1 microsecond') END"
        )
        return sql, params * 3

    def as_mysql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any) -> Any:
        # UTC_TIMESTAMP() and UTC_TIMESTAMP(6) are read once per statement: one instant, the
        # first cut to the second, in UTC whatever the session time zone (Django stores naive
        # UTC in DATETIME columns when USE_TZ is on).
        column, params = self._column(compiler)
        if self.whole_seconds:
            previous = f"{column} - INTERVAL MICROSECOND({column}) MICROSECOND + INTERVAL 1 SECOND"
            sql = f"GREATEST(UTC_TIMESTAMP(), COALESCE({previous}, UTC_TIMESTAMP()))"
            return sql, params * 2
        sql = (
            f"CASE WHEN {column} IS NULL OR UTC_TIMESTAMP() > {column} THEN UTC_TIMESTAMP() "
            f"ELSE GREATEST(UTC_TIMESTAMP(6), {column} + INTERVAL 1 MICROSECOND) END"
        )
        return sql, params * 3

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> Any:
        # Text as Django writes it ('YYYY-MM-DD HH:MM:SS', '.ffffff' only when not whole),
        # compared as text; the '%' are doubled for the backend's paramstyle.
        column, params = self._column(compiler)
        sql = next_last_modified_sql(column, percent="%%", bare_seconds=True)
        return sql, params * sql.count(column) if params else []


def next_last_modified_expression(field_name: str, *, whole_seconds: bool = False) -> Func:
    """The SQL twin of ``ifmatch.stores.next_last_modified`` for the field ``field_name``
    (see :class:`NextLastModified`)."""
    return NextLastModified(field_name, whole_seconds=whole_seconds)


def column_whole_seconds(alias: str, table: str, column: str) -> bool | None:
    """Whether ``table.column`` on database ``alias`` keeps whole seconds only, from the
    database's own catalogue; ``None`` when it cannot tell (no such column yet).

    Django creates ``DATETIME(6)`` on MariaDB/MySQL and ``timestamp with time zone`` on
    PostgreSQL, both with microseconds, but a table made otherwise may have fewer: a date with
    a fraction would then be cut or rounded on the way in, and two writes of one second would
    look like one. SQLite keeps the text it is given.
    """
    connection = connections[alias]
    if connection.vendor == "sqlite":
        return False
    if connection.vendor == "mysql":
        where = "table_schema = DATABASE()"
    else:
        where = "table_schema = ANY (current_schemas(false))"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT MIN(datetime_precision) FROM information_schema.columns "
            f"WHERE {where} AND table_name = %s AND column_name = %s",
            [table, column],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return None
    return int(row[0]) < 6


def max_version(field: Field[Any, Any], alias: str) -> int:
    """The largest version ``field`` holds on database ``alias``, from the backend's own
    integer ranges (``connection.ops.integer_field_range``): 2**31 - 1 for an ``IntegerField``
    on PostgreSQL or MariaDB, 2**63 - 1 for anything on SQLite, and so on."""
    ops = connections[alias].ops
    for kind in (field.get_internal_type(), *(cls.__name__ for cls in type(field).__mro__)):
        if kind in ops.integer_field_ranges:
            return int(ops.integer_field_range(kind)[1])
    return 2**31 - 1  # an integer field of a kind no backend lists: the narrowest usual range


def expectation_filter(
    expect: Expectation,
    version_field: str,
    last_modified_field: str | None,
    *,
    max_version: int,
) -> Q | None:
    """The ``WHERE`` clause that makes an ``UPDATE`` / ``DELETE`` apply only when ``expect``
    allows the stored row (``Expectation.allows`` is the reference).

    Versions past ``max_version`` (what the version column holds) are never sent to the
    database: see ``Expectation.bounded``.

    Returns:
        ``None`` when no existing row can match (create-only, an empty version set), else a
        ``Q``.
    """
    expect = expect.bounded(max_version)
    if expect.exists is False:
        return None  # If-None-Match: * is false for every row that exists
    condition = Q()
    if expect.versions is not None:
        if not expect.versions:
            return None
        condition &= Q(**{f"{version_field}__in": sorted(expect.versions)})
    if expect.not_versions:
        condition &= ~Q(**{f"{version_field}__in": sorted(expect.not_versions)})
    if expect.unmodified_since is not None and last_modified_field is not None:
        # allows(): passes when last_modified <= unmodified_since at full precision (or there
        # is no Last-Modified). No bound at all past the end of the calendar in UTC.
        limit = unmodified_since_limit(expect.unmodified_since)
        if limit is not None:
            condition &= Q(**{f"{last_modified_field}__isnull": True}) | Q(
                **{f"{last_modified_field}__lte": limit}
            )
    return condition


def _convert(field: Field[Any, Any], value: Any) -> Any:
    if isinstance(value, str) and isinstance(field, DateTimeField):
        parsed = parse_datetime(value)
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def update_returning(
    queryset: QuerySet[Any],
    values: Sequence[tuple[Field[Any, Any], Any, Any]],
    returning: Sequence[Field[Any, Any]],
) -> list[tuple[Any, ...]] | None:
    """Run ``UPDATE … RETURNING`` on backends that have it (PostgreSQL, SQLite ≥ 3.35).

    Returns:
        The returned rows, or ``None`` when the backend cannot return from an ``UPDATE``
        (MariaDB/MySQL): the caller then reads the row back inside the same transaction.
    """
    connection = connections[queryset.db]
    if connection.vendor not in {"postgresql", "sqlite"}:
        return None
    query: Any = queryset.query.chain(UpdateQuery)
    query.add_update_fields(values)
    compiler = query.get_compiler(queryset.db)
    sql, params = compiler.as_sql()
    if not sql:
        return []
    if query.related_updates:  # multi-table updates cannot use one statement
        return None
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(field.column)) for field in returning)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {columns}", params)
        rows = cursor.fetchall()
    return [
        tuple(_convert(field, value) for field, value in zip(returning, row, strict=True))
        for row in rows
    ]


# PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected.
_PG_TRANSIENT = frozenset({"40001", "40P01"})
# MariaDB/MySQL error numbers: ER_CHECKREAD (1020, "Record has changed since last read", raised
# with innodb_snapshot_isolation), ER_LOCK_DEADLOCK (1213), ER_LOCK_WAIT_TIMEOUT (1205).
_MYSQL_TRANSIENT = frozenset({1020, 1213, 1205})


def is_transient(error: BaseException) -> bool:
    """Whether a database error is a serialization failure or deadlock, safe to retry."""
    if not isinstance(error, DatabaseError):
        return False
    cause = error.__cause__ or error
    sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if sqlstate in _PG_TRANSIENT:
        return True
    args = getattr(cause, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_TRANSIENT:
        return True
    # SQLite: "database is locked" / busy snapshot in WAL mode.
    return "database is locked" in str(cause)


def check_connection(alias: str) -> None:
    """Fail at start-up when a database cannot give safe compare-and-set.

    Raises:
        ConfigurationError: an unsupported backend, or a MySQL/MariaDB connection configured
            without ``CLIENT_FOUND_ROWS`` (row counts would report *changed* rows).
    """
    connection = connections[alias]
    if connection.vendor not in SUPPORTED_VENDORS:
        raise ConfigurationError(
            f"database {alias!r} uses the {connection.vendor!r} backend; ifmatch's Django "
            f"store supports {', '.join(sorted(SUPPORTED_VENDORS))}"
        )
    if connection.vendor == "mysql":
        flag = connection.settings_dict.get("OPTIONS", {}).get("client_flag")
        if flag is not None:
            from MySQLdb.constants import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
                CLIENT,
            )

            if not int(flag) & CLIENT.FOUND_ROWS:
                raise ConfigurationError(
                    f"database {alias!r} overrides OPTIONS['client_flag'] without "
                    "CLIENT.FOUND_ROWS: row counts would be 'changed rows', not 'matched rows'"
                )


def snapshot_from_row(row: Sequence[Any]) -> Snapshot:
    """``(version, last_modified)`` → ``Snapshot``."""
    version, last_modified = (row[0], row[1]) if len(row) > 1 else (row[0], None)
    if isinstance(last_modified, datetime) and last_modified.tzinfo is None:
        last_modified = last_modified.replace(tzinfo=UTC)
    return Snapshot(int(version), last_modified)


class RowDigest(Func):
    """A row's 60-bit hash of ``(key, version)``, computed by the database (see
    ``ifmatch.stores.collection``); SQLite has no hash function and is folded in Python."""

    output_field = DecimalField(max_digits=20, decimal_places=0)

    def as_sql(  # type: ignore[override]
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> Any:
        raise ConfigurationError(f"no row hash for the {connection.vendor!r} backend")

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> Any:
        # hashtextextended: 64 bits, signed; shifted into 60 unsigned bits like the others.
        return super().as_sql(
            compiler,
            connection,
            template="((hashtextextended(CAST(%(expressions)s AS text), 0) >> 4)"
            " + 576460752303423488)",
            arg_joiner=" AS text) || ':' || CAST(",
            **extra,
        )

    def as_mysql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any) -> Any:
        return super().as_sql(
            compiler,
            connection,
            template="CAST(CONV(SUBSTRING(MD5(CONCAT(%(expressions)s)), 1, 15), 16, 10)"
            " AS DECIMAL(20, 0))",
            arg_joiner=", ':', ",
            **extra,
        )


def collection_state(queryset: QuerySet[Any], version: str, last_modified: str | None) -> Any:
    """The :class:`~ifmatch.stores.collection.CollectionState` of the rows of ``queryset``:
    one aggregate query (PostgreSQL, MariaDB), or the ``(key, version)`` pairs hashed here
    (SQLite, which has no hash function)."""
    from .collection import CollectionState, fold

    rows = queryset.order_by()
    if connections[queryset.db].vendor == "sqlite":
        lm = [last_modified] if last_modified is not None else []
        pairs = rows.values_list("pk", version, *lm)
        return fold((row[0], row[1], row[2] if lm else None) for row in pairs)
    aggregates: dict[str, Any] = {
        "n": Count("pk"),
        "d": Sum(RowDigest(F("pk"), F(version))),
    }
    if last_modified is not None:
        aggregates["lm"] = Max(last_modified)
    row = rows.aggregate(**aggregates)
    return CollectionState(int(row["n"]), int(row["d"] or 0), row.get("lm"))
