"""Client benchmark: the transport's per-request cost, and updates/s under contention.

First, the transport's own CPU cost per request, in process over ``httpx.MockTransport``
(no network noise). Then, against one local server (gunicorn, 2 processes x 8 threads with
keep-alive, the ifmatch-protected test app from ``tests/client/server_app.py`` on SQLite):

1. Overhead: the same requests through a plain ``httpx.Client`` (A) and through one with
   ``IfMatchTransport`` (B), alternating request by request, in several blocks. Two
   operations: GET of one document, and a read-modify-write cycle (GET then PUT with If-Match;
   A tracks the ETag by hand, B lets the transport do it). Reports requests/s (from each
   block's median latency), the B/A ratio per block, and the client's CPU time per request.
2. Contention: 1, 4 and 16 writers, each with its own ``Client``, calling
   ``client.update(url, increment)`` on one document for a fixed time. Reports updates/s,
   attempts per update, and checks that the final count equals the acknowledged updates.

Run: ``python benchmarks/client.py [--quick]``. Timing numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

import httpx  # noqa: E402

from ifmatch.client import Backoff, Client, IfMatchTransport  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(workers: int, threads: int) -> Iterator[str]:
    """The test app under gunicorn on a loopback port."""
    from client.server_app import init_db

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.sqlite")
        init_db(db)
        port = free_port()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])
        env["IFMATCH_CLIENT_DB"] = db
        argv = [
            sys.executable, "-m", "gunicorn",
            "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
            "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2",
            "client.server_app:app",
        ]  # fmt: skip
        process = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(url + "/hal/docs/warmup", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise SystemExit("the benchmark server did not start") from None
                    time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def create(url: str, body: dict[str, Any]) -> str:
    path = f"/hal/docs/bench-{uuid.uuid4().hex[:8]}"
    response = httpx.put(url + path, json=body, headers={"If-None-Match": "*"})
    response.raise_for_status()
    return url + path


# -- overhead ---------------------------------------------------------------------------------
#
# The two arms alternate request by request (A B, B A, A B, ...), so a change of machine load
# hits both alike; each block reports the median latency of each arm. The throughput ratio is
# the ratio of median latencies: requests run one after another, so throughput is 1/latency.


def get_once(http: httpx.Client, target: str) -> int:
    http.get(target).raise_for_status()
    return 1


def cycle_plain(http: httpx.Client, target: str) -> int:
    """GET then PUT, tracking the ETag by hand."""
    read = http.get(target)
    put = http.put(
        target, json={"n": read.json()["n"] + 1}, headers={"If-Match": read.headers["ETag"]}
    )
    put.raise_for_status()
    return 2


def cycle_transport(http: httpx.Client, target: str) -> int:
    """GET then PUT, the transport adding If-Match."""
    document = http.get(target).json()
    http.put(target, json={"n": document["n"] + 1}).raise_for_status()
    return 2


Operation = Callable[[httpx.Client, str], int]


def timed(operation: Operation, http: httpx.Client, target: str) -> tuple[float, float]:
    """Return (wall seconds, CPU seconds) per request of one operation."""
    wall, cpu = time.perf_counter(), time.process_time()
    requests = operation(http, target)
    return (time.perf_counter() - wall) / requests, (time.process_time() - cpu) / requests


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):8.1f}  (min {min(values):8.1f}, max {max(values):8.1f})"
    )


def overhead(url: str, blocks: int, pairs: int) -> None:
    print(
        f"\n== per-request overhead: {blocks} blocks x {pairs} operations per arm, "
        "alternating A/B request by request =="
    )
    target = create(url, {"n": 0, "text": "x" * 200})
    with httpx.Client() as plain, httpx.Client(transport=IfMatchTransport()) as wrapped:
        cases = [("GET", get_once, get_once), ("GET+PUT", cycle_plain, cycle_transport)]
        for name, plain_op, transport_op in cases:
            for _ in range(20):  # warm connections and caches
                plain_op(plain, target)
                transport_op(wrapped, target)
            rates: dict[str, list[float]] = {"A": [], "B": []}
            cpus: dict[str, list[float]] = {"A": [], "B": []}
            for _ in range(blocks):
                walls: dict[str, list[float]] = {"A": [], "B": []}
                cpu_block: dict[str, list[float]] = {"A": [], "B": []}
                for index in range(pairs):
                    arms = [("A", plain_op, plain), ("B", transport_op, wrapped)]
                    if index % 2:
                        arms.reverse()
                    for arm, operation, http in arms:
                        wall, cpu = timed(operation, http, target)
                        walls[arm].append(wall)
                        cpu_block[arm].append(cpu)
                for arm in ("A", "B"):
                    rates[arm].append(1 / statistics.median(walls[arm]))
                    cpus[arm].append(statistics.median(cpu_block[arm]) * 1e6)
            report(name, rates, cpus)


def in_process(blocks: int, count: int) -> None:
    """The transport's own CPU cost, without a network: the same requests answered in
    process by ``httpx.MockTransport``, plain (A) and wrapped (B), alternating in blocks."""
    print(f"\n== transport CPU cost without a network: {blocks} blocks x {count} requests ==")
    body = b'{"n": 1, "text": "' + b"x" * 200 + b'", "_links": {"self": {"href": "/docs/1"}}}'
    headers = [
        ("Server", "bench"),
        ("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("ETag", '"v1"'),
        ("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
    ]
    mock = httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, content=body))
    with (
        httpx.Client(transport=mock) as plain,
        httpx.Client(transport=IfMatchTransport(mock)) as wrapped,
    ):
        for method in ("GET", "PUT"):
            costs: dict[str, list[float]] = {"A": [], "B": []}
            for index in range(blocks + 1):
                arms = [("A", plain), ("B", wrapped)]
                if index % 2:
                    arms.reverse()
                for arm, http in arms:
                    start = time.process_time()
                    for _ in range(count):
                        http.request(method, "http://bench.test/docs/1", json={"n": 2})
                    if index:  # block 0 warms up
                        costs[arm].append((time.process_time() - start) / count * 1e6)
            added = [b - a for a, b in zip(costs["A"], costs["B"], strict=True)]
            print(
                f"{method:4} plain httpx {statistics.median(costs['A']):6.1f} us/request, "
                f"with IfMatchTransport {statistics.median(costs['B']):6.1f} us/request: "
                f"added {summary(added)} us"
            )


def report(name: str, rates: dict[str, list[float]], cpus: dict[str, list[float]]) -> None:
    ratios = [b / a for a, b in zip(rates["A"], rates["B"], strict=True)]
    print(f"{name:8} plain httpx       req/s {summary(rates['A'])}")
    print(f"{name:8} IfMatchTransport  req/s {summary(rates['B'])}")
    print(
        f"{name:8} throughput ratio transport/plain: median {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f} over {len(ratios)} blocks)"
    )
    cpu_a, cpu_b = statistics.median(cpus["A"]), statistics.median(cpus["B"])
    print(
        f"{name:8} client CPU per request: plain {cpu_a:.0f} us, transport {cpu_b:.0f} us "
        f"(added {cpu_b - cpu_a:+.0f} us)"
    )


# -- contention -------------------------------------------------------------------------------


def increment(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "n": document["n"] + 1}


def contention_run(url: str, writers: int, seconds: float) -> tuple[float, float, bool]:
    """Return (updates/s, attempts per update, final count == acknowledged updates)."""
    target = create(url, {"n": 0})
    done = 0
    attempts = 0
    lock = threading.Lock()
    barrier = threading.Barrier(writers + 1)
    stop = threading.Event()

    def writer() -> None:
        nonlocal done, attempts
        calls = 0

        def counted(document: dict[str, Any]) -> dict[str, Any]:
            nonlocal calls
            calls += 1
            return increment(document)

        with Client(backoff=Backoff(base=0.002, cap=0.2)) as client:
            barrier.wait()
            while not stop.is_set():
                client.update(target, counted, retries=100)
                with lock:
                    done += 1
                    attempts += calls
                calls = 0

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    with Client() as client:
        final = client.read(target).data["n"]
    return done / elapsed, attempts / max(done, 1), final == done


def contention(url: str, rounds: int, seconds: float) -> None:
    print(
        f"\n== client.update under contention: {rounds} rounds x {seconds:.1f} s"
        " per writer count =="
    )
    counts = (1, 4, 16)
    rates: dict[int, list[float]] = {n: [] for n in counts}
    tries: dict[int, list[float]] = {n: [] for n in counts}
    exact = True
    for index in range(rounds):
        order = counts if index % 2 == 0 else tuple(reversed(counts))
        for writers in order:
            rate, per_update, ok = contention_run(url, writers, seconds)
            rates[writers].append(rate)
            tries[writers].append(per_update)
            exact = exact and ok
    base = statistics.median(rates[1])
    for writers in counts:
        print(
            f"{writers:2} writers: updates/s {summary(rates[writers])}  "
            f"attempts/update {statistics.median(tries[writers]):.2f}  "
            f"ratio to 1 writer {statistics.median(rates[writers]) / base:.2f}"
        )
    print(f"final counts equal acknowledged updates in every run: {exact}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--part", choices=("all", "overhead", "contention"), default="all", help="what to run"
    )
    args = parser.parse_args()
    blocks, pairs, seconds = (2, 100, 1.0) if args.quick else (7, 500, 3.0)
    print(f"python {sys.version.split()[0]}, httpx {httpx.__version__}, {os.cpu_count()} CPUs")
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with server(workers=2, threads=8) as url:
        if args.part in ("all", "overhead"):
            in_process(blocks, 200 if args.quick else 2000)
            overhead(url, blocks, pairs)
        if args.part in ("all", "contention"):
            contention(url, 1 if args.quick else 3, seconds)
    print("load average at end:   {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
