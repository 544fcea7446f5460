"""Idempotency records in the stores: claimed before a write, completed by the write itself.

Every store keeps its records next to its resources (a table, a Redis hash, a dict) and offers
the same three calls::

    claim(id, fingerprint)     -> Claim      NEW (this attempt holds it), REPLAY, MISMATCH,
                                             IN_FLIGHT (see ifmatch.core.idempotency.judge)
    lookup(id)                 -> record or None
    release(id, attempt)                     forget a pending claim whose write did not happen

and its guarded writes take ``completion=Completion(...)``: when the write wins, the record is
marked done (status, new version, Location) in the same statement, transaction or script, so a
record is done if and only if its write committed. A completion whose claim was taken over by
another attempt rolls the write back and reports it ``LOST``; the caller then finds the record
done by that attempt and answers as it was answered.

The claim itself is one short write of its own, committed before the request's work begins, so
that a concurrent retry sees it (409) instead of performing the request a second time.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ..core.idempotency import (
    DEFAULT_IN_FLIGHT,
    DEFAULT_RETENTION,
    IdempotencyRecord,
    Verdict,
    judge,
    new_attempt,
)

__all__ = [
    "AsyncIdempotencyLedger",
    "Claim",
    "ClaimStep",
    "Completion",
    "IdempotencyLedger",
    "claim_flow",
]


@dataclass(frozen=True, slots=True)
class Claim:
    """What ``claim`` found.

    Attributes:
        verdict: ``NEW`` (this attempt now holds the pending record), ``REPLAY``, ``MISMATCH``
            or ``IN_FLIGHT``.
        record: for ``NEW``, the record this attempt holds; otherwise the one found.
    """

    verdict: Verdict
    record: IdempotencyRecord

    @property
    def attempt(self) -> str:
        return self.record.attempt

    def completion(self, status: int, location: str | None = None) -> Completion:
        """What the guarded write records when it wins (for a ``NEW`` claim)."""
        return Completion(self.record.id, self.record.attempt, status, location)


@dataclass(frozen=True, slots=True)
class Completion:
    """Mark record ``id`` done, in the guarded write's own atomic step.

    Attributes:
        id: the record.
        attempt: the attempt that holds the claim; a record held by another is not touched and
            the write is rolled back.
        status: the status the write is answered with.
        location: the ``Location`` of a create.
    """

    id: str
    attempt: str
    status: int
    location: str | None = None


class IdempotencyLedger(Protocol):
    """A store's idempotency records (synchronous)."""

    def claim(
        self,
        id: str,
        fingerprint: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        in_flight: timedelta = DEFAULT_IN_FLIGHT,
    ) -> Claim: ...

    def lookup(self, id: str) -> IdempotencyRecord | None: ...

    def release(self, id: str, attempt: str) -> None: ...


class AsyncIdempotencyLedger(Protocol):
    """A store's idempotency records (asynchronous)."""

    async def claim(
        self,
        id: str,
        fingerprint: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        in_flight: timedelta = DEFAULT_IN_FLIGHT,
    ) -> Claim: ...

    async def lookup(self, id: str) -> IdempotencyRecord | None: ...

    async def release(self, id: str, attempt: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ClaimStep:
    """One storage operation the claim flow asks for.

    ``op`` is ``"insert"`` (insert ``record`` if no record has its id; send back whether it
    was inserted), ``"read"`` (send back the record with ``record.id``, or ``None``), or
    ``"replace"`` (replace ``previous`` by ``record`` if the stored one still has
    ``previous``'s attempt and state; send back whether it did).
    """

    op: str
    record: IdempotencyRecord
    previous: IdempotencyRecord | None = None

    def replaces(self, found: IdempotencyRecord | None) -> bool:
        """Whether a ``"replace"`` may overwrite ``found``: it is still the record judged."""
        previous = self.previous
        return (
            found is not None
            and previous is not None
            and (found.attempt, found.done) == (previous.attempt, previous.done)
        )


ClaimFlow = Generator[ClaimStep, object, Claim]


def claim_flow(
    id: str,
    fingerprint: str,
    *,
    retention: timedelta = DEFAULT_RETENTION,
    in_flight: timedelta = DEFAULT_IN_FLIGHT,
    now: datetime | None = None,
) -> ClaimFlow:
    """The claim, as a sans-I/O generator shared by the SQL stores' sync and async twins (as
    httpx's auth flow is): it yields :class:`ClaimStep` s and returns the :class:`Claim`.

    Insert a pending record; if one exists, judge it; an expired or abandoned one is replaced,
    conditionally on nobody having replaced it first (then judge again).
    """
    moment = now or datetime.now(UTC)
    mine = IdempotencyRecord(
        id=id,
        fingerprint=fingerprint,
        attempt=new_attempt(),
        created=moment,
        expires=moment + retention,
    )
    if (yield ClaimStep("insert", mine)):
        return Claim(Verdict.NEW, mine)
    for _ in range(3):
        found = yield ClaimStep("read", mine)
        if found is None:
            if (yield ClaimStep("insert", mine)):
                return Claim(Verdict.NEW, mine)
            continue
        assert isinstance(found, IdempotencyRecord)
        verdict = judge(found, fingerprint, moment, in_flight=in_flight)
        if verdict is not Verdict.NEW:
            return Claim(verdict, found)
        if (yield ClaimStep("replace", mine, found)):
            return Claim(Verdict.NEW, mine)
    # Three rounds of others replacing the record between our reads: someone holds it now.
    return Claim(Verdict.IN_FLIGHT, replace(mine, attempt=""))
