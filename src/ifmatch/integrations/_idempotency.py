"""``Idempotency-Key`` in the integrations, in plain values: no framework here.

The recipe, for an unsafe request to a resource that takes keys::

    the key field absent: 400 if the method requires one, else the request goes on unkeyed
    the field malformed: 400
    claim the key (scope = user and target, fingerprint = the request)
        REPLAY     answer as the first attempt was answered: its status, the ETag of the
                   version it left, its Location; ``Idempotent-Replayed: true``; no body
        IN_FLIGHT  409, Retry-After: the first attempt may still commit
        MISMATCH   422: the key was sent with another request
        NEW        the request goes on; its guarded write completes the record (the store does
                   it in the write's own transaction); a request that ends without writing
                   releases its claim
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ..core import problem, version_etag
from ..core.idempotency import (
    DEFAULT_IN_FLIGHT,
    DEFAULT_RETENTION,
    IDEMPOTENCY_KEY,
    IdempotencyRecord,
    InvalidIdempotencyKey,
    Verdict,
    format_idempotency_key,
    parse_idempotency_key,
    record_id,
    request_fingerprint,
)
from ..stores.idempotency import Claim

__all__ = [
    "REPLAYED",
    "Idempotency",
    "KeyedRequest",
    "Outcome",
    "idempotency_options",
    "keyed_request",
    "judged",
    "replay_headers",
    "twin_completed",
    "verdict_problem",
]

#: The response field that marks a replayed answer (as Stripe's API does).
REPLAYED = ("Idempotent-Replayed", "true")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Idempotency:
    """How a resource takes ``Idempotency-Key``.

    Attributes:
        required: methods answered 400 without a key (e.g. ``{"POST"}``).
        methods: the methods a key is honoured on (the unsafe ones).
        retention: how long a key's record is kept; a retry later is a new request.
        in_flight: how long a claimed key counts as in flight (409) before a retry may take it
            over; longer than the slowest request.
    """

    required: frozenset[str] = field(default_factory=frozenset)
    methods: frozenset[str] = UNSAFE
    retention: timedelta = DEFAULT_RETENTION
    in_flight: timedelta = DEFAULT_IN_FLIGHT

    def __post_init__(self) -> None:
        object.__setattr__(self, "required", frozenset(m.upper() for m in self.required))
        object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))
        if not self.required <= self.methods:
            raise ValueError("a method that requires a key must be one that takes one")


def idempotency_options(value: bool | Idempotency | None) -> Idempotency | None:
    """``True``: keys honoured, none required; ``False``/``None``: keys ignored."""
    if value is True:
        return Idempotency()
    if value is None or value is False:
        return None
    return value


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """A request whose key will be claimed: its record id and fingerprint."""

    key: str
    id: str
    fingerprint: str

    @property
    def echo(self) -> tuple[str, str]:
        """The response field that tells the client its key was honoured: a keyed answer
        (whatever its status) was judged with the key, so a 412 to a retry means the write did
        not apply, never "applied, reply lost"."""
        return (IDEMPOTENCY_KEY, format_idempotency_key(self.key))


def keyed_request(
    options: Idempotency | None,
    method: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    scope: str,
    target: str,
    body: Callable[[], bytes],
) -> KeyedRequest | dict[str, Any] | None:
    """Read the request's key.

    Args:
        options: the resource's settings (``None``: keys are ignored).
        method, headers, target: the request's.
        scope: who and what the key is scoped to (the user where known, and the resource).
        body: reads the request body (only called when the request carries a key).

    Returns:
        ``None`` when the request is not keyed, a problem body (400) when the key is missing
        but required or malformed, else the :class:`KeyedRequest` to claim.
    """
    method = method.upper()
    if options is None or method not in options.methods:
        return None
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    values = [value for name, value in pairs if name.lower() == "idempotency-key"]
    if not values:
        if method in options.required:
            return problem(
                400,
                f"{method} requires an {IDEMPOTENCY_KEY} field: a unique key per logical "
                "write, sent again unchanged on every retry of it.",
                code="idempotency-key-missing",
                header=IDEMPOTENCY_KEY,
                instance=target,
            )
        return None
    try:
        if len(values) > 1:
            raise InvalidIdempotencyKey("one key per request; the field came several times")
        key = parse_idempotency_key(values[0])
    except InvalidIdempotencyKey as error:
        return problem(
            400,
            f"Malformed {IDEMPOTENCY_KEY} header: {error.reason}",
            code="invalid-header",
            header=IDEMPOTENCY_KEY,
            instance=target,
        )
    fingerprint = request_fingerprint(method, target, body(), pairs)
    return KeyedRequest(key, record_id(scope, key), fingerprint)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to do with a claimed key: go on (``claim``), or answer (``replay`` / ``problem``)."""

    claim: Claim | None = None
    replay: IdempotencyRecord | None = None
    problem: dict[str, Any] | None = None


def judged(claim: Claim, target: str) -> Outcome:
    """The answer to a claim's verdict."""
    if claim.verdict is Verdict.NEW:
        return Outcome(claim=claim)
    if claim.verdict is Verdict.REPLAY:
        return Outcome(replay=claim.record)
    return Outcome(problem=verdict_problem(claim.verdict, target))


def verdict_problem(verdict: Verdict, target: str | None) -> dict[str, Any]:
    """409 for a key in flight, 422 for a key reused with another request."""
    if verdict is Verdict.IN_FLIGHT:
        return problem(
            409,
            "A request with this Idempotency-Key is still being processed; retry it after the "
            "Retry-After delay to get its outcome.",
            code="idempotency-key-in-flight",
            header=IDEMPOTENCY_KEY,
            instance=target,
        )
    return problem(
        422,
        "This Idempotency-Key was already used with another request (another method, "
        "target, precondition or body): use a new key for a new write.",
        code="idempotency-key-reused",
        header=IDEMPOTENCY_KEY,
        instance=target,
    )


def twin_completed(claim: Claim, record: IdempotencyRecord | None) -> bool:
    """Whether ``record`` is the claim's key done by another attempt of the same request (the
    write lost to it: answer as it was answered)."""
    return (
        record is not None
        and record.done
        and record.fingerprint == claim.record.fingerprint
        and record.attempt != claim.record.attempt
    )


def replay_headers(record: IdempotencyRecord, variant: str | None = None) -> list[tuple[str, str]]:
    """The fields of a replayed answer: the ``ETag`` of the version the write left, its
    ``Location``, and ``Idempotent-Replayed: true``."""
    headers = [REPLAYED]
    if record.version is not None:
        headers.append(("ETag", str(version_etag(record.version, variant=variant))))
    if record.location:
        headers.append(("Location", record.location))
    return headers
