"""The load generator: ``wrk`` (C, epoll, keep-alive when the server allows it) in its own
process, with small Lua scripts for the requests that depend on the previous response.

Its own CPU time comes from ``wait4``'s resource usage, so every measurement says how much of
the machine the load generator took, and a run can show that it was not the bottleneck.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua"
MARKER = "@@result "


class LoadError(RuntimeError):
    """wrk failed, or the server answered something other than what the cell expects."""


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise LoadError("wrk is not installed: apt-get install -y wrk")
    return path


@dataclass(frozen=True)
class Load:
    """What one wrk run did."""

    seconds: float
    requests: int
    counters: dict[str, int]
    p50_ms: float
    p99_ms: float
    socket_errors: int
    timeouts: int
    wrk_cpu_seconds: float

    def count(self, key: str) -> int:
        return self.counters.get(key, 0)

    def rate(self, key: str | None = None) -> float:
        """Requests per second (or ``key`` events per second)."""
        done = self.requests if key is None else self.count(key)
        return done / self.seconds


def _script(name: str) -> Path:
    source = (LUA / "common.lua").read_text() + "\n" + (LUA / f"{name}.lua").read_text()
    descriptor, name = tempfile.mkstemp(suffix=".lua", prefix="ifmatch-wrk-")
    with os.fdopen(descriptor, "w") as handle:
        handle.write(source)
    return Path(name)


def run(
    url: str,
    script: str,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    args: Sequence[str] = (),
) -> Load:
    """Run wrk for ``seconds`` (whole seconds, at least one) with ``connections`` connections
    over ``threads`` threads."""
    lua = _script(script)
    duration = f"{max(1, round(seconds))}s"
    argv = [require_wrk(), "-t", str(threads), "-c", str(connections), "-d", duration]
    argv += ["--timeout", "60s", "-s", str(lua)]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if method != "GET":
        argv += ["-M", method]  # unused by the scripts that build their own requests
    argv += [url, "--", *args]
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started = time.perf_counter()
        assert process.stdout is not None and process.stderr is not None
        out = process.stdout.read().decode()
        err = process.stderr.read().decode()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
    finally:
        lua.unlink(missing_ok=True)
    line = next((x for x in out.splitlines() if x.startswith(MARKER)), None)
    if process.returncode != 0 or line is None:
        raise LoadError(f"wrk failed ({process.returncode}): {err.strip() or out[-500:]}")
    data = json.loads(line[len(MARKER) :])
    return Load(
        seconds=data["duration_us"] / 1e6 or wall,
        requests=data["requests"],
        counters=data["counters"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        socket_errors=data["socket_errors"],
        timeouts=data["timeouts"],
        wrk_cpu_seconds=usage.ru_utime + usage.ru_stime,
    )
