"""The client: what ``IfMatchTransport`` adds to a plain ``httpx.Client``, and
``client.update`` under contention.

1. In process, over ``httpx.MockTransport`` (no network): CPU time per request of a plain
   client and of one wrapped in the transport, GET and PUT.
2. Against the Flask benchmark app (gunicorn, 2 workers x 8 threads, keep-alive, PostgreSQL):
   the same loop through a plain client (A) and through the transport (B): GET of one
   document, and a read-modify-write cycle (GET then PUT If-Match; A copies the ETag by hand,
   B lets the transport do it). Target: B / A >= 0.95. Here the client is the thing measured,
   so it runs in this process, one request at a time.
3. ``client.update(url, fn)`` from 1, 4 and 16 threads, each with its own ``Client`` (all
   sharing the process's conflict limiter), on one counter document: updates/s, attempts per
   update, and whether the final count equals the acknowledged updates. ``goodput.py`` puts
   the same call beside the naive loop in every stack.

    python -m benchmarks --only client
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx

from ifmatch.client import Backoff, Client, IfMatchTransport

from .apps import shapes
from .harness.cells import Cell, CpuMark, Options, Sample, interleave
from .harness.machine import Conditions
from .harness.records import Finding, Ratio, Result, Target
from .harness.servers import Server
from .web import APPS, running

TARGET = Target(">=", 0.95)
WRITERS = (1, 4, 16)


def cpu_loop(send: Callable[[], object]) -> Callable[[float], Sample]:
    """Requests per CPU second of this thread, and CPU microseconds per request."""

    def measure(seconds: float) -> Sample:
        count, cpu, stop = 0, time.thread_time(), time.perf_counter() + seconds
        while time.perf_counter() < stop:
            send()
            count += 1
        used = time.thread_time() - cpu
        return Sample(count / used, {"cpu_us": used / count * 1e6})

    return measure


def in_process_cells() -> tuple[list[Cell], list[httpx.Client]]:
    body = b'{"n": 1, "text": "' + b"x" * 200 + b'", "_links": {"self": {"href": "/docs/1"}}}'
    headers = [
        ("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("ETag", '"v1"'),
        ("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("Content-Type", "application/json"),
    ]
    mock = httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, content=body))
    plain = httpx.Client(transport=mock)
    wrapped = httpx.Client(transport=IfMatchTransport(mock))
    found = []
    for method in ("GET", "PUT"):
        for arm, http in (("plain", plain), ("transport", wrapped)):

            def send(http: httpx.Client = http, method: str = method) -> object:
                return http.request(method, "http://bench.test/docs/1", json={"n": 2})

            found.append(Cell(f"client in-process {method} {arm}", cpu_loop(send), "req/CPU-s"))
    return found, [plain, wrapped]


def server_loop(server: Server, operation: Callable[[], int]) -> Callable[[float], Sample]:
    """Requests per second of one client, with its CPU and the server's per request."""

    def measure(seconds: float) -> Sample:
        before, cpu = CpuMark.of(server), time.thread_time()
        count, started = 0, time.perf_counter()
        stop = started + seconds
        while time.perf_counter() < stop:
            count += operation()
        elapsed = time.perf_counter() - started
        extra = before.per_request_us(server, count)
        extra["client_cpu_us"] = (time.thread_time() - cpu) / count * 1e6
        return Sample(count / elapsed, extra)

    return measure


def server_cells(server: Server) -> tuple[list[Cell], list[httpx.Client]]:
    target = f"{server.base}/flask/ifmatch/docs/{shapes.PUT_BASE + 1}"
    plain = httpx.Client()
    wrapped = httpx.Client(transport=IfMatchTransport())

    def get(http: httpx.Client) -> int:
        http.get(target).raise_for_status()
        return 1

    def cycle_plain() -> int:
        read = plain.get(target)
        etag = read.headers["ETag"]
        body = {"text": read.json()["text"]}
        plain.put(target, json=body, headers={"If-Match": etag}).raise_for_status()
        return 2

    def cycle_transport() -> int:
        body = {"text": wrapped.get(target).json()["text"]}
        wrapped.put(target, json=body).raise_for_status()  # If-Match added by the transport
        return 2

    cells = [
        Cell("client GET plain", server_loop(server, lambda: get(plain))),
        Cell("client GET transport", server_loop(server, lambda: get(wrapped))),
        Cell("client GET+PUT plain", server_loop(server, cycle_plain)),
        Cell("client GET+PUT transport", server_loop(server, cycle_transport)),
    ]
    return cells, [plain, wrapped]


def update_cell(server: Server, writers: int) -> Cell:
    url = f"{server.base}/flask/ifmatch/docs/{shapes.RACE_ID}"

    def increment(document: dict[str, Any]) -> dict[str, Any]:
        return {"text": str(int(document["text"]) + 1)}

    def count() -> int:
        return int(httpx.get(url).json()["text"])

    def measure(seconds: float) -> Sample:
        before = count()
        done, calls = [0] * writers, [0] * writers
        barrier = threading.Barrier(writers + 1)
        stop = threading.Event()

        def writer(number: int) -> None:
            def counted(document: dict[str, Any]) -> dict[str, Any]:
                calls[number] += 1
                return increment(document)

            with Client(backoff=Backoff(base=0.002, cap=0.2)) as client:
                barrier.wait()
                while not stop.is_set():
                    client.update(url, counted, retries=100)
                    done[number] += 1

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        applied = count() - before
        return Sample(
            sum(done) / elapsed,
            {
                "acknowledged": float(sum(done)),
                "lost": float(sum(done) - applied),
                "attempts_per_update": sum(calls) / max(sum(done), 1),
            },
        )

    return Cell(f"client update {writers} writers", measure, "updates/s")


def run(options: Options) -> list[Result]:
    conditions = Conditions()
    result = Result("client", "Client: IfMatchTransport vs a plain httpx.Client")
    fine = options if options.quick else replace(options, seconds=0.5, repetitions=20)
    block, clients = in_process_cells()
    result.series += interleave(block, fine, "client in-process")
    for method in ("GET", "PUT"):
        result.ratios.append(
            Ratio.of(
                f"client.in_process.{method}",
                f"Client: transport / plain httpx, {method} in process (by CPU per request)",
                result.get(f"client in-process {method} transport"),
                result.get(f"client in-process {method} plain"),
            )
        )
    flask = replace(options, worker_class="gthread", threads=8)
    with running(APPS["flask"], flask) as (server, _racer):
        block, more = server_cells(server)
        clients += more
        result.series += interleave(block, fine, "client vs server")
        for operation in ("GET", "GET+PUT"):
            result.ratios.append(
                Ratio.of(
                    f"client.server.{operation}",
                    f"Client: transport / plain httpx, {operation} against the server",
                    result.get(f"client {operation} transport"),
                    result.get(f"client {operation} plain"),
                    TARGET,
                )
            )
        for writers in (4,) if options.quick else WRITERS:
            series = interleave([update_cell(server, writers)], options, "client update")[0]
            result.series.append(series)
            lost = sum(series.extra["lost"])
            result.findings.append(
                Finding(
                    f"client.lost.{writers}",
                    f"Client: client.update lost updates, {writers} writers",
                    lost,
                    Target("==", 0),
                    f"{lost:.0f} of {sum(series.extra['acknowledged']):.0f} acknowledged",
                )
            )
        result.context = {"server": server.description}
    for client in clients:
        client.close()
    result.context["conditions"] = conditions.finish()
    return [result]
