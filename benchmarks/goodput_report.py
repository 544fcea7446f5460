"""The goodput section of ``docs/performance.md``: a table per writer count and stack, and
the results of a separate ``--only goodput`` run when the main run has none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import plots
from .harness.machine import ROOT
from .harness.records import Result, fmt

#: Where ``python -m benchmarks --only goodput --json ...`` keeps its published run.
GOODPUT = ROOT / "benchmarks" / "results" / "goodput.json"


def merge_separate_run(run: dict[str, Any], path: Path = GOODPUT) -> dict[str, Any]:
    """``run`` with the goodput results of the separate run at ``path`` added, if ``run`` has
    none of its own (a full run measures them itself)."""
    benchmarks = run.get("benchmarks", [])
    if any(r["name"].startswith("goodput-") for r in benchmarks) or not path.exists():
        return run
    separate = json.loads(path.read_text())
    found = [r for r in separate.get("benchmarks", []) if r["name"].startswith("goodput-")]
    keys = ("started", "seconds", "options", "machine", "conditions")
    return {
        **run,
        "benchmarks": [*benchmarks, *found],
        "goodput_run": {key: separate.get(key) for key in keys},
    }


def _ratio(result: Result, arm: str, writers: int) -> str:
    stack = result.name.removeprefix("goodput-")
    try:
        ratio = result.ratio(f"{stack}.goodput.{arm}.{writers}")
    except KeyError:
        return ""
    low, high = ratio.spread
    return f"**{ratio.median:.2f}×** ({low:.2f}–{high:.2f})"


def table(results: dict[str, Result]) -> list[str]:
    rows = []
    for result in plots.goodput_results(results):
        lines = plots.goodput_series(result)
        writers = sorted({w for points in lines.values() for w, _ in points})
        for count in writers:
            cells = {arm: s for arm, points in lines.items() for w, s in points if w == count}
            if not {"naive", "update"} <= set(cells):
                continue
            lost = sum(sum(s.extra["lost"]) + sum(s.extra["duplicated"]) for s in cells.values())
            acknowledged = sum(sum(s.extra["acknowledged"]) for s in cells.values())
            update = cells["update"]
            rows.append(
                [
                    result.title.split(": ")[1].split(",")[0],
                    str(count),
                    fmt(cells["naive"].median),
                    fmt(cells["update-unlimited"].median) if "update-unlimited" in cells else "",
                    fmt(update.median),
                    _ratio(result, "update", count),
                    _ratio(result, "update-unlimited", count),
                    f"{update.extra_median('gets_per_write'):.2f} / "
                    f"{update.extra_median('puts_per_write'):.2f} "
                    f"(naive {cells['naive'].extra_median('gets_per_write'):.2f} / "
                    f"{cells['naive'].extra_median('puts_per_write'):.2f})",
                    f"{lost:.0f} of {acknowledged:.0f}",
                ]
            )
    if not rows:
        return []
    header = [
        "stack",
        "writers",
        "naive writes/s",
        "update, limiter off",
        "update writes/s",
        "update / naive",
        "limiter off / naive",
        "GETs / PUTs per write",
        "lost or doubled",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def section(run: dict[str, Any], results: dict[str, Result], figures: list[str]) -> list[str]:
    if not plots.goodput_results(results):
        return []
    out = ["## Goodput under contention", ""]
    separate = run.get("goodput_run")
    if separate:
        state = separate.get("conditions") or {}
        machine = separate.get("machine") or {}
        out += [
            f"Measured in a run of its own (`python -m benchmarks --only goodput`), started "
            f"{separate.get('started', '?')} at commit `{machine.get('commit', '?')}`, "
            f"{separate.get('seconds', '?')} s; load average "
            f"{state.get('load_average_before', ['?'])[0]} at its start and "
            f"{state.get('load_average_after', ['?'])[0]} at its end, CPU busy "
            f"{state.get('busy_pct', 0):.0f}%.",
            "",
        ]
    out += [
        "N writers, threads of one process with an HTTP connection each, append unique tokens "
        "to the text of one document through each stack's ifmatch view (PostgreSQL, the same "
        "server processes as the race above). **naive**: GET → PUT `If-Match` → on 412 start "
        "over at once. **client.update**: `Client.update(url, fn)` as shipped, the writers "
        "sharing the process's conflict limiter ([client.md](client.md)). **limiter off**: "
        "the same call with `ConflictLimiter(maximum=None)`, which is what writers in separate "
        "processes get (each process has its own limiter): there only the backoff and, where "
        "the server sends it, the 412's current representation help. Of these views only "
        "Django REST framework's sends the current representation "
        "(`ifmatch_include_current_representation`); in Django, Flask and FastAPI a retry "
        "re-reads. Goodput: 2xx answers to PUTs within the window, per second. After each "
        "window every acknowledged token must be in the text exactly once.",
        "",
    ]
    if "goodput.png" in figures:
        out += [
            "![Committed writes per second by writers, client against naive loop]"
            "(performance/goodput.png)",
            "",
        ]
    return out + table(results) + [""]
