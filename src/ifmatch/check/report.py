"""Presenting a report: a rich table for people, plain text for assertion messages, JSON for CI.

``rich`` is imported only by :func:`render_rich`, so the plain and JSON forms need nothing
beyond the standard library.
"""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING, Literal

from .model import ProbeResult, Report, Status, Verdict

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["headline", "render_json", "render_rich", "render_text", "verdict_line"]

STYLES = {
    Status.PASS: "bold green",
    Status.WARN: "bold yellow",
    Status.FAIL: "bold red",
    Status.SKIP: "dim",
    Status.ERROR: "bold magenta",
}


def headline(report: Report) -> str:
    """What was checked and how: ``read and write probes, 8 writers x 20 rounds``."""
    if not report.write:
        return "read-only probes (pass --write to test writes and races)"
    options = report.options
    return (
        f"read and write probes, {options.get('concurrency')} writers × "
        f"{options.get('rounds')} rounds, body field {json.dumps(options.get('body_field'))}"
    )


def _names(results: tuple[ProbeResult, ...]) -> str:
    return ", ".join(result.id for result in results)


def verdict_line(report: Report) -> str:
    """One sentence: the verdict and the reason for it."""
    verdict = report.verdict
    if verdict is Verdict.UNSAFE:
        failed = report.by_status(Status.FAIL)
        noun = "probe" if len(failed) == 1 else "probes"
        return f"UNSAFE: {len(failed)} {noun} failed ({_names(failed)})."
    if verdict is Verdict.UNKNOWN:
        if report.error is not None:
            failed = report.by_status(Status.FAIL)
            tail = f" Besides, {_names(failed)} failed." if failed else ""
            return f"COULD NOT CHECK: {report.error}{tail}"
        errors = report.by_status(Status.ERROR)
        return f"COULD NOT CHECK: {_names(errors)} could not run; see above."
    warnings = report.by_status(Status.WARN)
    tail = f" {len(warnings)} warning{'s' if len(warnings) != 1 else ''} ({_names(warnings)})."
    if not report.write:
        return (
            "SAFE so far: the read-only probes found no problem. Lost-update safety was not "
            "tested: run again with --write against a resource you may modify."
            + (tail if warnings else "")
        )
    return (
        "SAFE: stale and concurrent conditional writes were refused; exactly one writer won "
        "each race." + (tail if warnings else "")
    )


def _footer(report: Report) -> str:
    counts = ", ".join(f"{count} {name}" for name, count in report.summary().items() if count)
    return f"{len(report.results)} probes in {report.elapsed:.1f} s: {counts}"


def render_text(
    report: Report,
    *,
    evidence: Literal["all", "problems", "none"] = "all",
    width: int = 100,
) -> str:
    """The report as plain text (no colour, no table).

    Args:
        report: what to render.
        evidence: show the exchanges of every probe, only of those that did not pass, or none.
        width: where to wrap the explanations.
    """
    lines = [f"ifmatch check {report.url}", f"  {headline(report)}", ""]
    indent = " " * 8
    for result in report.results:
        rfc = f"  [{result.rfc}]" if result.rfc else ""
        lines.append(f"  {result.status.value.upper():<5} {result.id}{rfc}")
        lines += textwrap.wrap(
            result.detail, width, initial_indent=indent, subsequent_indent=indent
        )
        if evidence == "all" or (evidence == "problems" and result.status is not Status.PASS):
            lines += [indent + line for item in result.evidence for line in item.lines()]
    if report.results:
        lines += ["", f"  {_footer(report)}"]
    lines += ["", verdict_line(report)]
    return "\n".join(lines) + "\n"


def render_json(report: Report) -> str:
    """The report as indented JSON."""
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n"


def render_rich(report: Report, console: Console) -> None:
    """Print the report as a table, one row per probe, then the verdict."""
    from rich.table import Table
    from rich.text import Text

    console.print(Text.assemble(("ifmatch check ", "bold"), report.url))
    console.print(Text(headline(report), style="dim"))
    if report.results:
        table = Table(show_lines=True, expand=True)
        table.add_column("Probe", no_wrap=True)
        table.add_column("Result", no_wrap=True)
        table.add_column("What happened (evidence)", ratio=1)
        table.add_column("RFC", min_width=9, max_width=16)
        for result in report.results:
            detail = Text(result.detail)
            for item in result.evidence:
                for line in item.lines():
                    detail.append("\n" + line, style="dim")
            table.add_row(
                Text(result.id),
                Text(result.status.value.upper(), style=STYLES[result.status]),
                detail,
                Text(result.rfc),
            )
        console.print(table)
        console.print(Text(_footer(report), style="dim"))
    style = {Verdict.SAFE: "bold green", Verdict.UNSAFE: "bold red"}.get(
        report.verdict, "bold magenta"
    )
    console.print(Text(verdict_line(report), style=style))
