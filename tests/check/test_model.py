"""Verdicts, exit codes and evidence lines."""

from __future__ import annotations

import json

import pytest

from ifmatch.check.messages import Request, Response
from ifmatch.check.model import Evidence, ProbeResult, Report, Status, Verdict


def report(*statuses: Status, error: str | None = None) -> Report:
    results = tuple(
        ProbeResult(f"p{i}", "title", status, "detail", "RFC 9110 §13.1.1")
        for i, status in enumerate(statuses)
    )
    return Report("http://127.0.0.1/doc", True, results, error)


@pytest.mark.parametrize(
    ("statuses", "error", "verdict", "code"),
    [
        ((Status.PASS, Status.WARN, Status.SKIP), None, Verdict.SAFE, 0),
        ((Status.PASS, Status.FAIL), None, Verdict.UNSAFE, 1),
        ((Status.FAIL, Status.ERROR), None, Verdict.UNSAFE, 1),
        ((Status.PASS, Status.ERROR), None, Verdict.UNKNOWN, 2),
        ((), "GET answered 401", Verdict.UNKNOWN, 2),
    ],
)
def test_verdict_and_exit_code(
    statuses: tuple[Status, ...], error: str | None, verdict: Verdict, code: int
) -> None:
    found = report(*statuses, error=error)
    assert (found.verdict, found.exit_code) == (verdict, code)


def test_evidence_shows_preconditions_and_validators_but_never_credentials() -> None:
    request = Request(
        "PUT",
        (("Authorization", "Bearer secret"), ("If-Match", '"v1"'), ("Cookie", "s=1")),
    )
    response = Response(
        412, "Precondition Failed", (("ETag", '"v2"'), ("Set-Cookie", "s=2")), b"{}"
    )
    lines = Evidence.of("/doc", request, response, ("httplint: bad",)).lines()
    assert lines == (
        '> PUT /doc  If-Match: "v1"',
        '< 412 Precondition Failed  ETag: "v2"',
        "! httplint: bad",
    )
    assert "secret" not in "".join(lines) and "s=" not in "".join(lines)


def test_the_json_form_is_serialisable_and_counts_statuses() -> None:
    data = json.loads(json.dumps(report(Status.PASS, Status.FAIL, Status.FAIL).as_dict()))
    assert data["verdict"] == "unsafe" and data["exit_code"] == 1
    assert data["summary"] == {"pass": 1, "warn": 0, "fail": 2, "skip": 0, "error": 0}
    assert [probe["id"] for probe in data["probes"]] == ["p0", "p1", "p2"]


def test_result_looks_probes_up_by_id() -> None:
    found = report(Status.PASS, Status.WARN)
    assert found.result("p1").status is Status.WARN
    with pytest.raises(KeyError):
        found.result("nope")
