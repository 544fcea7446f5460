"""The race probe, with the losing interleaving forced: every writer is evaluated before any
of them writes. Real concurrency is tested against threaded servers in
test_reference_servers.py."""

from __future__ import annotations

from check.drive import ResourceServer, context, drive, one_by_one
from check.servers import Defect, DocumentResource
from ifmatch.check.audit import preflight
from ifmatch.check.context import Context, Finding
from ifmatch.check.messages import Batch, Failure, Request, Response
from ifmatch.check.model import Status
from ifmatch.check.race import race


def run(server: object, ctx: Context | None = None, **options: object) -> Finding:
    ctx = ctx or context(write=True, **options)
    drive(preflight(ctx), server)  # type: ignore[arg-type]
    return drive(race(ctx), server)  # type: ignore[arg-type]


def test_compare_and_set_lets_exactly_one_writer_win_each_round() -> None:
    finding = run(ResourceServer(DocumentResource()), concurrency=6, rounds=4)
    assert finding.status is Status.PASS
    assert finding.data["statuses"] == {"200 OK": 4, "412 Precondition Failed": 20}
    assert (finding.data["raced_rounds"], finding.data["lost_updates"]) == (0, 0)


def test_check_then_write_lets_every_writer_win_and_counts_the_lost_updates() -> None:
    server = ResourceServer(DocumentResource(Defect.CHECK_THEN_WRITE))
    finding = run(server, concurrency=6, rounds=4)
    assert finding.status is Status.FAIL
    assert finding.data["raced_rounds"] == 4 and finding.data["max_winners"] == 6
    # Six acknowledged writes per round, one survives: five lost, four rounds.
    assert finding.data["lost_updates"] == 20
    assert "checks the precondition and then writes" in finding.detail


def test_the_writers_of_a_round_share_one_etag_and_send_distinct_bodies() -> None:
    server = ResourceServer(DocumentResource())
    run(server, concurrency=4, rounds=1)
    puts = [r for r in server.seen if r.method == "PUT"]
    assert len({r.header("If-Match") for r in puts}) == 1
    assert len({r.body for r in puts}) == 4


def test_the_evidence_shows_the_batch_and_the_state_after_it() -> None:
    finding = run(ResourceServer(DocumentResource()), concurrency=3, rounds=2)
    together, after = finding.evidence
    assert together.request == '3 × PUT /doc  If-Match: "v1" (released together)'
    assert together.response == "1 × 200 OK, 2 × 412 Precondition Failed"
    assert after.request == "GET /doc"


def test_rounds_without_any_winner_are_a_warning() -> None:
    base = ResourceServer(DocumentResource())

    def refuse_batches(step: Batch | Request) -> object:
        if isinstance(step, Batch):
            outcomes: tuple[Response | Failure, ...] = tuple(
                Failure("connection reset") for _ in step.requests
            )
            return outcomes
        return base(step)

    finding = run(refuse_batches, rounds=2)
    assert finding.status is Status.WARN
    assert finding.data["rounds_without_winner"] == 2
    assert finding.data["statuses"] == {"no response": 16}


def test_progress_is_reported_per_round() -> None:
    seen: list[str] = []
    ctx = context(write=True, rounds=3)
    ctx.progress = lambda description, done, total: seen.append(description)
    run(one_by_one(ResourceServer(DocumentResource())), ctx)
    assert seen == ["race round 1/3", "race round 2/3", "race round 3/3"]
