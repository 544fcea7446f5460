"""Real services for tests: PostgreSQL, MariaDB and Redis on this machine, and server processes.

Connection settings come from the environment (defaults match the development machines).
A missing service skips the test with a reason, unless ``IFMATCH_REQUIRE_SERVICES=1`` (CI), in
which case it fails. Each test session gets its own throw-away PostgreSQL and MariaDB database,
so parallel runs never see each other's tables.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
REQUIRE_SERVICES = os.environ.get("IFMATCH_REQUIRE_SERVICES") == "1"

POSTGRES_URL = os.environ.get("IFMATCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("IFMATCH_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("IFMATCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class Database:
    """Where a test database lives, convertible to each library's settings."""

    vendor: str  # "postgresql" or "mysql"
    host: str
    port: int
    user: str
    password: str
    name: str

    @classmethod
    def from_url(cls, url: str) -> Database:
        parts = urlsplit(url)
        vendor = "postgresql" if parts.scheme.startswith("postgres") else "mysql"
        return cls(
            vendor=vendor,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (5432 if vendor == "postgresql" else 3306),
            user=parts.username or ("postgres" if vendor == "postgresql" else "root"),
            password=parts.password or "",
            name=parts.path.lstrip("/") or "test",
        )

    @property
    def url(self) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"{self.vendor}://{auth}@{self.host}:{self.port}/{self.name}"

    def sqlalchemy_url(self, *, asynchronous: bool = False) -> str:
        """``postgresql+psycopg://…`` / ``mysql+pymysql://…`` (async: asyncpg / aiomysql)."""
        if self.vendor == "postgresql":
            driver = "postgresql+asyncpg" if asynchronous else "postgresql+psycopg"
        else:
            driver = "mysql+aiomysql" if asynchronous else "mysql+pymysql"
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"{driver}://{auth}@{self.host}:{self.port}/{self.name}"

    def django_settings(self) -> dict[str, object]:
        """A ``DATABASES['default']`` entry for Django."""
        engine = (
            "django.db.backends.postgresql"
            if self.vendor == "postgresql"
            else "django.db.backends.mysql"
        )
        return {
            "ENGINE": engine,
            "HOST": self.host,
            "PORT": str(self.port),
            "USER": self.user,
            "PASSWORD": self.password,
            "NAME": self.name,
        }


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def unavailable(what: str) -> None:
    """Skip (or, under IFMATCH_REQUIRE_SERVICES=1, fail) because a service is missing."""
    message = f"{what} is not reachable"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and IFMATCH_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


def _admin_execute(db: Database, statement: str) -> None:
    if db.vendor == "postgresql":
        import psycopg

        with psycopg.connect(
            host=db.host,
            port=db.port,
            user=db.user,
            password=db.password or None,
            dbname=db.name,
            autocommit=True,
        ) as conn:
            conn.execute(statement)  # type: ignore[arg-type]
    else:
        import pymysql

        conn = pymysql.connect(
            host=db.host,
            port=db.port,
            user=db.user,
            password=db.password,
            database=db.name,
            autocommit=True,
        )
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
        finally:
            conn.close()


@contextlib.contextmanager
def scratch_database(url: str, label: str) -> Iterator[Database]:
    """Create a fresh, uniquely named database on the server at ``url``; drop it afterwards."""
    admin = Database.from_url(url)
    if not port_open(admin.host, admin.port):
        unavailable(f"{label} at {admin.host}:{admin.port}")
    name = f"ifmatch_{uuid.uuid4().hex[:12]}"
    _admin_execute(admin, f"CREATE DATABASE {name}")
    try:
        yield replace(admin, name=name)
    finally:
        drop = f"DROP DATABASE IF EXISTS {name}"
        if admin.vendor == "postgresql":
            drop += " WITH (FORCE)"
        with contextlib.suppress(Exception):
            _admin_execute(admin, drop)


def redis_url_or_skip() -> str:
    parts = urlsplit(REDIS_URL)
    if not port_open(parts.hostname or "127.0.0.1", parts.port or 6379):
        unavailable(f"Redis at {parts.hostname}:{parts.port}")
    return REDIS_URL


# --- server processes ------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python process that must import this checkout's ifmatch."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(SRC), str(SRC.parent / "tests"), *filter(None, [env.get("PYTHONPATH")])]
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def running_server(
    argv: Sequence[str],
    port: int,
    *,
    env: dict[str, str] | None = None,
    ready_timeout: float = 30.0,
    cwd: str | Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process, wait until ``port`` accepts connections, stop it afterwards.

    The server's output goes to a temporary file, never to a pipe nobody reads while it runs
    (a chatty server would block once the pipe's buffer is full); it is shown if the server
    does not start.
    """
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            list(argv),
            env=env or subprocess_env(),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + ready_timeout
            while not port_open("127.0.0.1", port, timeout=0.2):
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    log.seek(0)
                    output = log.read().decode(errors="replace")
                    pytest.fail(f"server {list(argv)} did not start:\n{output}", pytrace=False)
                time.sleep(0.05)
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()


PYTHON = sys.executable
