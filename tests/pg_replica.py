"""A throw-away PostgreSQL 15 primary and a streaming replica on free loopback ports.

The primary is made by ``initdb`` in a temporary directory; the replica by ``pg_basebackup -R``
from it, so it streams the primary's WAL as a production standby does. Replica lag is injected
with ``recovery_min_apply_delay`` (changed at run time with ``ALTER SYSTEM`` and a reload).
PostgreSQL refuses to run as root, so as root the servers run as the ``postgres`` user
(``runuser``). Both are stopped and deleted afterwards.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services import REQUIRE_SERVICES, free_port

BIN = Path(os.environ.get("IFMATCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
TOOLS = ("initdb", "pg_ctl", "pg_basebackup")


def _skip(message: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(message + " and IFMATCH_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


def _as_owner() -> list[str]:
    """The command prefix that runs PostgreSQL's programs as a user it accepts."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        _skip("running as root without runuser: PostgreSQL cannot be started")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        _skip("running as root and there is no postgres user to start PostgreSQL as")
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PgPair:
    directory: Path
    primary_port: int
    replica_port: int
    runner: list[str]

    def url(self, port: int, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://postgres@127.0.0.1:{port}/postgres"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def replica_url(self) -> str:
        return self.url(self.replica_port)

    def execute(self, port: int, statement: str) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            cursor = conn.execute(statement)  # type: ignore[arg-type]
            return list(cursor.fetchall()) if cursor.description else []

    def set_lag(self, milliseconds: int) -> None:
        """Delay the replica's apply of every commit by ``milliseconds``."""
        delay = f"ALTER SYSTEM SET recovery_min_apply_delay = {int(milliseconds)}"
        self.execute(self.replica_port, delay)
        self.execute(self.replica_port, "SELECT pg_reload_conf()")
        shown = self.execute(self.replica_port, "SHOW recovery_min_apply_delay")
        deadline = time.monotonic() + 10
        expected = "0" if milliseconds == 0 else f"{milliseconds}ms"
        if milliseconds and milliseconds % 1000 == 0:
            expected = f"{milliseconds // 1000}s"  # as PostgreSQL shows it
        while shown[0][0] != expected and time.monotonic() < deadline:
            time.sleep(0.05)
            shown = self.execute(self.replica_port, "SHOW recovery_min_apply_delay")

    def wait_caught_up(self, timeout: float = 30.0) -> None:
        """Wait until the replica has applied everything the primary has written so far."""
        target = self.execute(self.primary_port, "SELECT pg_current_wal_insert_lsn()")[0][0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.execute(
                self.replica_port,
                f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn",
            )[0][0]
            if done:
                return
            time.sleep(0.05)
        raise AssertionError("the replica did not catch up")

    def _run(self, *argv: str) -> None:
        done = subprocess.run(
            [*self.runner, *argv], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            pytest.fail(f"{argv[0]} failed:\n{done.stdout}{done.stderr}", pytrace=False)


def _configure(data: Path, port: int, extra: str = "") -> None:
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{data}'\nfsync = off\nsynchronous_commit = off\n"
            "full_page_writes = off\nmax_connections = 60\nshared_buffers = 16MB\n"
            "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n"
            f"logging_collector = off\n{extra}"
        )


@contextlib.contextmanager
def pg_primary_and_replica() -> Iterator[PgPair]:
    missing = [tool for tool in TOOLS if not (BIN / tool).exists()]
    if missing:
        _skip(f"PostgreSQL 15 server programs not found in {BIN} ({', '.join(missing)})")
    runner = _as_owner()
    directory = Path(tempfile.mkdtemp(prefix="ifmatch-pg-"))
    if runner:
        shutil.chown(directory, "postgres", "postgres")
    pair = PgPair(directory, free_port(), free_port(), runner)
    primary, replica = directory / "primary", directory / "replica"
    started: list[Path] = []
    try:
        pair._run(str(BIN / "initdb"), "-D", str(primary), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync")  # fmt: skip
        _configure(primary, pair.primary_port)
        pair._run(str(BIN / "pg_ctl"), "-D", str(primary), "-l", str(directory / "primary.log"),
                  "-w", "start")  # fmt: skip
        started.append(primary)
        pair._run(str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(pair.primary_port),
                  "-U", "postgres", "-D", str(replica), "-R", "-X", "stream",
                  "-c", "fast", "--no-sync")  # fmt: skip
        _configure(replica, pair.replica_port)
        pair._run(str(BIN / "pg_ctl"), "-D", str(replica), "-l", str(directory / "replica.log"),
                  "-w", "start")  # fmt: skip
        started.append(replica)
        assert pair.execute(pair.replica_port, "SELECT pg_is_in_recovery()") == [(True,)]
        yield pair
    finally:
        for data in reversed(started):
            subprocess.run(
                [*runner, str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True, timeout=60, check=False,
            )  # fmt: skip
        shutil.rmtree(directory, ignore_errors=True)
