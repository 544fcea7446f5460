"""The write probes: each status a server may answer, and whether the write really happened."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from check.drive import ResourceServer, context, drive, one_by_one
from check.servers import ORIGINAL, Defect, DocumentResource
from ifmatch.check.audit import audit, preflight
from ifmatch.check.baseline import baseline
from ifmatch.check.context import Context, Finding
from ifmatch.check.messages import Flow, Request, Response
from ifmatch.check.model import Report, Status, Verdict
from ifmatch.check.writes import (
    MALFORMED_IF_MATCH,
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
    [(401, "--header"), (403, "--header"), (500, "server error"), (307, "redirect")],
)
def test_a_baseline_refusal_that_no_other_way_can_help_is_an_error(status: int, words: str) -> None:
    seen: list[str] = []

    def rule(request: Request, version: int) -> tuple[int, bool]:
        seen.append(request.method)
        return status, False

    ctx, (finding,) = run(Fake(rule), baseline)
    assert finding.status is Status.ERROR and words in finding.detail
    assert seen == ["PUT"], "no other way is tried"
    assert ctx.cannot_check == finding.detail


@pytest.mark.parametrize("status", [400, 404, 405, 409, 415, 422, 501])
def test_when_every_way_is_refused_one_sentence_says_what_was_tried(status: int) -> None:
    ctx, (finding,) = run(Fake(lambda request, version: (status, False)), baseline)
    assert finding.status is Status.ERROR
    assert finding.detail.startswith("No write was accepted: a PUT of the JSON object as ")
    assert f"got {status}" in finding.detail and "--body-template" in finding.detail
    assert finding.detail.count(".") == 1 and finding.detail.endswith("--header.")
    assert ctx.cannot_check == finding.detail and ctx.way is None
    assert [a["status"] for a in finding.data["attempts"]] == [status] * len(
        finding.data["attempts"]
    )


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

    ctx, (finding,) = run(Fake(ignores_body), baseline)
    assert finding.status is Status.ERROR and "--body-field" in finding.detail
    assert "got 200 but GET did not show the value" in finding.detail
    assert ctx.accepted is not None and ctx.way is None


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


# --- finding a way of writing the API accepts ----------------------------------------------


def dialect(name: str, defect: Defect = Defect.NONE, **extra: Any) -> ResourceServer:
    return ResourceServer(DocumentResource(defect, name, **extra))


def way_of(finding: Finding) -> tuple[str, str, str, list[str]]:
    way = finding.data["way"]
    return way["method"], way["content_type"], way["body"], way["omitted"]


@pytest.mark.parametrize(
    ("name", "way", "refused"),
    [
        ("plain", ("PUT", "application/json", "document", []), []),
        ("strict", ("PUT", "application/json", "document", ["id", "words"]), [422]),
        ("patch-only", ("PATCH", "application/merge-patch+json", "member", []), [405]),
        (
            "json-api",
            ("PATCH", "application/vnd.api+json", "resource", []),
            [405, 415, 415],
        ),
        ("hal", ("PUT", "application/json", "document", ["_links", "id"]), [415, 422]),
    ],
)
def test_every_write_probe_passes_in_each_dialect_the_way_it_found(
    name: str, way: tuple[str, str, str, list[str]], refused: list[int]
) -> None:
    server = dialect(name)
    first = server.resource.dialect.render(server.resource.store.get("document")[1]["document"])  # type: ignore[index]
    ctx, findings = run(server, *ALL)
    assert [f.status for f in findings] == [Status.PASS] * len(ALL), [f.detail for f in findings]
    assert way_of(findings[0]) == way
    assert [a["status"] for a in findings[0].data["attempts"]] == refused
    assert ctx.way is not None and ctx.way.method in findings[0].detail
    # Every later write went the same way.
    writes = [r for r in server.seen if r.method not in ("GET", "HEAD")][len(refused) :]
    assert {(r.method, r.header("Content-Type")) for r in writes} == {way[:2]}
    stored = server.resource.store.get("document")[1]["document"]  # type: ignore[index]
    assert server.resource.dialect.render(stored) == first


def test_the_strict_schema_needs_its_openapi_document_for_a_member_no_name_rule_guesses() -> None:
    server = dialect("strict")
    _, (finding,) = run(server, baseline)
    assert [r.target for r in server.seen if r.target] == ["/openapi.json"]
    assert 'without "id", "words"' in finding.detail
    assert "after a PUT of the JSON object as application/json got 422" in finding.detail


def test_the_openapi_document_is_looked_for_only_after_a_body_was_refused() -> None:
    server = dialect("patch-only")
    run(server, baseline)
    assert [r.target for r in server.seen if r.target] == []


def test_without_its_openapi_document_the_strict_schema_cannot_be_written() -> None:
    server = dialect("strict-no-openapi")
    ctx, (finding, restored) = run(server, baseline, restore)
    assert finding.status is Status.ERROR
    assert finding.detail == (
        "No write was accepted: a PUT of the JSON object as application/json got 422, "
        'a PUT of the JSON object without "id" as application/json got 422 and a PATCH of '
        '"text" alone as application/merge-patch+json got 405; describe the write the API '
        "expects with --body-template, --write-method, --content-type or --header."
    )
    assert restored.status is Status.PASS and "byte for byte" in restored.detail
    assert server.resource.store.read("document").version == 1  # type: ignore[union-attr]


def test_a_body_template_reaches_what_no_guess_does() -> None:
    server = dialect("strict-no-openapi")
    ctx = context(write=True, body_template='{"text": "{{value}}"}')
    respond = one_by_one(server)
    drive(preflight(ctx), respond)
    findings = [drive(probe(ctx), respond) for probe in ALL]
    assert [f.status for f in findings] == [Status.PASS] * len(ALL), [f.detail for f in findings]
    assert way_of(findings[0]) == ("PUT", "application/json", "template", [])


def test_a_required_header_is_one_refusal_more_until_it_is_given() -> None:
    required = ("X-Requested-With", "XMLHttpRequest")
    _, (finding,) = run(dialect("plain", required=required), baseline)
    assert finding.status is Status.ERROR and "--header" in finding.detail
    server = dialect("plain", required=required)

    def with_header(step: object) -> object:
        if isinstance(step, Request) and step.method not in ("GET", "HEAD"):
            step = replace(step, headers=(*step.headers, required))
        return one_by_one(server)(step)  # type: ignore[arg-type]

    _, (passed,) = run(with_header, baseline)  # type: ignore[arg-type]
    assert passed.status is Status.PASS


def test_the_write_method_and_media_type_can_be_given() -> None:
    server = dialect("patch-only")
    ctx = context(write=True, write_method="PATCH", content_type="application/merge-patch+json")
    respond = one_by_one(server)
    drive(preflight(ctx), respond)
    finding = drive(baseline(ctx), respond)
    assert finding.status is Status.PASS and finding.data["attempts"] == []
    assert [r.method for r in server.seen if r.method not in ("GET", "HEAD")] == ["PATCH"]


def test_a_way_whose_write_does_not_show_is_passed_over_and_its_tag_renewed() -> None:
    # PUT answers 200 and bumps the version without storing the field; PATCH works.
    def rule(request: Request, version: int) -> tuple[int, bool]:
        if request.header("If-Match") != f'"v{version}"':
            return 412, False
        return 200, request.method == "PATCH"

    class PutIgnoresBody(Fake):
        def __call__(self, request: Request) -> Response:
            if request.method == "PUT" and self.rule(request, self.version)[0] == 200:
                self.version += 1
                return Response(200, "OK", (("ETag", f'"v{self.version}"'),))
            if request.method == "PATCH" and request.body:
                patch = json.loads(request.body)
                request = replace(request, body=json.dumps({**self.document, **patch}).encode())
            return super().__call__(request)

    fake = PutIgnoresBody(rule)
    ctx, (finding, restored) = run(fake, baseline, restore)
    assert finding.status is Status.PASS, finding.detail
    assert "a PUT of the JSON object as application/json got 200 but GET did not show" in (
        finding.detail
    )
    assert ctx.way is not None and ctx.way.method == "PATCH"
    assert restored.status is Status.PASS and fake.document == ORIGINAL


# --- putting it back ------------------------------------------------------------------------


def test_restore_warns_when_a_refused_write_changed_the_resource_anyway() -> None:
    # Every write is refused with 422, but the first one was applied all the same.
    def rule(request: Request, version: int) -> tuple[int, bool]:
        return 422, version == 1

    ctx, (finding, restored) = run(Fake(rule), baseline, restore)
    assert finding.status is Status.ERROR and ctx.way is None and ctx.accepted is None
    assert restored.status is Status.WARN
    assert restored.detail.startswith("No write was accepted, yet other members changed")
    assert json.dumps(ORIGINAL["text"]) in restored.detail


def test_restore_warns_when_other_members_did_not_come_back() -> None:
    # The API drops the title on every write: the value comes back, the title does not.
    class DropsTitle(Fake):
        def __call__(self, request: Request) -> Response:
            response = super().__call__(request)
            self.document.pop("title", None)
            return response

    fake = DropsTitle(correct, document={**ORIGINAL, "title": "Kept?"})
    _, (_, restored) = run(fake, baseline, restore)
    assert restored.status is Status.WARN
    assert restored.detail == (
        """'text' was put back, but other members changed (title was "Kept?", now null)."""
    )


def test_the_verdict_is_could_not_check_when_no_write_was_accepted() -> None:
    outcome = drive(audit(context(write=True)), one_by_one(dialect("strict-no-openapi")))
    report = Report("http://t/doc", True, outcome.results, outcome.error)
    assert report.verdict is Verdict.UNKNOWN and outcome.error is not None
    assert outcome.error.startswith("No write was accepted")
    assert report.result("restore").status is Status.PASS
