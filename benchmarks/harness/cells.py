"""Cells (one thing measured once per repetition) and how they are interleaved.

A block of cells is measured A B C, then B C A, then C A B...: every repetition runs every
cell once, seconds apart, so a ratio of two cells of the same repetition cancels what the
machine did to both (the VM's throughput drifts by up to 3x over minutes).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from . import wrk
from .records import Series, fmt
from .servers import Server, request

#: A GET cell's window grows (up to MAX_WINDOW seconds) until it completes this many requests.
MIN_REQUESTS = 12
MAX_WINDOW = 6


@dataclass(frozen=True)
class Options:
    """How long and how often: ``quick`` is a smoke test, never a measurement."""

    quick: bool = False
    seconds: float = 2
    repetitions: int = 5
    warmup: bool = True
    connections: int = 8
    #: gunicorn's worker class: ``sync`` (one request per connection) or ``gthread``
    #: (keep-alive, ``threads`` threads per worker).
    worker_class: str = "gthread"
    threads: int = 4

    @classmethod
    def make(cls, quick: bool, **overrides: object) -> Options:
        base = cls(quick=True, seconds=1, repetitions=1, warmup=False) if quick else cls()
        return replace(base, **overrides)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Sample:
    value: float
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    name: str
    measure: Callable[[float], Sample]  # seconds -> one sample
    unit: str = "req/s"


def interleave(cells: Sequence[Cell], options: Options, label: str = "") -> list[Series]:
    """Warm every cell up, then run ``options.repetitions`` rotations of the block."""
    series = {cell.name: Series(cell.name, cell.unit) for cell in cells}
    if options.warmup:
        for cell in cells:
            cell.measure(1)
    for rep in range(options.repetitions):
        shift = rep % len(cells)
        for cell in [*cells[shift:], *cells[:shift]]:
            sample = cell.measure(options.seconds)
            series[cell.name].add(sample.value, **sample.extra)
        print(
            f"  {label} repetition {rep + 1}/{options.repetitions}: "
            + ", ".join(f"{s.name.split(' ', 1)[-1]} {fmt(s.values[-1])}" for s in series.values()),
            file=sys.stderr,
        )
    return list(series.values())


@dataclass(frozen=True)
class CpuMark:
    """CPU time of the server processes and of their database backends at one moment."""

    server: float
    database: float

    @classmethod
    def of(cls, server: Server) -> CpuMark:
        database = server.database.backend_cpu_seconds() if server.database else 0.0
        return cls(server.cpu_seconds(), database)

    def per_request_us(self, server: Server, requests: int) -> dict[str, float]:
        now = CpuMark.of(server)
        served = max(requests, 1)
        return {
            "server_cpu_us": (now.server - self.server) / served * 1e6,
            "db_cpu_us": (now.database - self.database) / served * 1e6,
        }


def _load_extras(load: wrk.Load, server: Server, before: CpuMark, done: int) -> dict[str, float]:
    served = max(load.requests, 1)
    return {
        **before.per_request_us(server, load.requests),
        "wrk_cpu_us": load.wrk_cpu_seconds / served * 1e6,
        "wrk_cores": load.wrk_cpu_seconds / load.seconds,
        "p50_ms": load.p50_ms,
        "p99_ms": load.p99_ms,
        "requests": float(done),
    }


def _check(load: wrk.Load, allowed: set[str], what: str, server: Server) -> None:
    server.settle()
    unexpected = {k: v for k, v in load.counters.items() if k not in allowed}
    if unexpected or load.socket_errors or load.timeouts:
        raise wrk.LoadError(
            f"{what}: unexpected answers {unexpected}, socket errors {load.socket_errors}, "
            f"timeouts {load.timeouts}"
        )


def get_cell(
    name: str,
    server: Server,
    path: str,
    options: Options,
    *,
    headers: Mapping[str, str] | None = None,
    expect: int = 200,
) -> Cell:
    """GET ``path`` over ``options.connections`` connections; every answer must be ``expect``.

    A slow cell (a 10,000-object 200 takes about a second) gets a longer window, learnt from
    its first run, so that each repetition completes at least ``MIN_REQUESTS`` requests."""
    learnt: list[float] = []

    def measure(seconds: float) -> Sample:
        window = max([seconds, *learnt])
        before = CpuMark.of(server)
        load = wrk.run(
            server.base + path,
            "get",
            seconds=window,
            connections=options.connections,
            headers=headers,
        )
        done = load.count(f"status_{expect}")
        extras = _load_extras(load, server, before, done)
        _check(load, {f"status_{expect}"}, f"GET {path}", server)
        if not learnt:
            rate = max(done / load.seconds, 0.1)
            learnt.append(min(MAX_WINDOW, math.ceil(MIN_REQUESTS / rate)))
        return Sample(done / load.seconds, extras)

    return Cell(name, measure)


def put_cell(
    name: str,
    server: Server,
    prefix: str,
    *,
    base: int,
    conditional: bool,
    body: str,
    writers: int,
    keyed: bool = False,
) -> Cell:
    """``writers`` connections, each PUTting its own document ``<prefix><base + n>`` (n = 1,
    2, ...) repeatedly, with ``If-Match`` set to the ETag of its previous answer when
    ``conditional``, and a new ``Idempotency-Key`` on each PUT when ``keyed``."""

    def measure(seconds: float) -> Sample:
        before = CpuMark.of(server)
        load = wrk.run(
            server.base,
            "put",
            seconds=seconds,
            connections=writers,
            threads=writers,
            args=[prefix, str(base), "1" if conditional else "0", body, "1" if keyed else "0"],
        )
        done = load.count("put_200")
        extras = _load_extras(load, server, before, done)
        _check(load, {"put_200", "get_200"}, f"PUT {prefix}", server)
        return Sample(done / load.seconds, extras)

    return Cell(name, measure, unit="PUT/s")


def read_counter(server: Server, path: str) -> int:
    import json

    status, _, body = request(server.port, "GET", path)
    if status != 200:
        raise wrk.LoadError(f"GET {path}: {status}")
    return int(json.loads(body)["text"])


def race_cell(name: str, server: Server, path: str, writers: int) -> Cell:
    """``writers`` clients doing GET → PUT If-Match → again on one counter document: committed
    (acknowledged) writes per second, and the acknowledged writes missing at the end."""

    def measure(seconds: float) -> Sample:
        before_value = read_counter(server, path)
        before = CpuMark.of(server)
        tail = 1
        load = wrk.run(
            server.base,
            "race",
            seconds=seconds + tail,
            connections=writers,
            threads=writers,
            args=[path, str(seconds)],
        )
        cpu = before.per_request_us(server, load.count("acknowledged") + load.count("refused"))
        allowed = {"acknowledged", "refused"}
        _check(load, allowed, f"race on {path}", server)
        acknowledged = load.count("acknowledged")
        applied = read_counter(server, path) - before_value
        return Sample(
            acknowledged / seconds,
            {
                "acknowledged": float(acknowledged),
                "applied": float(applied),
                "lost": float(acknowledged - applied),
                "refused": float(load.count("refused")),
                **cpu,
                "wrk_cores": load.wrk_cpu_seconds / load.seconds,
            },
        )

    return Cell(name, measure, unit="writes/s")
