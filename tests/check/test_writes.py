"""The write probes: each status a server may answer, and whether the write really happened."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from check.drive import ResourceServer, context, drive, one_by_one
from check.servers import ORIGINAL, Defect, DocumentResource
from ifmatch.check.audit import preflight
from ifmatch.check.context import Context, Finding
from ifmatch.check.messages import Flow, Request, Response
from ifmatch.check.model import Status
from ifmatch.check.writes import (
    MALFORMED_IF_MATCH,
    baseline,
    if_match_star,
    if_none_match_write,
    if_unmodified_since,
    malformed_if_match,
    no_precondition,
    restore,
    stale_if_match,
    weak_if_match,
)

Probe = Callable[[Context], Flow[Finding]]
#: (request, current version) -> (status, apply the write?)
Rule = Callable[[Request, int], tuple[int, bool]]


@dataclass
class Fake:
    """A server whose answer to each PUT is decided by ``rule``."""

    rule: Rule
    etag_on_write: bool = True
    body: bytes | None = None
    version: int = 1
    document: dict[str, Any] = field(default_factory=lambda: dict(ORIGINAL))
    bump: bool = True

    def __call__(self, request: Request) -> Response:
        tag = ("ETag", f'"v{self.version}"')
        if request.method == "GET":
            content = self.body if self.body is not None else json.dumps(self.document).encode()
            return Response(200, "OK", (tag, ("Content-Type", "application/json")), content)
        status, apply = self.rule(request, self.version)
        if apply:
            self.document = json.loads(request.body or b"{}")
            self.version += 1 if self.bump else 0
        headers = (("ETag", f'"v{self.version}"'),) if self.etag_on_write else ()
        return Response(status, "", headers)


def correct(request: Request, version: int) -> tuple[int, bool]:
    if request.header("If-Match") == f'"v{version}"':
        return 200, True
    return 412, False


def run(fake: Callable[[Request], Response], *probes: Probe) -> tuple[Context, list[Finding]]:
    ctx = context(write=True)
    respond = one_by_one(fake)
    drive(preflight(ctx), respond)
    return ctx, [drive(probe(ctx), respond) for probe in probes]


def resource(defect: Defect = Defect.NONE) -> ResourceServer:
    return ResourceServer(DocumentResource(defect))


ALL = (
    baseline,
    stale_if_match,
    weak_if_match,
    malformed_if_match,
    if_none_match_write,
    if_unmodified_since,
    if_match_star,
    no_precondition,
    restore,
)


def test_every_write_probe_passes_against_the_correct_resource() -> None:
    server = resource()
    _, findings = run(server, *ALL)
    assert [f.status for f in findings] == [Status.PASS] * len(ALL), [f.detail for f in findings]
    assert server.resource.store.get("document")[1]["document"] == ORIGINAL  # type: ignore[index]


def test_if_unmodified_since_uses_the_first_last_modified_when_it_is_withheld() -> None:
    # Right after the probes' own writes a server may withhold a Last-Modified that is later
    # than its clock (RFC 9110 §8.8.2.1); the first GET's is earlier than the current one.
    first = "Mon, 05 Jan 2026 09:00:00 GMT"
    reads = itertools.count()
    sent: list[str | None] = []

    def server(request: Request) -> Response:
        if request.method == "GET":
            headers: tuple[tuple[str, str], ...] = (("ETag", '"v2"'),)
            if next(reads) == 0:
                headers += (("Last-Modified", first),)
            body = json.dumps(ORIGINAL).encode()
            return Response(200, "OK", (*headers, ("Content-Type", "application/json")), body)
        sent.append(request.header("If-Unmodified-Since"))
        return Response(412, "Precondition Failed", (("ETag", '"v2"'),))

    _, (finding,) = run(server, if_unmodified_since)
    assert finding.status is Status.PASS, finding.detail
    assert sent == ["Sun, 04 Jan 2026 09:00:00 GMT"]


def test_the_malformed_probe_sends_an_unbalanced_quote() -> None:
    server = resource()
    _, (_, finding) = run(server, baseline, malformed_if_match)
    assert finding.evidence[0].request == f"PUT /doc  If-Match: {MALFORMED_IF_MATCH}"
    assert "400" in finding.detail


def test_a_baseline_412_fails_and_blocks_the_other_write_probes() -> None:
    ctx, (finding,) = run(Fake(lambda request, version: (412, False)), baseline)
    assert finding.status is Status.FAIL
    assert ctx.write_blocked is not None


@pytest.mark.parametrize(
    ("status", "words"),
    [(401, "--header"), (405, "not supported"), (422, "--body-field"), (500, "server error")],
)
def test_a_baseline_refusal_for_other_reasons_is_an_error(status: int, words: str) -> None:
    _, (finding,) = run(Fake(lambda request, version: (status, False)), baseline)
    assert finding.status is Status.ERROR and words in finding.detail


def test_a_write_response_without_etag_is_a_warning() -> None:
    _, (finding,) = run(Fake(correct, etag_on_write=False), baseline)
    assert finding.status is Status.WARN


def test_an_etag_that_does_not_change_on_write_fails() -> None:
    ctx, (finding,) = run(Fake(lambda request, version: (200, True), bump=False), baseline)
    assert finding.status is Status.FAIL and "still returns" in finding.detail
    assert ctx.write_blocked is not None


def test_a_returned_etag_that_get_does_not_return_fails() -> None:
    class Shifted(Fake):
        def __call__(self, request: Request) -> Response:
            response = super().__call__(request)
            if request.method == "PUT":
                return Response(200, "OK", (("ETag", '"something-else"'),))
            return response

    _, (finding,) = run(Shifted(correct), baseline)
    assert finding.status is Status.FAIL and '"something-else"' in finding.detail


def test_non_json_representation_is_an_error() -> None:
    _, (finding,) = run(Fake(correct, body=b"<html></html>"), baseline)
    assert finding.status is Status.ERROR and "JSON object" in finding.detail


def test_a_field_the_server_does_not_store_is_an_error() -> None:
    def ignores_body(request: Request, version: int) -> tuple[int, bool]:
        return 200, False

    _, (finding,) = run(Fake(ignores_body), baseline)
    assert finding.status is Status.ERROR and "--body-field" in finding.detail


def test_a_412_that_still_applied_the_write_fails() -> None:
    def writes_then_checks(request: Request, version: int) -> tuple[int, bool]:
        status, _ = correct(request, version)
        return status, True

    _, (_, finding) = run(Fake(writes_then_checks), baseline, stale_if_match)
    assert finding.status is Status.FAIL and "answered 412" in finding.detail
    assert len(finding.evidence) == 2


@pytest.mark.parametrize(
    ("status", "expected"),
    [(409, Status.WARN), (200, Status.WARN), (503, Status.ERROR), (412, Status.PASS)],
)
def test_stale_if_match_refused_without_writing(status: int, expected: Status) -> None:
    def rule(request: Request, version: int) -> tuple[int, bool]:
        good, apply = correct(request, version)
        return (good, apply) if apply else (status, False)

    _, (_, finding) = run(Fake(rule), baseline, stale_if_match)
    assert finding.status is expected


def test_put_304_fails_if_none_match_write() -> None:
    _, findings = run(resource(Defect.PUT_304), baseline, if_none_match_write)
    assert findings[1].status is Status.FAIL and "304" in findings[1].detail


def test_star_412_fails_if_match_star() -> None:
    _, findings = run(resource(Defect.STAR_412), baseline, if_match_star)
    assert findings[1].status is Status.FAIL


def test_ignoring_if_match_fails_stale_weak_and_malformed_and_warns_on_428() -> None:
    _, findings = run(
        resource(Defect.IGNORES_IF_MATCH),
        baseline,
        stale_if_match,
        weak_if_match,
        malformed_if_match,
        if_unmodified_since,
        no_precondition,
    )
    assert [f.status for f in findings] == [
        Status.PASS,
        Status.FAIL,
        Status.FAIL,
        Status.FAIL,
        Status.PASS,
        Status.WARN,
    ]
    assert "lost update" in findings[1].detail


def test_restore_warns_when_the_original_cannot_be_put_back() -> None:
    def only_once(request: Request, version: int) -> tuple[int, bool]:
        return (200, True) if version == 1 else (403, False)

    _, (_, finding) = run(Fake(only_once), baseline, restore)
    assert finding.status is Status.WARN
    assert json.dumps(ORIGINAL["text"]) in finding.detail


def test_restore_skips_when_nothing_was_written() -> None:
    _, (finding,) = run(resource(), restore)
    assert finding.status is Status.SKIP
