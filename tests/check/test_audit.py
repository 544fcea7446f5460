"""The whole run: preflight refusals, read-only runs, blocked writes, lost connections."""

from __future__ import annotations

import pytest

from check.drive import ResourceServer, context, drive, one_by_one
from check.servers import DocumentResource
from ifmatch.check.audit import ALL_PROBES, Outcome, audit
from ifmatch.check.messages import Request, Response, TransportError
from ifmatch.check.model import Status
from ifmatch.check.probes import READ_PROBES


def run(respond: object, **options: object) -> Outcome:
    return drive(audit(context(**options)), respond)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("response", "words"),
    [
        (Response(301, "Moved Permanently", (("Location", "/docs/1/"),)), "to /docs/1/"),
        (Response(302, "Found"), "final URL"),
        (Response(401, "Unauthorized"), "--header 'Authorization: ...'"),
        (Response(403, "Forbidden"), "credentials"),
        (Response(404, "Not Found"), "one existing resource"),
        (Response(500, "Internal Server Error"), "server failed"),
        (Response(405, "Method Not Allowed"), "answers 200 to GET"),
    ],
)
def test_a_get_that_is_not_2xx_aborts_with_a_clear_reason(response: Response, words: str) -> None:
    outcome = run(one_by_one(lambda request: response))
    assert outcome.results == ()
    assert outcome.error is not None and words in outcome.error
    assert str(response.status) in outcome.error


def test_no_response_to_the_first_get_aborts() -> None:
    def refuse(step: object) -> object:
        raise TransportError("ConnectError: [Errno 111] Connection refused")

    outcome = run(refuse)
    assert outcome.error == "No response to GET: ConnectError: [Errno 111] Connection refused"


def test_a_read_only_run_runs_the_read_probes_only_and_never_writes() -> None:
    server = ResourceServer(DocumentResource())
    outcome = run(server)
    assert [result.id for result in outcome.results] == [probe.id for probe in READ_PROBES]
    assert {result.status for result in outcome.results} == {Status.PASS}
    assert {request.method for request in server.seen} == {"GET", "HEAD"}


def test_a_write_run_runs_every_probe_in_order() -> None:
    outcome = run(ResourceServer(DocumentResource()), write=True, rounds=2)
    assert [result.id for result in outcome.results] == [probe.id for probe in ALL_PROBES]
    assert {result.status for result in outcome.results} == {Status.PASS}


def test_a_failed_baseline_skips_the_write_probes_but_still_restores() -> None:
    base = ResourceServer(DocumentResource())

    def refuse_first_put(request: Request) -> Response:
        if request.method == "PUT" and not any(r.method == "PUT" for r in base.seen):
            base.seen.append(request)
            return Response(412, "Precondition Failed")
        return base(request)  # type: ignore[return-value]

    outcome = run(one_by_one(refuse_first_put), write=True, rounds=1)
    statuses = {result.id: result.status for result in outcome.results}
    assert statuses["write"] is Status.FAIL
    assert statuses["stale-if-match"] is Status.SKIP and statuses["race"] is Status.SKIP
    assert statuses["restore"] is Status.PASS


def test_a_lost_connection_during_a_probe_is_an_error_for_that_probe_only() -> None:
    base = ResourceServer(DocumentResource())

    def no_head(request: Request) -> Response:
        if request.method == "HEAD":
            raise TransportError("RemoteProtocolError: Server disconnected")
        return base(request)  # type: ignore[return-value]

    outcome = run(one_by_one(no_head))
    head = next(result for result in outcome.results if result.id == "head")
    assert head.status is Status.ERROR and "Server disconnected" in head.detail
    others = [result.status for result in outcome.results if result.id != "head"]
    assert Status.ERROR not in others


def test_progress_counts_probes() -> None:
    seen: list[tuple[str, int, int]] = []
    ctx = context(write=True, rounds=1)
    ctx.progress = lambda description, done, total: seen.append((description, done, total))
    drive(audit(ctx), ResourceServer(DocumentResource()))
    total = len(ALL_PROBES)
    assert seen[0] == ("GET", 0, total) and seen[-1] == ("done", total, total)
    assert ("HEAD agrees with GET", 3, total) in seen


def test_a_first_write_without_response_skips_the_write_probes_that_build_on_it() -> None:
    server = ResourceServer(DocumentResource())
    puts: list[Request] = []

    def reset_first_put(step: object) -> object:
        if isinstance(step, Request) and step.method == "PUT":
            puts.append(step)
            if len(puts) == 1:
                raise TransportError("ReadError: [Errno 104] Connection reset by peer")
        return server(step)  # type: ignore[arg-type]

    outcome = run(reset_first_put, write=True)
    statuses = {result.id: result.status for result in outcome.results}
    assert statuses["write"] is Status.ERROR
    skipped = [r for r in outcome.results if r.status is Status.SKIP]
    assert {r.id for r in skipped} == {p.id for p in ALL_PROBES if p.writes} - {"write", "restore"}
    assert all("did not succeed" in r.detail for r in skipped)
    assert statuses["restore"] is Status.PASS
