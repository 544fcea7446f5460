"""Print the decision table of docs/core.md, computed by ``ifmatch.evaluate`` from the shared
conformance table. Run ``python scripts/decision_table.py --write`` after changing either;
tests/test_docs.py fails while docs/core.md is out of date."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from conformance import CASES, Case, render_headers  # noqa: E402
from ifmatch.core import (  # noqa: E402
    NotModified,
    Policy,
    Proceed,
    ResourceState,
    content_etag,
    evaluate,
    version_etag,
)

BEGIN = "<!-- decision-table:begin -->"
END = "<!-- decision-table:end -->"
LAST_MODIFIED = datetime(2026, 11, 22, 10, 30, 15, tzinfo=UTC)


def _state(case: Case) -> ResourceState:
    etag = version_etag(3) if case.etag_format == "version" else content_etag(b"body")
    return ResourceState(
        etag=etag if case.has_etag and case.exists else None,
        last_modified=LAST_MODIFIED if case.has_last_modified and case.exists else None,
        exists=case.exists,
    )


def _describe_state(case: Case, state: ResourceState) -> str:
    if not case.exists:
        return "does not exist"
    parts = [f"`{state.etag}`" if state.etag else "no ETag"]
    if state.last_modified is None:
        parts.append("no Last-Modified")
    if case.policy:
        parts.append(", ".join(f"{k}={_show(v)}" for k, v in case.policy.items()))
    return "; ".join(parts)


def _show(value: object) -> str:
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(value)) + "}"
    return str(value)


def _cell(text: str) -> str:
    if len(text) > 60:
        text = text[:57] + "…"
    text = text.replace("|", "\\|").replace("\t", "\\t").replace("\x01", "\\x01")
    return f"`{text}`" if text else "*(empty)*"


def _answer(case: Case) -> str:
    state = _state(case)
    headers = render_headers(case, state.etag or version_etag(3), LAST_MODIFIED)
    decision = evaluate(case.method, headers, state, Policy(**case.policy), now=LAST_MODIFIED)
    if isinstance(decision, Proceed):
        return "proceed" + (" (logs a warning)" if decision.warnings else "")
    if isinstance(decision, NotModified):
        return "**304**"
    return f"**{decision.status}**"


def table() -> str:
    lines = [
        BEGIN,
        "| # | Method | Request headers | Resource | ifmatch answers | RFC 9110 |",
        "|---|---|---|---|---|---|",
    ]
    for number, case in enumerate(CASES, start=1):
        state = _state(case)
        headers = render_headers(case, state.etag or version_etag(3), LAST_MODIFIED)
        shown = "<br>".join(f"{name}: {_cell(value)}" for name, value in headers) or "—"
        lines.append(
            f"| {number} | {case.method} | {shown} | {_describe_state(case, state)} "
            f"| {_answer(case)} | {case.section} |"
        )
    lines.append(END)
    return "\n".join(lines)


def updated(document: str) -> str:
    start, end = document.index(BEGIN), document.index(END) + len(END)
    return document[:start] + table() + document[end:]


if __name__ == "__main__":
    path = ROOT / "docs" / "core.md"
    if "--write" in sys.argv:
        path.write_text(updated(path.read_text()))
    else:
        print(table())
