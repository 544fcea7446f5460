"""Exactly-once writes: the ``Idempotency-Key`` request field, sans I/O.

A write can reach the database and still fail to tell its client: the connection breaks
between ``COMMIT`` and the answer, a proxy times out, a worker dies. The client cannot tell
"not applied" from "applied, reply lost", and retrying with the old ``If-Match`` gets a 412
for its own write. RFC 9110 §13.1.1 allows the way out: "if the request is a state-changing
operation that appears to have already been applied to the selected representation, the
origin server MAY respond with a 2xx (Successful) status code". The IETF HTTPAPI draft "The
Idempotency-Key HTTP Header Field" gives the request side: the client names each logical write
with a key and sends it again on every retry; the server records the key with the outcome.

This module holds the rules; the stores keep the records (in the same statement, transaction
or script as the guarded write), and the integrations translate.

A record moves through two states::

    pending   claimed by one attempt (``attempt``), whose write has not committed
    done      the write committed, and with it the record: its status, version and Location

The one invariant: a record is ``done`` if and only if its write committed, because both are
written in the same transaction. So a retry that finds ``done`` gets the original answer, one
that finds ``pending`` is still in flight (409) unless the pending claim is older than the
in-flight limit (its request died before it could commit: the write never happened), and a key
sent again with another request (another method, target, body or precondition) is a 422.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from .errors import IfMatchError

__all__ = [
    "DEFAULT_IN_FLIGHT",
    "DEFAULT_RETENTION",
    "IDEMPOTENCY_KEY",
    "IdempotencyRecord",
    "InvalidIdempotencyKey",
    "Verdict",
    "format_idempotency_key",
    "judge",
    "new_attempt",
    "parse_idempotency_key",
    "record_id",
    "request_fingerprint",
]

#: The request field (draft-ietf-httpapi-idempotency-key-header).
IDEMPOTENCY_KEY: Final = "Idempotency-Key"
#: How long a record is kept: a retry after this is a new request.
DEFAULT_RETENTION: Final = timedelta(hours=24)
#: How long a pending record counts as in flight. A request that holds its claim longer has
#: died without committing (a committed write marks its record done in the same transaction),
#: and the next attempt takes the claim over.
DEFAULT_IN_FLIGHT: Final = timedelta(seconds=30)
MAX_KEY_LENGTH: Final = 255

# sf-string = DQUOTE *chr DQUOTE; chr = unescaped / escaped; unescaped = %x20-21 / %x23-5B /
# %x5D-7E; escaped = "\" ( DQUOTE / "\" )                         ; RFC 8941 §3.3.3
_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
# Not in the draft: the key bare, as many clients send it (a UUID, a ULID, base64url).
_BARE_KEY = re.compile(r"[A-Za-z0-9._~:+/=-]+")
# The request fields that take part in the fingerprint: a retry must carry the same ones.
FINGERPRINTED_FIELDS: Final = (
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "content-type",
)


class InvalidIdempotencyKey(IfMatchError, ValueError):
    """The ``Idempotency-Key`` field is not a key: 400, with ``reason`` for the problem body."""

    status_hint = 400

    def __init__(self, reason: str) -> None:
        super().__init__(f"Idempotency-Key: {reason}")
        self.reason = reason


def parse_idempotency_key(value: str) -> str:
    """The key a field value names.

    The draft's grammar is an RFC 8941 String (``"8e03978e-…"``); a bare key of the characters
    UUIDs, ULIDs and base64url use is accepted too. At most 255 characters.

    Raises:
        InvalidIdempotencyKey: empty, too long, several values, or neither form.

    >>> parse_idempotency_key('"8e03978e"')
    '8e03978e'
    """
    text = value.strip(" \t")
    match = _SF_STRING.fullmatch(text)
    if match is not None:
        key = re.sub(r"\\([\"\\])", r"\1", match.group(1))
    elif _BARE_KEY.fullmatch(text):
        key = text
    elif "," in text:
        raise InvalidIdempotencyKey("one key per request; the field carried several")
    else:
        raise InvalidIdempotencyKey('expected one key, as a quoted string ("…") or a bare token')
    if not key:
        raise InvalidIdempotencyKey("the key is empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(f"the key is {len(key)} characters; the limit is 255")
    return key


def format_idempotency_key(key: str) -> str:
    """The field value for ``key``, as the draft writes it: an RFC 8941 String."""
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def new_attempt() -> str:
    """A token naming one attempt at a write (unguessable, so only its holder completes it)."""
    return secrets.token_hex(16)


def record_id(scope: str, key: str) -> str:
    """The record's identifier: the key within its scope (resource, and user where known),
    hashed to a fixed width for the stores' indexes."""
    return hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()


def request_fingerprint(
    method: str, target: str, body: bytes, headers: Iterable[tuple[str, str]] = ()
) -> str:
    """What a retry must repeat exactly: the method, the target (path and query), the
    preconditions and media type, and the body, hashed."""
    digest = hashlib.sha256()
    digest.update(method.upper().encode())
    digest.update(b"\x00" + target.encode("utf-8", "surrogateescape"))
    fields: dict[str, list[str]] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in FINGERPRINTED_FIELDS:
            fields.setdefault(lower, []).append(value.strip(" \t"))
    for name in FINGERPRINTED_FIELDS:
        digest.update(b"\x00" + name.encode() + b":" + ", ".join(fields.get(name, ())).encode())
    digest.update(b"\x00" + body)
    return digest.hexdigest()


class Verdict(enum.Enum):
    """What a request carrying a key is, given the record found for the key."""

    NEW = "new"  # no usable record: perform the request (the attempt holds the claim)
    REPLAY = "replay"  # the write committed: answer as it was answered
    MISMATCH = "mismatch"  # the key was used with another request: 422
    IN_FLIGHT = "in-flight"  # another attempt holds the claim and may still commit: 409


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """What a store keeps for one key.

    Attributes:
        id: :func:`record_id` of the scope and key.
        fingerprint: :func:`request_fingerprint` of the request that claimed it.
        attempt: the token of the attempt holding the claim (:func:`new_attempt`).
        created: when the claim was made (or taken over).
        expires: when the record is forgotten.
        done: whether the write committed.
        status: the status the write was answered with (done only).
        version: the version the write left (done only; ``None`` after a delete).
        location: the ``Location`` of a create (done only).
    """

    id: str
    fingerprint: str
    attempt: str
    created: datetime
    expires: datetime
    done: bool = False
    status: int | None = None
    version: int | None = None
    location: str | None = None


def judge(
    record: IdempotencyRecord | None,
    fingerprint: str,
    now: datetime,
    *,
    in_flight: timedelta = DEFAULT_IN_FLIGHT,
) -> Verdict:
    """The verdict on a request whose key has ``record`` (``None``: never seen).

    An expired record counts as absent; a pending one older than ``in_flight`` belongs to a
    request that died before it committed (a commit would have marked it done), so it is
    claimed anew.
    """
    if record is None or record.expires <= now:
        return Verdict.NEW
    if record.fingerprint != fingerprint:
        return Verdict.MISMATCH
    if record.done:
        return Verdict.REPLAY
    if now - record.created >= in_flight:
        return Verdict.NEW
    return Verdict.IN_FLIGHT
