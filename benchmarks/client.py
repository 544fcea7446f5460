"""Client benchmark: the transport's per-request cost, and updates/s under contention.

Against one local server (gunicorn, 2 processes x 4 threads with keep-alive, the
ifmatch-protected test app from ``tests/client/server_app.py`` on SQLite):

1. Overhead: the same request loop through a plain ``httpx.Client`` (A) and through one with
   ``IfMatchTransport`` (B), interleaved A/B/B/A over several rounds. Two loops: GET of one
   document, and a read-modify-write cycle (GET then PUT with If-Match; A tracks the ETag by
   hand, B lets the transport do it). Reports requests/s (median, min-max), the B/A ratio,
   and the client process's CPU time per request, which a loaded machine disturbs less.
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


def get_loop(http: httpx.Client, target: str, count: int) -> None:
    for _ in range(count):
        http.get(target).raise_for_status()


def write_loop_plain(http: httpx.Client, target: str, count: int) -> None:
    """GET + PUT cycles, tracking the ETag by hand."""
    for _ in range(count // 2):
        read = http.get(target)
        doc = read.json()
        put = http.put(target, json={"n": doc["n"] + 1}, headers={"If-Match": read.headers["ETag"]})
        put.raise_for_status()


def write_loop_transport(http: httpx.Client, target: str, count: int) -> None:
    """GET + PUT cycles, the transport adding If-Match."""
    for _ in range(count // 2):
        doc = http.get(target).json()
        http.put(target, json={"n": doc["n"] + 1}).raise_for_status()


def measure(
    loop: Callable[[httpx.Client, str, int], None], http: httpx.Client, target: str, count: int
) -> tuple[float, float]:
    """Return (requests/s of wall time, client CPU microseconds per request)."""
    wall, cpu = time.perf_counter(), time.process_time()
    loop(http, target, count)
    return count / (time.perf_counter() - wall), (time.process_time() - cpu) / count * 1e6


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):8.1f}  (min {min(values):8.1f}, max {max(values):8.1f})"
    )


def overhead(url: str, rounds: int, count: int) -> None:
    print(
        f"\n== per-request overhead: {rounds} rounds x {count} requests per arm, "
        "interleaved A/B, B/A =="
    )
    target = create(url, {"n": 0, "text": "x" * 200})
    with httpx.Client() as plain, httpx.Client(transport=IfMatchTransport()) as wrapped:
        loops = [("GET", get_loop, get_loop), ("GET+PUT", write_loop_plain, write_loop_transport)]
        for name, loop_a, loop_b in loops:
            measure(loop_a, plain, target, 50)  # warm connections and caches
            measure(loop_b, wrapped, target, 50)
            rates: dict[str, list[float]] = {"A": [], "B": []}
            cpus: dict[str, list[float]] = {"A": [], "B": []}
            for index in range(rounds):
                arms = [("A", loop_a, plain), ("B", loop_b, wrapped)]
                if index % 2:
                    arms.reverse()  # A/B then B/A: drift hits both arms alike
                for arm, loop, http in arms:
                    rate, cpu = measure(loop, http, target, count)
                    rates[arm].append(rate)
                    cpus[arm].append(cpu)
            report(name, rates, cpus)


def report(name: str, rates: dict[str, list[float]], cpus: dict[str, list[float]]) -> None:
    ratios = [b / a for a, b in zip(rates["A"], rates["B"], strict=True)]
    print(f"{name:8} plain httpx       req/s {summary(rates['A'])}")
    print(f"{name:8} IfMatchTransport  req/s {summary(rates['B'])}")
    print(
        f"{name:8} throughput ratio transport/plain: "
        f"medians {ratio(rates, statistics.median):.3f}, "
        f"best rounds {ratio(rates, max):.3f}, per-round median {statistics.median(ratios):.3f} "
        f"(quartiles {quantile(ratios, 0.25):.3f}-{quantile(ratios, 0.75):.3f})"
    )
    cpu_a, cpu_b = statistics.median(cpus["A"]), statistics.median(cpus["B"])
    low_a, low_b = min(cpus["A"]), min(cpus["B"])
    print(
        f"{name:8} client CPU us/request: plain median {cpu_a:.0f} (min {low_a:.0f}), "
        f"transport median {cpu_b:.0f} (min {low_b:.0f}); added: median {cpu_b - cpu_a:+.0f}, "
        f"min-to-min {low_b - low_a:+.0f}"
    )


def ratio(rates: dict[str, list[float]], pick: Callable[[list[float]], float]) -> float:
    return pick(rates["B"]) / pick(rates["A"])


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


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
    args = parser.parse_args()
    rounds, count, seconds = (6, 50, 1.0) if args.quick else (40, 100, 3.0)
    print(f"python {sys.version.split()[0]}, httpx {httpx.__version__}, {os.cpu_count()} CPUs")
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with server(workers=2, threads=8) as url:
        overhead(url, rounds, count)
        contention(url, 1 if args.quick else 3, seconds)
    print("load average at end:   {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
