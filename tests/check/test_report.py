"""Rendering: plain text, JSON and the rich table."""

from __future__ import annotations

import io
import json

from rich.console import Console

from ifmatch.check.model import Evidence, ProbeResult, Report, Status, Verdict
from ifmatch.check.report import render_json, render_rich, render_text, verdict_line

EVIDENCE = Evidence('PUT /doc  If-Match: "v1"', '200 OK  ETag: "v2"', ("httplint: note",))
OPTIONS = {"body_field": "text", "concurrency": 8, "rounds": 20}


def make(*statuses: Status, write: bool = True, error: str | None = None) -> Report:
    results = tuple(
        ProbeResult(f"probe-{i}", "title", s, f"detail {i}", "RFC 9110 §13.1.1", (EVIDENCE,))
        for i, s in enumerate(statuses)
    )
    return Report("http://127.0.0.1:1/doc", write, results, error, OPTIONS, 0.25)


def test_verdict_lines() -> None:
    assert verdict_line(make(Status.PASS, Status.FAIL)) == "UNSAFE: 1 probe failed (probe-1)."
    assert verdict_line(make(Status.ERROR)).startswith("COULD NOT CHECK: probe-0")
    assert verdict_line(make(error="GET answered 401")) == "COULD NOT CHECK: GET answered 401"
    assert verdict_line(make(Status.PASS)).startswith("SAFE: stale and concurrent")
    safe_with_warning = verdict_line(make(Status.PASS, Status.WARN))
    assert safe_with_warning.endswith("1 warning (probe-1).")
    assert verdict_line(make(Status.PASS, write=False)).startswith("SAFE so far")


def test_writes_that_could_not_be_checked_outweigh_a_read_probe_that_failed() -> None:
    # With --write, no write accepted: lost-update safety was not tested, so the run is no
    # verdict, whatever a read-only probe found; the line still names that probe.
    report = make(Status.FAIL, Status.ERROR, error="No write was accepted: a PUT got 422.")
    assert report.verdict is Verdict.UNKNOWN and report.exit_code == 2
    assert verdict_line(report) == (
        "COULD NOT CHECK: No write was accepted: a PUT got 422. Besides, probe-0 failed."
    )


def test_text_shows_evidence_for_all_or_only_problems() -> None:
    report = make(Status.PASS, Status.FAIL)
    everything = render_text(report)
    assert everything.count('> PUT /doc  If-Match: "v1"') == 2
    assert "! httplint: note" in everything
    problems = render_text(report, evidence="problems")
    assert problems.count("> PUT") == 1 and "FAIL  probe-1  [RFC 9110 §13.1.1]" in problems
    assert "> PUT" not in render_text(report, evidence="none")


def test_json_round_trips() -> None:
    data = json.loads(render_json(make(Status.WARN)))
    assert data["probes"][0]["evidence"][0]["lint"] == ["httplint: note"]
    assert data["options"] == OPTIONS and data["elapsed_seconds"] == 0.25


def test_rich_table_has_one_row_per_probe_and_the_verdict() -> None:
    out = io.StringIO()
    render_rich(make(Status.PASS, Status.FAIL), Console(file=out, width=120))
    text = out.getvalue()
    assert "probe-0" in text and "probe-1" in text and "FAIL" in text
    assert text.rstrip().endswith("UNSAFE: 1 probe failed (probe-1).")
    assert "8 writers × 20 rounds" in text


def test_rich_without_results_prints_the_reason() -> None:
    out = io.StringIO()
    render_rich(make(error="GET answered 500"), Console(file=out, width=100))
    assert "COULD NOT CHECK: GET answered 500" in out.getvalue()


def test_text_leaves_out_an_empty_rfc() -> None:
    result = ProbeResult("restore", "title", Status.PASS, "Put back.", "")
    text = render_text(Report("http://127.0.0.1:1/doc", True, (result,)))
    assert "  PASS  restore\n" in text
