"""Real servers on loopback: a scratch PostgreSQL database, gunicorn / uvicorn processes with
the same worker count, a readiness probe, and their CPU time."""

from __future__ import annotations

import contextlib
import functools
import http.client
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .machine import ROOT, parent, reaped_cpu_seconds, tree_cpu_seconds

APPS = ROOT / "benchmarks" / "apps"
POSTGRES_URL = os.environ.get("IFMATCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: Every server gets the same number of worker processes, one per core of the 2-core VM.
WORKERS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Database:
    """A PostgreSQL database, as the URLs the different libraries want."""

    host: str
    port: int
    user: str
    password: str
    name: str

    def url(self, driver: str = "") -> str:
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"{scheme}://{auth}@{self.host}:{self.port}/{self.name}"

    def backend_cpu_seconds(self) -> float:
        """CPU time of the PostgreSQL server so far, read from ``/proc`` (the server runs on
        this machine): the postmaster's own, its live processes' and what the processes it
        already reaped used. A backend that exits mid-cell (a pool closing its overflow
        connections) is still counted, so a difference of two readings is never negative. The
        whole server is counted: during a benchmark nothing else uses it."""
        postmaster = _postmaster()
        return tree_cpu_seconds(postmaster) + reaped_cpu_seconds(postmaster)


@functools.cache
def _postmaster() -> int:
    """The PostgreSQL server's main process: the parent of an admin connection's backend."""
    import psycopg

    _, connect = _admin(POSTGRES_URL)
    with psycopg.connect(**connect) as conn:  # type: ignore[call-overload]
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    found = parent(int(row[0]))
    if found is None:
        raise RuntimeError("the PostgreSQL server is not on this machine")
    return found


def _admin(url: str) -> tuple[Database, dict[str, object]]:
    parts = urlsplit(url)
    db = Database(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or "",
        name=parts.path.lstrip("/") or "postgres",
    )
    connect = {
        "host": db.host,
        "port": db.port,
        "user": db.user,
        "password": db.password or None,
        "dbname": db.name,
        "autocommit": True,
    }
    return db, connect


@contextlib.contextmanager
def scratch_database(url: str = POSTGRES_URL) -> Iterator[Database]:
    """A fresh PostgreSQL database, dropped afterwards."""
    import psycopg

    admin, connect = _admin(url)
    name = f"ifmatch_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**connect) as conn:  # type: ignore[call-overload]
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield Database(admin.host, admin.port, admin.user, admin.password, name)
    finally:
        with psycopg.connect(**connect) as conn:  # type: ignore[call-overload]
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def gunicorn(
    app: str,
    port: int,
    *,
    worker_class: str = "sync",
    threads: int = 1,
    worker_connections: int | None = None,
) -> list[str]:
    """gunicorn with ``WORKERS`` processes; ``sync`` closes the connection after each
    response, ``gthread`` keeps it alive and accepts at most ``worker_connections`` per
    worker."""
    argv = [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}"]
    argv += ["--workers", str(WORKERS), "--worker-class", worker_class]
    if worker_class == "gthread":
        argv += ["--threads", str(threads)]
        if worker_connections is not None:
            argv += ["--worker-connections", str(worker_connections)]
    return [*argv, "--log-level", "warning", "--timeout", "120", "--backlog", "2048"]


def uvicorn(factory: str, port: int) -> list[str]:
    """uvicorn with ``WORKERS`` processes and keep-alive, no access log, each worker on its
    own ``SO_REUSEPORT`` socket (``reuseport.py`` says why)."""
    launcher = Path(__file__).with_name("reuseport.py")
    return [sys.executable, str(launcher), factory, "127.0.0.1", str(port), str(WORKERS)]


def describe(argv: list[str]) -> str:
    """The server command as the results name it."""
    if Path(argv[1]).name == "reuseport.py":
        factory, _host, port, workers = argv[2:]
        return (
            f"uvicorn {factory} --factory --port {port} --workers {workers} (one SO_REUSEPORT"
            " socket per worker) --loop uvloop --http httptools --no-access-log --backlog 2048"
        )
    return " ".join(argv[2:])


@dataclass
class Server:
    """A running server process group; ``cpu_seconds()`` sums the master and its workers."""

    argv: list[str]
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    database: Database | None = None
    description: str = ""
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.process.pid)

    def settle(self, quiet: float = 0.02, timeout: float = 60.0) -> None:
        """Wait until the server has finished what the last cell left in flight (a load
        generator stops mid-request; slow requests can keep the workers busy for seconds)
        and uses less than ``quiet`` of a core."""
        deadline = time.monotonic() + timeout
        before = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.cpu_seconds()
            if now - before < quiet * 0.1:
                return
            before = now


def subprocess_env(**extra: str) -> dict[str, str]:
    """This checkout's ``src`` (or ``$IFMATCH_BENCH_SRC``, to measure a modified copy) and
    the benchmark apps first on the path."""
    env = {**os.environ, **extra}
    src = env.get("IFMATCH_BENCH_SRC") or str(ROOT / "src")
    paths = [src, str(APPS), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


@contextlib.contextmanager
def serve(
    argv: list[str],
    port: int,
    env: Mapping[str, str],
    database: Database | None = None,
    health: str = "/health",
) -> Iterator[Server]:
    """Start ``argv`` in the apps directory, wait for ``health`` to answer 200, stop it after."""
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"ifmatch-bench-{port}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            argv,
            cwd=APPS,
            env=subprocess_env(**env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(argv, port, process, log, database, describe(argv), env)
    try:
        _wait_ready(server, health)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        log.unlink(missing_ok=True)


def _wait_ready(server: Server, health: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if request(server.port, "GET", health)[0] == 200:
                return
        if server.process.poll() is not None or time.monotonic() > deadline:
            tail = server.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"server did not start: {server.description}\n{tail}")
        time.sleep(0.2)


def request(
    port: int,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection: status, lower-cased headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()
