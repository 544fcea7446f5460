"""Recognising "the database could not be reached, or the connection was lost".

Such an error says nothing about the resource: the request was neither refused nor performed
as far as the server knows. A write's outcome is unknown (the COMMIT may have happened before
the connection broke), so it is answered ``503 Service Unavailable`` with ``Retry-After``,
never 500, and never as a success or a 412.

Only modules that are already imported are consulted: an exception of a driver's classes
cannot exist otherwise, so this never imports a driver or a database layer.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

__all__ = ["is_unavailable"]

# PostgreSQL SQLSTATEs: class 08 (connection exception), admin_shutdown, crash_shutdown,
# cannot_connect_now, too_many_connections, and idle_session_timeout.
_PG_CLASSES = ("08",)
_PG_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "57P05"})
# MySQL/MariaDB client and server error numbers: can't connect (2002, 2003), server gone away
# (2006), lost connection (2013, 2055), too many connections (1040), server shutdown (1053),
# connection killed (1927), disconnected by the server for inactivity (4031).
_MYSQL_ERRNOS = frozenset({1040, 1053, 1927, 2002, 2003, 2006, 2013, 2055, 4031})


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the store could not be reached or the connection was lost.

    Recognises :class:`~ifmatch.stores.StoreUnavailable`, SQLAlchemy errors whose connection was
    invalidated and its pool's timeout, Django's ``InterfaceError`` and the driver errors below
    it, psycopg / asyncpg connection errors (SQLSTATE class 08, server shutdown, too many
    connections), PyMySQL / mysqlclient connection errors, redis-py's ``ConnectionError`` and
    ``TimeoutError``, and the operating system's connection errors.
    """
    return any(_lost(found) for found in _chain(error))


def _chain(error: BaseException) -> Iterator[BaseException]:
    # The error, the driver error a layer wraps (SQLAlchemy's ``orig``, Django's and
    # psycopg's ``__cause__``), and what it was raised while handling.
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending and len(seen) < 8:
        found = pending.pop(0)
        if found is None or id(found) in seen:
            continue
        seen.add(id(found))
        yield found
        orig = getattr(found, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None]
        pending += [found.__cause__, found.__context__]


def _lost(error: BaseException) -> bool:
    from .errors import StoreUnavailable

    if isinstance(error, StoreUnavailable | ConnectionError | TimeoutError):
        return True
    return (
        _sqlalchemy(error) or _django(error) or _postgres(error) or _mysql(error) or _redis(error)
    )


def _sqlalchemy(error: BaseException) -> bool:
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is None:
        return False
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    # The pool's "QueuePool limit ... reached, connection timed out": no connection to be had.
    return isinstance(error, exc.TimeoutError | exc.DisconnectionError)


def _django(error: BaseException) -> bool:
    db = sys.modules.get("django.db")
    # Django raises its own InterfaceError for "connection already closed".
    return db is not None and isinstance(error, db.InterfaceError)


def _postgres(error: BaseException) -> bool:
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(error, psycopg.Error):
        if isinstance(error, psycopg.InterfaceError):
            return True  # "the connection is closed"
        sqlstate = getattr(error, "sqlstate", None)
        if sqlstate is None:
            # A client-side OperationalError: connection refused, lost, or reset.
            return isinstance(error, psycopg.OperationalError)
        return _pg_state(sqlstate)
    asyncpg = sys.modules.get("asyncpg.exceptions")
    if asyncpg is not None:
        if isinstance(error, asyncpg.ConnectionDoesNotExistError):
            return True
        if isinstance(error, asyncpg.PostgresError):
            return _pg_state(str(getattr(error, "sqlstate", "") or ""))
    return False


def _pg_state(sqlstate: str) -> bool:
    return sqlstate.startswith(_PG_CLASSES) or sqlstate in _PG_STATES


def _mysql(error: BaseException) -> bool:
    for name in ("pymysql.err", "MySQLdb._exceptions"):
        module = sys.modules.get(name)
        if module is None or not isinstance(error, module.Error):
            continue
        if isinstance(error, module.InterfaceError):
            return True  # PyMySQL: (0, '') on a closed connection
        args = error.args
        return bool(args) and isinstance(args[0], int) and args[0] in _MYSQL_ERRNOS
    return False


def _redis(error: BaseException) -> bool:
    exc = sys.modules.get("redis.exceptions")
    return exc is not None and isinstance(error, exc.ConnectionError | exc.TimeoutError)
