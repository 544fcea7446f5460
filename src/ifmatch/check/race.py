"""The race probe: N writers holding the same ETag, released at the same instant.

RFC 9110 §13.1.1: "An origin server MUST NOT perform the requested method if a received
If-Match condition evaluates to false". After the first of the N writes, the others' If-Match
is false, so exactly one may succeed. A server that compares the tag first and writes later
(check-then-write) lets several through: each of them was acknowledged with a 2xx, and all but
the last were silently overwritten. A narrow window needs many rounds to show, so the probe
repeats and reports how many rounds raced.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .context import Context, Finding, read_state
from .messages import Failure, Flow, Request, Response, exchange_together
from .model import Evidence, Status, describe_request
from .probes import Probe
from .writing import stored_value, write_request

__all__ = ["RACE", "race"]


@dataclass(slots=True)
class Tally:
    """What the rounds added up to."""

    rounds: int = 0
    raced: int = 0
    no_winner: int = 0
    max_winners: int = 0
    lost: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    example: tuple[Evidence, ...] = ()
    example_raced: bool = False

    def as_data(self, writers: int) -> dict[str, object]:
        return {
            "writers": writers,
            "rounds": self.rounds,
            "raced_rounds": self.raced,
            "rounds_without_winner": self.no_winner,
            "max_winners": self.max_winners,
            "lost_updates": self.lost,
            "statuses": dict(sorted(self.statuses.items())),
        }


def _outcome(outcome: Response | Failure) -> str:
    if isinstance(outcome, Failure):
        return "no response"
    return f"{outcome.status} {outcome.reason}".rstrip()


def _summary(outcomes: tuple[Response | Failure, ...]) -> str:
    counts = Counter(_outcome(outcome) for outcome in outcomes)
    return ", ".join(f"{count} × {label}" for label, count in sorted(counts.items()))


def _round(ctx: Context, number: int, tally: Tally) -> Flow[None]:
    _, state = yield from read_state()
    if state.etag_raw is None:
        raise _NoETag
    writers = ctx.options.concurrency
    markers = [ctx.marker(f"race round {number} writer {i}") for i in range(writers)]
    requests = tuple(write_request(ctx, m, (("If-Match", state.etag_raw),)) for m in markers)
    outcomes = yield from exchange_together(requests)
    get_request, after = yield from read_state()
    winners = [
        markers[i]
        for i, outcome in enumerate(outcomes)
        if isinstance(outcome, Response) and outcome.is_success
    ]
    tally.rounds += 1
    tally.statuses.update(_outcome(outcome) for outcome in outcomes)
    tally.max_winners = max(tally.max_winners, len(winners))
    if not winners:
        tally.no_winner += 1
    if len(winners) > 1:
        tally.raced += 1
        # Every acknowledged write except the one GET now shows was overwritten unseen.
        survivor = stored_value(ctx, after)
        tally.lost += len(winners) - (1 if survivor in winners else 0)
    # Show the first round, or the first round that raced.
    if not tally.example or (len(winners) > 1 and not tally.example_raced):
        tally.example = _evidence(ctx, requests[0], outcomes, get_request, after.response)
        tally.example_raced = len(winners) > 1


def _evidence(
    ctx: Context,
    request: Request,
    outcomes: tuple[Response | Failure, ...],
    get_request: Request,
    after: Response,
) -> tuple[Evidence, ...]:
    together = Evidence(
        f"{len(outcomes)} × {describe_request(ctx.target, request)} (released together)",
        _summary(outcomes),
    )
    return (together, ctx.evidence(get_request, after))


class _NoETag(Exception):
    pass


def race(ctx: Context) -> Flow[Finding]:
    """Release ``concurrency`` conditional writes with the same ETag, ``rounds`` times."""
    tally = Tally()
    writers, rounds = ctx.options.concurrency, ctx.options.rounds
    for number in range(1, rounds + 1):
        ctx.report(f"race round {number}/{rounds}")
        try:
            yield from _round(ctx, number, tally)
        except _NoETag:
            return Finding(Status.ERROR, "GET stopped returning an ETag.")
    data = tally.as_data(writers)
    if tally.raced:
        return Finding(
            Status.FAIL,
            f"In {tally.raced} of {rounds} rounds more than one of {writers} writers holding the "
            f"same ETag got a 2xx (up to {tally.max_winners}); {tally.lost} acknowledged writes "
            f"were silently overwritten. {_diagnosis(ctx)}",
            tally.example,
            data,
        )
    failed = sum(count for label, count in tally.statuses.items() if label[0] in "5n")
    if tally.no_winner or failed:
        return Finding(
            Status.WARN,
            f"No round had two winners, but {tally.no_winner} of {rounds} rounds had none and "
            f"{failed} writes failed (5xx or no response): {_statuses(tally)}.",
            tally.example,
            data,
        )
    return Finding(
        Status.PASS,
        f"In each of {rounds} rounds exactly one of {writers} writers holding the same ETag "
        f"succeeded: {_statuses(tally)}.",
        tally.example,
        data,
    )


def _diagnosis(ctx: Context) -> str:
    if "stale If-Match" in ctx.notes.get("applied", ()):
        return "The server does not enforce If-Match at all (see stale-if-match)."
    return (
        "A stale If-Match alone is refused, so the server checks the precondition and then "
        "writes in a separate step: make the check part of the write "
        "(UPDATE … WHERE version = …)."
    )


def _statuses(tally: Tally) -> str:
    return ", ".join(f"{count} × {label}" for label, count in sorted(tally.statuses.items()))


RACE = Probe(
    "race",
    "concurrent writers: exactly one wins",
    "RFC 9110 §13.1.1, §13.2.2",
    race,
    True,
)
