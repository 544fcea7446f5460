"""The read-only probes, against servers written as plain functions."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from check.drive import context, drive, one_by_one
from ifmatch.check.audit import preflight
from ifmatch.check.context import Context, Finding
from ifmatch.check.messages import Flow, Request, Response
from ifmatch.check.model import Status
from ifmatch.check.probes import (
    compressed_etag,
    etag_syntax,
    head,
    if_modified_since,
    if_none_match,
    if_none_match_weak,
    stable,
    validator,
)

LM = "Mon, 05 Jan 2026 09:00:00 GMT"
OK = Response(200, "OK", (("ETag", '"v1"'), ("Last-Modified", LM), ("Date", LM)), b"{}")
NOT_MODIFIED = Response(304, "Not Modified", (("ETag", '"v1"'), ("Date", LM)))

Responder = Callable[[Request], Response]


def run(probe: Callable[[Context], Flow[Finding]], responder: Responder) -> Finding:
    ctx = context()
    respond = one_by_one(responder)
    drive(preflight(ctx), respond)
    if probe is if_none_match_weak:
        drive(if_none_match(ctx), respond)
    return drive(probe(ctx), respond)


def always(response: Response) -> Responder:
    return lambda request: response


def conditional(strong_only: bool = False, keep: tuple[str, ...] = ("ETag", "Date")) -> Responder:
    """304 for a matching If-None-Match (weakly, unless ``strong_only``) or If-Modified-Since."""

    def respond(request: Request) -> Response:
        inm = request.header("If-None-Match")
        matches = inm == '"v1"' or (inm == 'W/"v1"' and not strong_only)
        if matches or request.header("If-Modified-Since") == LM:
            headers = tuple((n, v) for n, v in OK.headers if n in keep)
            return Response(304, "Not Modified", headers)
        return OK

    return respond


def test_validator_fails_without_etag_or_last_modified() -> None:
    finding = run(validator, always(Response(200, "OK", (), b"{}")))
    assert finding.status is Status.FAIL


def test_validator_warns_with_last_modified_only() -> None:
    finding = run(validator, always(Response(200, "OK", (("Last-Modified", LM),), b"{}")))
    assert finding.status is Status.WARN


def test_validator_passes_with_an_etag() -> None:
    assert run(validator, always(OK)).status is Status.PASS


@pytest.mark.parametrize(
    ("etag", "status"),
    [('"v1"', Status.PASS), ('W/"v1"', Status.WARN), ("v1", Status.FAIL), ('"v1', Status.FAIL)],
)
def test_etag_syntax(etag: str, status: Status) -> None:
    finding = run(etag_syntax, always(Response(200, "OK", (("ETag", etag),), b"{}")))
    assert finding.status is status


def test_stable_fails_when_the_tag_changes_between_reads() -> None:
    counter = itertools.count(1)

    def respond(request: Request) -> Response:
        return Response(200, "OK", (("ETag", f'"r{next(counter)}"'),), b"{}")

    finding = run(stable, respond)
    assert finding.status is Status.FAIL
    assert '"r1" then "r2"' in finding.detail


def test_stable_tolerates_a_withheld_last_modified_but_not_a_changed_one() -> None:
    # RFC 9110 §8.8.2.1: a Last-Modified later than the clock is withheld, so it may appear
    # between two reads of an unchanged resource.
    reads = itertools.count()

    def appears(request: Request) -> Response:
        if next(reads) == 0:
            return Response(200, "OK", (("ETag", '"v1"'),), b"{}")
        return OK

    assert run(stable, appears).status is Status.PASS
    later = "Mon, 05 Jan 2026 09:00:01 GMT"
    changes = itertools.count()

    def moves(request: Request) -> Response:
        moment = LM if next(changes) == 0 else later
        return Response(200, "OK", (("ETag", '"v1"'), ("Last-Modified", moment)), b"{}")

    assert run(stable, moves).status is Status.FAIL


def test_stable_reads_on_new_connections() -> None:
    seen: list[Request] = []

    def respond(request: Request) -> Response:
        seen.append(request)
        return OK

    assert run(stable, respond).status is Status.PASS
    assert all(r.header("Connection") == "close" for r in seen[1:]) and len(seen) == 5


def test_head_with_another_etag_fails() -> None:
    def respond(request: Request) -> Response:
        if request.method == "HEAD":
            return Response(200, "OK", (("ETag", '"other"'), ("Last-Modified", LM)))
        return OK

    finding = run(head, respond)
    assert finding.status is Status.FAIL and '"other"' in finding.detail


def test_head_not_allowed_is_a_warning() -> None:
    def respond(request: Request) -> Response:
        return Response(405, "Method Not Allowed") if request.method == "HEAD" else OK

    assert run(head, respond).status is Status.WARN


def test_if_none_match_passes_with_a_complete_304() -> None:
    finding = run(if_none_match, conditional())
    assert finding.status is Status.PASS
    assert finding.evidence[0].request == 'GET /doc  If-None-Match: "v1"'


def test_a_304_without_the_etag_fails() -> None:
    finding = run(if_none_match, conditional(keep=("Date",)))
    assert finding.status is Status.FAIL and "ETag" in finding.detail


def test_ignoring_if_none_match_is_a_warning_and_skips_the_weak_probe() -> None:
    assert run(if_none_match, always(OK)).status is Status.WARN
    assert run(if_none_match_weak, always(OK)).status is Status.SKIP


def test_a_412_to_a_conditional_get_fails() -> None:
    def respond(request: Request) -> Response:
        if request.header("If-None-Match"):
            return Response(412, "Precondition Failed")
        return OK

    assert run(if_none_match, respond).status is Status.FAIL


def test_strong_only_if_none_match_fails_the_weak_probe() -> None:
    finding = run(if_none_match_weak, conditional(strong_only=True))
    assert finding.status is Status.FAIL and 'W/"v1"' in finding.detail


def test_weak_if_none_match_passes_with_weak_comparison() -> None:
    assert run(if_none_match_weak, conditional()).status is Status.PASS


def test_if_modified_since() -> None:
    assert run(if_modified_since, conditional()).status is Status.PASS
    assert run(if_modified_since, always(OK)).status is Status.WARN
    no_lm = Response(200, "OK", (("ETag", '"v1"'),), b"{}")
    assert run(if_modified_since, always(no_lm)).status is Status.SKIP


def compressing(etag_for: Callable[[str], str | None]) -> Responder:
    """A server behind a compressing proxy: ``etag_for(coding)`` is the tag of a response
    compressed with ``coding`` (``None``: no ETag); uncompressed, the tag is ``"v1"``."""

    def respond(request: Request) -> Response:
        accepted = request.header("Accept-Encoding") or ""
        coding = next((c for c in ("br", "gzip") if c in accepted), None)
        if coding is None:
            return OK
        tag = etag_for(coding)
        headers = [("Content-Encoding", coding), ("Date", LM)]
        if tag is not None:
            headers.append(("ETag", tag))
        return Response(200, "OK", tuple(headers), b"{}")

    return respond


def test_compressed_etag_passes_when_nothing_compresses_or_the_tag_is_kept() -> None:
    finding = run(compressed_etag, always(OK))
    assert finding.status is Status.PASS and "No response was compressed" in finding.detail
    kept = run(compressed_etag, compressing(lambda coding: '"v1"'))
    assert kept.status is Status.PASS and "(gzip, br)" in kept.detail


@pytest.mark.parametrize(
    ("etag_for", "words"),
    [
        (lambda coding: f'"v1-{coding}"', ('"v1-gzip"', "-gzip", "mod_deflate", "NoChange")),
        (lambda coding: '"v1"' if coding == "gzip" else '"v1-br"', ('"v1-br"', "mod_brotli")),
        (lambda coding: 'W/"v1"', ('weak W/"v1"', "nginx", "accept-weak-echo")),
        (lambda coding: None, ("no ETag",)),
        (lambda coding: '"other"', ('"other"', "412")),
    ],
)
def test_compressed_etag_warns_when_a_proxy_alters_the_tag(
    etag_for: Callable[[str], str | None], words: tuple[str, ...]
) -> None:
    finding = run(compressed_etag, compressing(etag_for))
    assert finding.status is Status.WARN
    for word in words:
        assert word in finding.detail, (word, finding.detail)
    assert len(finding.evidence) == 2  # the uncompressed GET and the altered one


def test_compressed_etag_skips_without_a_tag() -> None:
    bare = Response(200, "OK", (("Last-Modified", LM), ("Date", LM)), b"{}")
    assert run(compressed_etag, always(bare)).status is Status.SKIP
