"""Instructions per request of one uvicorn worker of the FastAPI benchmark app, under callgrind:
``python -m benchmarks.callgrind_fastapi [--requests N]``.

The worker runs under ``valgrind --tool=callgrind --instr-atstart=no``; instrumentation is
switched on (``callgrind_control -i on``) only around the N requests of each path, after 30
unmeasured ones, and the count dumped per path. Instruction counts do not depend on what else
the machine runs. They do move by a few per cent between two workers of the same code (the
collector's timing, the caches' state), so compare paths measured in the same worker: the
ratios printed at the end.

Needs ``valgrind`` and a PostgreSQL server (``IFMATCH_POSTGRES_URL``); seeds a scratch
database of its own.
"""

from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .harness.machine import ROOT
from .harness.servers import scratch_database

APPS = ROOT / "benchmarks" / "apps"
WARM_UP = 30
Call = Callable[[], int]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Client:
    """One keep-alive connection to the worker."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: str = ""
    ) -> tuple[int, dict[str, str]]:
        self.connection.request(method, path, body=body or None, headers=headers or {})
        response = self.connection.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}


def _paths(client: _Client) -> dict[str, tuple[Call, int]]:
    """name -> (one request, the status it must get)."""
    tag = client.request("GET", "/fastapi/ifmatch/docs/1")[1]["etag"]
    peer = client.request("GET", "/fastapi/fastapi-etag/docs/1")[1]["etag"]
    current = {"tag": client.request("GET", "/fastapi/ifmatch/docs/101")[1]["etag"]}
    text = json.dumps({"text": "x" * 1000})
    json_type = {"Content-Type": "application/json"}

    def guarded_put() -> int:
        headers = {"If-Match": current["tag"], **json_type}
        status, fields = client.request("PUT", "/fastapi/ifmatch/docs/101", headers, text)
        current["tag"] = fields.get("etag", current["tag"])
        return status

    return {
        "304": (
            lambda: client.request("GET", "/fastapi/ifmatch/docs/1", {"If-None-Match": tag})[0],
            304,
        ),
        "fastapi-etag 304": (
            lambda: client.request("GET", "/fastapi/fastapi-etag/docs/1", {"If-None-Match": peer})[
                0
            ],
            304,
        ),
        "GET 200": (lambda: client.request("GET", "/fastapi/ifmatch/docs/1")[0], 200),
        "bare 200": (lambda: client.request("GET", "/fastapi/bare/docs/1")[0], 200),
        "PUT If-Match": (guarded_put, 200),
        "bare PUT": (
            lambda: client.request("PUT", "/fastapi/bare/docs/102", json_type, text)[0],
            200,
        ),
    }


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def _measure(pid: int, out: Path, name: str, call: Call, status: int, requests: int) -> float:
    for _ in range(WARM_UP):
        got = call()
        if got != status:
            raise RuntimeError(f"{name}: {got}, expected {status}")
    _control(pid, "-z")
    _control(pid, "-i", "on")
    for _ in range(requests):
        call()
    _control(pid, "-i", "off")
    before = set(glob.glob(f"{out}/cg.out*"))
    _control(pid, f"--dump={name.replace(' ', '_')}")
    dump = max(set(glob.glob(f"{out}/cg.out*")) - before, key=os.path.getmtime)
    with open(dump) as lines:
        totals = next(line for line in lines if line.startswith("totals:"))
    return int(totals.split()[1]) / requests


def run(requests: int) -> dict[str, float]:
    """Instructions per request of each path, all in one worker."""
    with scratch_database() as database, tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        url = database.url()
        env = {
            **os.environ,
            "PYTHONHASHSEED": "0",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(APPS)]),
            "IFMATCH_BENCH_DATABASE_URL": url,
        }
        subprocess.run([sys.executable, "-m", "sa_models"], cwd=APPS, env=env, check=True)
        port = _free_port()
        argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
        argv += [f"--callgrind-out-file={out}/cg.out", sys.executable, "-m", "uvicorn"]
        argv += ["fastapi_app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        with open(out / "server.log", "w") as log:
            worker = subprocess.Popen(argv, cwd=APPS, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(600):
                try:
                    _Client(port).request("GET", "/health")
                    break
                except OSError:
                    time.sleep(1)
            client = _Client(port)
            results: dict[str, float] = {}
            for name, (call, status) in _paths(client).items():
                results[name] = _measure(worker.pid, out, name, call, status, requests)
                print(f"{name}: {results[name] / 1e6:.4f} M instructions per request", flush=True)
            return results
        finally:
            worker.terminate()
            worker.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=400, help="measured requests per path")
    counts = run(parser.parse_args().requests)
    print(f"fastapi-etag's 304 / ifmatch's 304: {counts['fastapi-etag 304'] / counts['304']:.3f}")
    print(f"ifmatch's GET 200 / bare 200: {counts['GET 200'] / counts['bare 200']:.3f}")
    print(f"PUT If-Match / bare PUT: {counts['PUT If-Match'] / counts['bare PUT']:.3f}")


if __name__ == "__main__":
    main()
