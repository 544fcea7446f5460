"""What the machine was doing: CPU time of process trees read from ``/proc``, load average,
CPU steal, and the facts a result needs to be read (cores, versions, commit)."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TICKS = os.sysconf("SC_CLK_TCK")
PACKAGES = (
    "django",
    "djangorestframework",
    "drf-extensions",
    "flask",
    "flask-smorest",
    "marshmallow",
    "fastapi",
    "fastapi-etag",
    "starlette",
    "pydantic",
    "sqlalchemy",
    "psycopg",
    "asyncpg",
    "gunicorn",
    "uvicorn",
    "uvloop",
    "httptools",
    "httpx",
)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (0 if it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def reaped_cpu_seconds(pid: int) -> float:
    """CPU time of the children a process has already waited for (``cutime`` + ``cstime``)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[13]) + int(fields[14])) / TICKS


def parent(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live children (server workers)."""
    return process_cpu_seconds(pid) + sum(process_cpu_seconds(c) for c in children(pid))


@dataclass(frozen=True)
class CpuTimes:
    """System-wide jiffies from ``/proc/stat``."""

    busy: int
    idle: int
    steal: int

    @classmethod
    def now(cls) -> CpuTimes:
        with open("/proc/stat") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
        return cls(user + nice + system + irq + softirq, idle + iowait, steal)

    def since(self, earlier: CpuTimes) -> dict[str, float]:
        """Percent of all CPU time spent busy, idle and stolen between two readings."""
        busy = self.busy - earlier.busy
        idle = self.idle - earlier.idle
        steal = self.steal - earlier.steal
        total = max(busy + idle + steal, 1)
        return {
            "busy_pct": 100 * busy / total,
            "idle_pct": 100 * idle / total,
            "steal_pct": 100 * steal / total,
        }


class Conditions:
    """Load average and CPU use over a stretch of the run."""

    def __init__(self) -> None:
        self.load_before = os.getloadavg()
        self.cpu_before = CpuTimes.now()

    def finish(self) -> dict[str, Any]:
        return {
            "load_average_before": [round(x, 2) for x in self.load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            **{k: round(v, 1) for k, v in CpuTimes.now().since(self.cpu_before).items()},
        }


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    with contextlib.suppress(OSError, IndexError):
        found["wrk"] = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, check=False
        ).stdout.split()[1]
    return found


def facts() -> dict[str, Any]:
    """The machine and software a run measured."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "executable": sys.executable,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "versions": versions(),
        "busiest_other_processes": busiest_processes(),
    }


def busiest_processes(count: int = 5) -> list[str]:
    """What else was using the CPU when the run started (``ps``), for the record."""
    try:
        out = subprocess.run(
            ["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [" ".join(line.split()) for line in out.splitlines()[:count]]
