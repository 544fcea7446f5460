"""The benchmark harness shared by ``flask.py`` and ``fastapi.py``: a scratch PostgreSQL
database, real servers on loopback, a threaded HTTP load generator, interleaved A/B cells,
medians, spreads and ratios. Nothing here asserts on time."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
APPS = Path(__file__).resolve().parent / "apps"
POSTGRES_URL = os.environ.get("IFMATCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    expect: int = 200


# A cell produces, per thread, the next request to send given the previous response's ETag.
Plan = Callable[[int, str | None], Request]


def constant(request: Request) -> Plan:
    return lambda thread, etag: request


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh PostgreSQL database; yields its ``postgresql+psycopg://`` URL."""
    import psycopg

    parts = urlsplit(POSTGRES_URL)
    name = f"ifmatch_bench_{uuid.uuid4().hex[:8]}"
    admin = {
        "host": parts.hostname,
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "password": parts.password,
        "dbname": parts.path.lstrip("/") or "postgres",
        "autocommit": True,
    }
    with psycopg.connect(**admin) as conn:  # type: ignore[arg-type]
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    auth = (parts.username or "postgres") + (f":{parts.password}" if parts.password else "")
    try:
        yield f"postgresql+psycopg://{auth}@{parts.hostname}:{parts.port or 5432}/{name}"
    finally:
        with psycopg.connect(**admin) as conn:  # type: ignore[arg-type]
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(argv: Sequence[str], port: int, env: dict[str, str]) -> Iterator[None]:
    """Run a server process from ``benchmarks/apps`` until the block ends."""
    environment = {**os.environ, **env}
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(APPS)])
    process = subprocess.Popen(
        list(argv),
        cwd=APPS,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                probe.request("GET", "/health")
                if probe.getresponse().status == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {argv}")
            time.sleep(0.2)
        yield
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=20)


def send(conn: http.client.HTTPConnection, request: Request) -> tuple[int, str | None]:
    conn.request(request.method, request.path, body=request.body, headers=request.headers)
    response = conn.getresponse()
    response.read()
    status, etag = response.status, response.getheader("ETag")
    if response.will_close:
        conn.close()
    return status, etag


def load(port: int, plan: Plan, seconds: float, threads: int) -> float:
    """Requests per second completed with the expected status by ``threads`` clients."""
    counts = [0] * threads
    failures: list[str] = []
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        etag: str | None = None
        while time.monotonic() < stop:
            request = plan(index, etag)
            status, new_etag = send(conn, request)
            if status != request.expect:
                failures.append(f"{request.method} {request.path}: {status}")
                return
            etag = new_etag or etag
            counts[index] += 1
        conn.close()

    started = time.monotonic()
    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise RuntimeError(f"unexpected responses: {failures[:3]}")
    return sum(counts) / (time.monotonic() - started)


@dataclass
class Bench:
    """Interleaved cells: every repetition runs every cell once, in a rotating order."""

    port: int
    seconds: float
    repetitions: int
    threads: int
    cells: dict[str, Plan] = field(default_factory=dict)
    results: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, plan: Plan) -> None:
        self.cells[name] = plan

    def run(self) -> None:
        names = list(self.cells)
        for name in names:  # warm up every code path, connection pool and cache once
            load(self.port, self.cells[name], min(0.3, self.seconds), self.threads)
        for rep in range(self.repetitions):
            shift = rep % len(names)
            for name in names[shift:] + names[:shift]:
                rate = load(self.port, self.cells[name], self.seconds, self.threads)
                self.results.setdefault(name, []).append(rate)
            print(f"  repetition {rep + 1}/{self.repetitions} done", file=sys.stderr)

    def median(self, name: str) -> float:
        return statistics.median(self.results[name])

    def report(self, ratios: Sequence[tuple[str, str, str, str]]) -> None:
        print(f"\n{'cell':<34} {'median req/s':>13} {'min':>9} {'max':>9}")
        for name, rates in self.results.items():
            median = statistics.median(rates)
            print(f"{name:<34} {median:>13.1f} {min(rates):>9.1f} {max(rates):>9.1f}")
        print(f"\n{'ratio':<52} {'median':>7} {'spread':>15}  target")
        for label, top, bottom, target in ratios:
            per_rep = [a / b for a, b in zip(self.results[top], self.results[bottom], strict=True)]
            spread = f"{min(per_rep):.2f}-{max(per_rep):.2f}"
            print(
                f"{label:<52} {self.median(top) / self.median(bottom):>7.2f} {spread:>15}  {target}"
            )


def settings(argv: Sequence[str]) -> tuple[float, int]:
    """(seconds per cell, repetitions): ``--quick`` for a smoke run."""
    return (0.5, 2) if "--quick" in argv else (2.0, 5)


# --- the cells both benchmarks measure ---------------------------------------------------------

SIZES = ("small", "large", "huge")  # ~1 KB, 1,000 nested objects (~100 KB), one 1 MB field


def etag_of(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    tag = response.getheader("ETag")
    assert tag, path
    return tag


def add_cells(bench: Bench, port: int, peer: str) -> None:
    """GET 200 bare / ifmatch / peer, GET 304 ifmatch / peer at each size, and PUT."""
    for size in SIZES:
        bench.add(f"bare 200 {size}", constant(Request("GET", f"/bare/{size}")))
        for who in ("ifmatch", peer):
            path = f"/{who}/{size}"
            bench.add(f"{who} 200 {size}", constant(Request("GET", path)))
            tagged = {"If-None-Match": etag_of(port, path)}
            bench.add(f"{who} 304 {size}", constant(Request("GET", path, tagged, expect=304)))
    body = b'{"text": "' + b"y" * 200 + b'"}'
    json_type = {"Content-Type": "application/json"}
    bench.add(
        "bare PUT (unconditional)",
        lambda thread, etag: Request("PUT", f"/bare/put-{thread}", json_type, body),
    )

    def conditional_put(thread: int, etag: str | None) -> Request:
        tag = etag if etag and etag.startswith('"v') else etag_of(port, f"/ifmatch/put-{thread}")
        return Request("PUT", f"/ifmatch/put-{thread}", {**json_type, "If-Match": tag}, body)

    bench.add("ifmatch PUT (If-Match, CAS)", conditional_put)


def ratios(peer: str) -> list[tuple[str, str, str, str]]:
    found = [
        (f"GET 200 ifmatch / bare, {size}", f"ifmatch 200 {size}", f"bare 200 {size}", ">= 0.95")
        for size in SIZES
    ]
    for who in ("ifmatch", peer):
        for size, target in zip(SIZES, (">= 1", ">= 5", ">= 10"), strict=True):
            goal = target if who == "ifmatch" else "(peer)"
            found.append(
                (f"{who} 304 / 200, {size}", f"{who} 304 {size}", f"{who} 200 {size}", goal)
            )
    found.append(
        (
            "PUT conditional / unconditional",
            "ifmatch PUT (If-Match, CAS)",
            "bare PUT (unconditional)",
            ">= 0.9",
        )
    )
    return found


def main(name: str, server_argv: Callable[[int], list[str]], peer: str, argv: Sequence[str]) -> int:
    """Populate a scratch database, start the server, run the interleaved cells, report."""
    from bench_models import DATABASE_URL_ENV, populate

    seconds, repetitions = settings(argv)
    threads = 4
    with scratch_database() as url:
        populate(url)
        port = free_port()
        with server(server_argv(port), port, {DATABASE_URL_ENV: url}):
            bench = Bench(port, seconds, repetitions, threads)
            add_cells(bench, port, peer)
            print(
                f"{name}: {' '.join(server_argv(port)[2:5])}, {threads} client threads, "
                f"{seconds}s x {repetitions} per cell, {os.cpu_count()} CPUs",
                file=sys.stderr,
            )
            bench.run()
    bench.report(ratios(peer))
    return 0
