"""The parts of a deployment the fault tests put proxies between: databases reached through a
proxy, the example apps as real server processes, and the faults done to them from outside
(terminating the app's database connections, SIGKILLing a server worker)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit

from faults.proxy import FaultProxy
from integrations.example_models import DATABASE_URL_ENV
from services import PYTHON, Database, free_port, running_server, subprocess_env

REDIS_URL_ENV = "IFMATCH_FAULTS_REDIS_URL"
REDIS_RETRY_ENV = "IFMATCH_FAULTS_REDIS_RETRY"
REDIS_PREFIX_ENV = "IFMATCH_FAULTS_REDIS_PREFIX"
IDEMPOTENCY_ENV = "IFMATCH_FAULTS_IDEMPOTENCY"
RedisRetry = Literal["off", "default"]


@dataclass(frozen=True)
class Proxied:
    """A service behind a proxy: ``direct`` reaches it, ``url`` goes through ``proxy``."""

    proxy: FaultProxy
    direct: str
    url: str


@dataclass(frozen=True)
class ProxiedDatabase:
    proxy: FaultProxy
    direct: Database
    through: Database


def through_proxy(db: Database, proxy: FaultProxy) -> ProxiedDatabase:
    return ProxiedDatabase(proxy, db, replace(db, host=proxy.host, port=proxy.port))


# --- server processes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    port: int
    pid: int  # the supervising process (gunicorn's arbiter, uvicorn's supervisor)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """The worker processes now serving (children of the supervisor)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [int(pid) for pid in children if not _is_helper(int(pid))]

    def kill_worker(self) -> int | None:
        """SIGKILL one worker (the supervisor starts another); its pid, if there was one."""
        for pid in self.workers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                return pid
        return None


def _is_helper(pid: int) -> bool:
    """multiprocessing's resource tracker, which uvicorn's supervisor may start."""
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


@contextlib.contextmanager
def flask_server(
    database_url: str | None, *, workers: int = 2, idempotent: bool = False
) -> Iterator[Server]:
    """The Flask example app under gunicorn: on the SQLAlchemy store at ``database_url``
    (its table must exist), or in memory. ``idempotent``: honouring ``Idempotency-Key``, its
    records in the database (``faults.apps.create_flask_app``; create them first with
    ``faults.apps.create_records``)."""
    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
    argv += ["--log-level", "warning", "--graceful-timeout", "2", "--timeout", "30"]
    if idempotent:
        assert database_url, "the idempotency records need a database"
        argv.append("faults.apps:create_flask_app()")
    else:
        argv.append("integrations.example_flask:create_app()")
    env = subprocess_env(**({DATABASE_URL_ENV: database_url} if database_url else {}))
    if not database_url:
        env.pop(DATABASE_URL_ENV, None)
    with running_server(argv, port, env=env) as process:
        yield Server(port, process.pid)


@contextlib.contextmanager
def fastapi_redis_server(
    redis_url: str, prefix: str, *, retry: RedisRetry, workers: int = 2, idempotent: bool = False
) -> Iterator[Server]:
    """The FastAPI example app under uvicorn on the async Redis store (``faults.apps``), its
    redis-py client retrying as redis-py does by default, or not at all; ``idempotent``:
    honouring ``Idempotency-Key`` (the records live in Redis, under ``prefix``)."""
    port = free_port()
    argv = [PYTHON, "-m", "uvicorn", "--workers", str(workers), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--no-date-header", "--no-access-log", "--log-level", "warning"]
    argv += ["--factory", "faults.apps:create_redis_app"]
    env = subprocess_env(
        **{
            REDIS_URL_ENV: redis_url,
            REDIS_RETRY_ENV: retry,
            REDIS_PREFIX_ENV: prefix,
            IDEMPOTENCY_ENV: "1" if idempotent else "",
        }
    )
    with running_server(argv, port, env=env) as process:
        yield Server(port, process.pid)


# --- terminating the app's connections from the server side ----------------------------------


class Terminator(Protocol):
    """Ends, on the database server, the connections that come from given local ports (the
    proxy's upstream side: :meth:`FaultProxy.upstream_ports`), as an administrator or a
    failover would. Returns how many it ended."""

    def terminate(self, ports: set[int]) -> int: ...

    def close(self) -> None: ...


class PostgresTerminator:
    def __init__(self, db: Database) -> None:
        import psycopg

        self.connection = psycopg.connect(
            host=db.host,
            port=db.port,
            user=db.user,
            password=db.password or None,
            dbname=db.name,
            autocommit=True,
        )

    def terminate(self, ports: set[int]) -> int:
        if not ports:
            return 0
        row = self.connection.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE client_port = ANY(%s) AND pid <> pg_backend_pid()",
            (sorted(ports),),
        ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.connection.close()


class MariaDBTerminator:
    def __init__(self, db: Database) -> None:
        import pymysql

        self.connection = pymysql.connect(
            host=db.host,
            port=db.port,
            user=db.user,
            password=db.password,
            database=db.name,
            autocommit=True,
        )

    def terminate(self, ports: set[int]) -> int:
        import pymysql

        if not ports:
            return 0
        ended = 0
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT ID FROM information_schema.PROCESSLIST"
                " WHERE ID <> CONNECTION_ID() AND SUBSTRING_INDEX(HOST, ':', -1) IN %s",
                ([str(port) for port in ports],),
            )
            for (ident,) in cursor.fetchall():
                try:
                    cursor.execute(f"KILL CONNECTION {int(ident)}")
                    ended += 1
                except pymysql.err.OperationalError:  # gone already (1094 unknown thread)
                    pass
        return ended

    def close(self) -> None:
        self.connection.close()


class RedisTerminator:
    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)

    def terminate(self, ports: set[int]) -> int:
        import redis

        ended = 0
        for entry in self.client.client_list():
            address = str(entry.get("addr", ""))
            if address.rpartition(":")[2].isdigit() and int(address.rpartition(":")[2]) in ports:
                with contextlib.suppress(redis.ResponseError):  # gone already
                    self.client.client_kill(address)
                    ended += 1
        return ended

    def close(self) -> None:
        self.client.close()


def redis_location(url: str) -> tuple[str, int, int]:
    """``(host, port, db)`` of a ``redis://`` URL."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379, int(parts.path.lstrip("/") or 0)
