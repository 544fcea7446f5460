"""Render a run's results (``benchmarks/results/latest.json``) into ``docs/performance.md``
and the PNG figures under ``docs/performance/``.

    python -m benchmarks.report [RESULTS.json] [--docs DOCS_FOLDER]
    python -m benchmarks.report --rerun RERUN.json   # merge a rerun of some parts, then render

The analysis of why a target was missed is written by hand in ``benchmarks/notes.md`` and
included as it is; everything else on the page comes from the results file.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import goodput_report, plots
from .apps import shapes
from .harness.machine import ROOT
from .harness.records import Finding, Ratio, Result, Series, fmt

NOTES = ROOT / "benchmarks" / "notes.md"
LATEST = ROOT / "benchmarks" / "results" / "latest.json"
FIGURE_DIR = "performance"


def _cell(value: float, spread: tuple[float, float] | None = None, suffix: str = "") -> str:
    text = f"**{fmt(value)}{suffix}**"
    if spread is not None:
        text += f" ({fmt(spread[0])}–{fmt(spread[1])})"
    return text


def _verdict(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "**missed**")


def _cpu(result: Result, name: str) -> str:
    try:
        series = result.get(name)
    except KeyError:
        return ""
    if not series.extra.get("server_cpu_us"):
        return ""  # measured in-process (core, stores, client): no server to read
    server = series.extra_median("server_cpu_us") / 1000
    # Runs before 2026-12-06 lost the CPU time of backends that exited during a cell.
    db = max(series.extra_median("db_cpu_us") / 1000, 0.0)
    return f"{server:.2f} ms server + {db:.2f} ms database CPU"


def _why(result: Result, ratio: Ratio) -> str:
    """Measured facts next to a missed target: the noise, and where the CPU went."""
    if ratio.met is not False or ratio.target is None:
        return ""
    low, high = ratio.spread
    hints = []
    if low <= ratio.target.threshold <= high:
        hints.append(f"the target is inside this run's spread ({fmt(low)}–{fmt(high)})")
    top, bottom = _cpu(result, ratio.numerator), _cpu(result, ratio.denominator)
    if top and bottom:
        hints.append(f"per request: {top} against {bottom}")
    return "; ".join(hints) + "; see [why](#why-some-targets-are-missed)"


def target_rows(results: dict[str, Result]) -> Iterator[tuple[str, str, str, str]]:
    """(target, measured, verdict, note) for every ratio and finding that has a target."""
    for result in results.values():
        for ratio in result.ratios:
            if ratio.target is not None and ratio.values:
                yield (
                    f"{ratio.title} {ratio.target}",
                    _cell(ratio.median, ratio.spread, "×"),
                    _verdict(ratio.met),
                    _why(result, ratio),
                )
        yield from _summarised(result)


def _summarised(result: Result) -> Iterator[tuple[str, str, str, str]]:
    """One row per family of findings (lost updates, beating the peers)."""
    families: dict[str, list[Finding]] = {}
    for finding in result.findings:
        family = finding.key.split(".")[1]
        if family == "lost" and ".ifmatch." not in finding.key and result.name != "client":
            continue  # the check-then-write arms have no target: they are in the race table
        families.setdefault(family, []).append(finding)
    title = result.title.split(" (")[0]
    for family, found in families.items():
        missed = [f for f in found if not f.met]
        if family in ("lost", "goodput_lost"):
            total = sum(f.value for f in found)
            detail = ", ".join(f.detail for f in found)
            yield (
                f"{title}: zero lost updates at every concurrency level",
                f"**{total:.0f}** lost ({detail})",
                _verdict(not missed),
                "",
            )
        elif family == "beats":
            misses = "; ".join(
                f"{f.key.split('.')[2]} at {plots.shape_label(f.key.split('.')[3])}: {f.value:.2f}×"
                for f in missed
            )
            yield (
                f"{title}: ifmatch's 304/200 above every peer's, at every size",
                f"**{len(found) - len(missed)} of {len(found)}** (peer, size) pairs",
                _verdict(not missed),
                ("below or level: " + misses) if misses else "",
            )
        else:
            for finding in found:
                yield (
                    f"{finding.title} {finding.target}",
                    _cell(finding.value, suffix="×"),
                    _verdict(finding.met),
                    finding.detail,
                )


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def not_modified_table(result: Result) -> list[str]:
    impls = ["ifmatch", *result.context.get("peers", {})]
    rows = []
    for shape in shapes.RESOURCES:
        row = [shape.label]
        for impl in impls:
            try:
                ratio = result.ratio(f"{result.name}.not_modified.{impl}.{shape.key}")
            except KeyError:
                row.append("")
                continue
            row.append(_cell(ratio.median, ratio.spread, "×"))
        if any(row[1:]):
            rows.append(row)
    if not rows:
        return []
    peers = result.context.get("peers", {})
    header = ["resource", "ifmatch", *(f"{p} ({kind})" for p, kind in peers.items())]
    title = result.title.split(" (")[0]
    serializer = result.context.get("serializer", "")
    out = [f"**{title}** ({serializer}), 304 / 200 throughput:", "", *_table(header, rows), ""]
    return out + _not_modified_versus(result, title, list(peers))


def _not_modified_versus(result: Result, title: str, peers: list[str]) -> list[str]:
    """The 304s themselves side by side: ifmatch's 304 req/s over each peer's."""
    rows = []
    for shape in shapes.RESOURCES:
        row = [shape.label]
        for impl in peers:
            try:
                ratio = result.ratio(f"{result.name}.not_modified_vs.{impl}.{shape.key}")
            except KeyError:
                row.append("")
                continue
            row.append(_cell(ratio.median, ratio.spread, "×"))
        if any(row[1:]):
            rows.append(row)
    if not rows:
        return []
    header = ["resource", *(f"ifmatch / {p}" for p in peers)]
    return [
        f"**{title}**, 304 req/s of ifmatch over each peer's 304 req/s:",
        "",
        *_table(header, rows),
        "",
    ]


def race_table(results: dict[str, Result]) -> list[str]:
    rows = []
    for result in [*plots.frameworks(results), results.get("stores")]:
        if result is None:
            continue
        for impl, points in plots._race_series(result).items():
            for writers, series in points:
                lost = sum(series.extra["lost"])
                acknowledged = sum(series.extra["acknowledged"])
                share = 100 * lost / acknowledged if acknowledged else 0.0
                rows.append(
                    [
                        result.title.split(" (")[0],
                        impl,
                        str(writers),
                        fmt(series.median),
                        f"{lost:.0f} of {acknowledged:.0f} ({share:.0f}%)",
                    ]
                )
    if not rows:
        return []
    header = ["stack", "implementation", "writers", "committed writes/s", "lost updates"]
    return _table(header, rows)


def conditions_table(run: dict[str, Any], results: dict[str, Result]) -> list[str]:
    rows = []
    for result in results.values():
        state = result.context.get("conditions", {})
        if not state:
            continue
        before = state.get("load_average_before", ["?"])[0]
        after = state.get("load_average_after", ["?"])[0]
        rows.append(
            [
                result.title,
                f"{before} → {after}",
                f"{state.get('busy_pct', 0):.0f}%",
                f"{state.get('steal_pct', 0):.1f}%",
                _wrk_share(result),
            ]
        )
    header = ["benchmark", "load average (1 min)", "CPU busy", "CPU steal", "wrk CPU"]
    return _table(header, rows)


def _wrk_share(result: Result) -> str:
    shares = [s.extra_median("wrk_cores") for s in result.series if "wrk_cores" in s.extra]
    per_request = [s.extra_median("wrk_cpu_us") for s in result.series if "wrk_cpu_us" in s.extra]
    if not shares:
        return ""
    return (
        f"{100 * max(shares):.0f}% of one core at most; "
        f"{min(per_request):.0f}–{max(per_request):.0f} µs per request"
    )


def cells_table(results: dict[str, Result]) -> list[str]:
    rows = []
    for result in results.values():
        for series in result.series:
            rows.append(_cell_row(series))
    header = ["cell", "unit", "median", "min", "max", "server CPU µs", "db CPU µs", "wrk CPU µs"]
    return _table(header, rows)


def _cell_row(series: Series) -> list[str]:
    values = series.values or [float("nan")]

    def extra(key: str) -> str:
        return fmt(series.extra_median(key)) if key in series.extra else ""

    return [
        series.name,
        series.unit,
        fmt(series.median),
        fmt(min(values)),
        fmt(max(values)),
        extra("server_cpu_us"),
        extra("db_cpu_us"),
        extra("wrk_cpu_us"),
    ]


def machine_lines(run: dict[str, Any]) -> list[str]:
    machine = run.get("machine", {})
    versions = ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items())
    options = run.get("options", {})
    state = run.get("conditions", {})
    return [
        f"- Run: {run.get('started', '?')}, commit `{machine.get('commit', '?')}`"
        + (" (with uncommitted changes)" if machine.get("dirty") else "")
        + f", {run.get('seconds', '?')} s in all"
        + (" — a **quick** smoke run: its numbers mean nothing." if run.get("quick") else "."),
        f"- Machine: {machine.get('cpus', '?')} vCPUs ({machine.get('cpu_model', '?')}), "
        f"Linux {machine.get('kernel', '?')}; shared with other work: load average "
        f"{state.get('load_average_before', ['?'])[0]} at the start and "
        f"{state.get('load_average_after', ['?'])[0]} at the end, CPU busy "
        f"{state.get('busy_pct', 0):.0f}% and stolen {state.get('steal_pct', 0):.1f}% over the "
        "run.",
        "- Busiest processes when the run started: "
        + "; ".join(machine.get("busiest_other_processes", []))
        + ".",
        f"- Cells: {options.get('seconds', '?')} s each, {options.get('repetitions', '?')} "
        f"repetitions, wrk with {options.get('connections', '?')} connections for reads; "
        f"gunicorn worker class `{options.get('worker_class', '?')}`.",
        f"- Software: {versions}.",
        *_rerun_lines(run),
    ]


def _rerun_lines(run: dict[str, Any]) -> list[str]:
    """Parts measured again after the run (``run["reruns"]``): their rows come from the rerun."""
    lines = []
    for rerun in run.get("reruns", []):
        state = rerun.get("conditions", {})
        lines.append(
            f"- Rerun of {', '.join(rerun.get('parts', []))}: {rerun.get('started', '?')}, "
            f"commit `{rerun.get('commit', '?')}`, {rerun.get('seconds', '?')} s; load average "
            f"{state.get('load_average_before', ['?'])[0]} at the start and "
            f"{state.get('load_average_after', ['?'])[0]} at the end, CPU busy "
            f"{state.get('busy_pct', 0):.0f}%. Those parts' rows and cells below come from "
            "this rerun, each comparison still measured side by side within it; the other "
            "parts are from the run above."
        )
    return lines


def page(run: dict[str, Any], figures: list[str]) -> str:
    results = {r["name"]: Result.from_json(r) for r in run.get("benchmarks", [])}
    out = [
        "---",
        "source:",
        "  - benchmarks/",
        "---",
        "",
        "# Performance",
        "",
        "<!-- Generated by `python -m benchmarks` (or `python -m benchmarks.report`) from",
        "     benchmarks/results/latest.json; the analysis comes from benchmarks/notes.md. -->",
        "",
        "What ifmatch costs and what it saves, against the same apps without it and against the",
        "libraries people use instead. Every comparison is a **ratio of two things measured side "
        "by side in one run** (interleaved, several repetitions: the median, and the spread from "
        "the lowest to the highest repetition in brackets). Absolute numbers depend on the "
        "machine and its neighbours; they are listed at the end and are never compared across "
        "runs.",
        "",
        "Reproduce: `pip install -e '.[all,demo]' --group bench`, `apt-get install wrk`, "
        "PostgreSQL on "
        "127.0.0.1:5432, then `python -m benchmarks` (about 40 minutes; `--quick` is a "
        "two-minute smoke test, `--only NAME` runs one part). The raw results of the run below "
        "are in [`benchmarks/results/latest.json`]"
        "(https://github.com/ifmatch/ifmatch/blob/main/benchmarks/results/latest.json).",
        "",
        *machine_lines(run),
        "",
        "## Targets",
        "",
        *_table(["target", "measured", "", "note"], [list(r) for r in target_rows(results)]),
        "",
    ]
    out += _section_figures(figures, results)
    out += goodput_report.section(run, results, figures)
    if NOTES.exists():
        out += ["## Why some targets are missed", "", NOTES.read_text().strip(), ""]
    out += [
        "## How it was measured",
        "",
        "- **Servers**: each app runs in real server processes on loopback: gunicorn for Django "
        "REST framework, Django and Flask, uvicorn for FastAPI, each with 2 worker processes (one "
        "per core), on one scratch PostgreSQL database with persistent connections. The same "
        "documents are served in every framework: a text field of 1 KB, 100 KB and 1 MB, and "
        "10, 1,000 and 10,000 nested objects (≈1 KB, 100 KB, 1 MB of JSON) built by the "
        "framework's usual serializer. The views without ifmatch are the same views with the "
        "ifmatch decorator or mixin left out. gunicorn runs gthread workers with keep-alive, "
        "each worker accepting at most its share of wrk's connections: left to themselves, one "
        "worker often took all of them and the cell ran at half speed on one core. The "
        "lost-update race runs on a second server of the same app without that cap, since "
        "its writers outnumber the threads.",
        "- **Load generator**: `wrk` (C, epoll) in its own process, with Lua scripts for the "
        "requests that depend on the previous answer (ETag-chained PUTs, the lost-update race). "
        "Its own CPU time is read from the kernel after every cell (table below): it never used "
        "more than a small part of one core, so it was not what limited throughput. Every answer "
        "is checked (a 304 cell that gets a 200 fails the run).",
        "- **Interleaving**: the cells of one comparison run in a rotating order, every "
        "repetition running each cell once, seconds apart; a ratio is computed per repetition "
        "and the median of those is reported. The server's and the database server's CPU time "
        "per request come from `/proc` (PostgreSQL's with the backends it reaped during the "
        "cell) and are less disturbed by the neighbours than throughput.",
        "- **The race**: N wrk connections each loop GET → PUT `If-Match` → again on one counter "
        "document, stopping their writes a second before wrk stops so that every write sent is "
        "answered; lost updates = acknowledged (2xx) increments missing from the final value.",
        "",
        *conditions_table(run, results),
        "",
        "<details><summary>Every cell, absolute numbers (this run only)</summary>",
        "",
        *cells_table(results),
        "",
        "</details>",
        "",
    ]
    return "\n".join(out)


def _section_figures(figures: list[str], results: dict[str, Result]) -> list[str]:
    def image(name: str, alt: str) -> list[str]:
        return [f"![{alt}]({FIGURE_DIR}/{name})", ""] if name in figures else []

    out = ["## What ifmatch costs", ""]
    out += image("overhead.png", "Throughput with ifmatch divided by throughput without")
    out += [
        "## What a version-derived ETag saves on a 304",
        "",
        "ifmatch reads the stored version (one small query) and answers 304 before the body is "
        "loaded or serialized, so a 304 costs the same at every size. Peers that hash the "
        "body (drf-extensions, ConditionalGetMiddleware, flask-smorest, Werkzeug) build the "
        "whole response first, so their 304 costs about what the 200 does. Peers that take a "
        "tag function (Django's `condition`, fastapi-etag) were given the same version column, "
        "their best case: their 304 is flat too (they lose on writes instead, below).",
        "",
    ]
    out += image("not-modified-ratio.png", "304 / 200 throughput by resource size")
    out += image("not-modified-cost.png", "Server CPU per 304 by resource size")
    for result in plots.frameworks(results):
        out += not_modified_table(result)
    out += ["## Lost updates under concurrent writers", ""]
    out += image("lost-updates.png", "Committed writes per second and lost updates by writers")
    out += race_table(results) + [""]
    out += ["## The core, per call", ""]
    out += image("core.png", "evaluate() against get_conditional_response per call")
    return out


def render(run: dict[str, Any], docs: Path) -> None:
    """Write ``performance.md`` and its figures into ``docs``."""
    results = {r["name"]: Result.from_json(r) for r in run.get("benchmarks", [])}
    figures = plots.draw(results, docs / FIGURE_DIR)
    (docs / "performance.md").write_text(page(run, figures))


def merge_rerun(run: dict[str, Any], rerun: dict[str, Any]) -> dict[str, Any]:
    """``run`` with the parts ``rerun`` measured again taken from it, and the rerun's date,
    commit, duration and load listed under ``run["reruns"]`` (the page names them). A part
    rerun twice keeps the later rerun only."""
    if rerun.get("quick"):
        raise ValueError("a quick run's numbers mean nothing: not merged")
    parts = [result["name"] for result in rerun.get("benchmarks", [])]
    if not parts:
        raise ValueError("the rerun holds no results")
    machine = rerun.get("machine", {})
    record = {
        "parts": parts,
        "started": rerun.get("started"),
        "commit": machine.get("commit"),
        "seconds": rerun.get("seconds"),
        "conditions": rerun.get("conditions", {}),
        "dirty": machine.get("dirty", False),
    }
    kept = [r for r in run.get("benchmarks", []) if r["name"] not in parts]
    order = [r["name"] for r in run.get("benchmarks", [])]
    merged = kept + list(rerun["benchmarks"])
    merged.sort(key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))
    earlier = [r for r in run.get("reruns", []) if not set(r.get("parts", [])) <= set(parts)]
    return {**run, "benchmarks": merged, "reruns": [*earlier, record]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render docs/performance.md from results.")
    parser.add_argument("results", nargs="?", type=Path, default=LATEST)
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    parser.add_argument(
        "--rerun",
        type=Path,
        help="a run of some parts (--only) to merge into RESULTS first (written back to it)",
    )
    args = parser.parse_args(argv)
    run = json.loads(args.results.read_text())
    if args.rerun is not None:
        run = merge_rerun(run, json.loads(args.rerun.read_text()))
        args.results.write_text(json.dumps(run, indent=1) + "\n")
    if args.results == LATEST:
        run = goodput_report.merge_separate_run(run)
    render(run, args.docs)
    print(f"rendered {args.docs / 'performance.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
