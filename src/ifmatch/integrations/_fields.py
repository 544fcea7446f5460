"""The response fields every integration sends, in plain values: no framework here.

- the validators of a 2xx or 304 (``ETag``, and ``Last-Modified`` never later than ``Date``,
  RFC 9110 §8.8.2.1): :func:`snapshot_fields`, :func:`not_modified_fields`,
  :func:`last_modified_fields`;
- problem bodies (RFC 9457, or JSON:API error documents): :func:`render_problem`, and the
  one for a serialization failure at the caller's commit, :func:`write_conflict_problem`.

Used by Flask, Starlette and FastAPI (through ``_conditional``) and by Django and DRF.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from ..core import (
    JSONAPI_MEDIA_TYPE,
    PROBLEM_MEDIA_TYPE,
    ETag,
    NotModified,
    format_http_date,
    jsonapi_errors,
    problem,
    to_http_precision,
)
from ..stores import Snapshot, last_modified_for

__all__ = [
    "PRECONDITION_FIELDS",
    "RETRY_AFTER",
    "VERSION_MISMATCH",
    "HeaderNames",
    "last_modified_fields",
    "not_modified_fields",
    "render_problem",
    "snapshot_fields",
    "unavailable_problem",
    "write_conflict_problem",
]

#: The problem ``code`` of a 409 for a stale version carried in the body, in every integration.
VERSION_MISMATCH = "version-mismatch"
#: ``Retry-After`` of a 503 for a lost or unreachable database (RFC 9110 §10.2.3), in seconds.
RETRY_AFTER = "1"
_UNSAFE_DETAIL = (
    "The database could not be reached or the connection was lost while the request was "
    "handled, so whether the write was applied is unknown: read the resource again (GET) and "
    "compare its ETag before retrying."
)
_SAFE_DETAIL = "The database could not be reached; retry after the Retry-After delay."


def last_modified_fields(moment: datetime | None, *, send: bool = True) -> list[tuple[str, str]]:
    """``Last-Modified`` for a response originated now.

    The one rule for every integration (``ifmatch.stores.last_modified_for``): the stored date
    to the second, and never later than the response's Date (RFC 9110 §8.8.2.1): the stores
    never record a date ahead of their clock, but an application server's clock may lag the
    database's, and a date later than now is then replaced by now, as the RFC asks. The
    server adds ``Date`` after this runs, so it is never earlier than the instant used here.

    Args:
        moment: the stored Last-Modified, or ``None``.
        send: whether Last-Modified is sent at all (a setting of each integration; off, the
            date preconditions are ignored too, see ``_conditional.decide``).

    Returns:
        ``[("Last-Modified", <HTTP-date>)]``, or ``[]``.
    """
    if moment is None or not send:
        return []
    known = _LAST_MODIFIED.get(moment)
    if known is None:
        known = _remember(moment)
    truncated, field = known
    # A whole second no later than now is no later than now truncated: the stored date as is.
    if truncated <= datetime.now(UTC):
        return [field]
    served = last_modified_for(moment, datetime.now(UTC))
    return [] if served is None else [("Last-Modified", format_http_date(served))]


# Stored dates recently sent, with their field: the date to the second (aware UTC) and the
# formatted ``Last-Modified`` line. A row's date repeats on every request until it is written.
_LAST_MODIFIED: dict[datetime, tuple[datetime, tuple[str, str]]] = {}
_LAST_MODIFIED_SIZE = 1024


def _remember(moment: datetime) -> tuple[datetime, tuple[str, str]]:
    truncated = to_http_precision(moment)
    known = (truncated, ("Last-Modified", format_http_date(truncated)))
    if len(_LAST_MODIFIED) >= _LAST_MODIFIED_SIZE:
        _LAST_MODIFIED.clear()  # bounded
    _LAST_MODIFIED[moment] = known
    return known


def snapshot_fields(
    snapshot: Snapshot, *, variant: str | None = None, last_modified: bool = True
) -> list[tuple[str, str]]:
    """``ETag`` and (when it may be sent) ``Last-Modified`` of ``snapshot``."""
    etag = ("ETag", str(snapshot.etag(variant=variant)))
    return [etag, *last_modified_fields(snapshot.last_modified, send=last_modified)]


def not_modified_fields(
    decision: NotModified, *, last_modified: bool = True
) -> list[tuple[str, str]]:
    """The validators a 304 carries (RFC 9110 §15.4.5), ``Last-Modified`` under the same rule."""
    fields = [] if decision.etag is None else [("ETag", str(decision.etag))]
    return fields + last_modified_fields(decision.last_modified, send=last_modified)


def render_problem(
    body: dict[str, Any], error_format: str, etag: ETag | None = None
) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """A problem object as bytes and headers: RFC 9457 ``application/problem+json``, or a
    JSON:API error document with ``error_format="jsonapi"``; ``ETag`` when ``etag`` is given,
    ``Retry-After`` on a 503 and on a 409 for a key still in flight.
    Every integration renders its error bodies here (Django and DRF included)."""
    if error_format == "jsonapi":
        payload, media_type = jsonapi_errors(body), JSONAPI_MEDIA_TYPE
    else:
        payload, media_type = body, PROBLEM_MEDIA_TYPE
    headers = [("Content-Type", media_type)]
    if body["status"] == 503 or body.get("code") == "idempotency-key-in-flight":
        headers.append(("Retry-After", RETRY_AFTER))
    if etag is not None:
        # RFC 9110 §13.1.1: the current tag travels in the header too, so a client can re-read
        # and retry.
        headers.append(("ETag", str(etag)))
    return json.dumps(payload, separators=(",", ":")).encode(), tuple(headers)


class HeaderNames(Protocol):
    """A request's headers, asked only whether a field is present (case-insensitively)."""

    def __contains__(self, name: str, /) -> bool: ...


#: The request fields that make a request conditional (RFC 9110 §13.1).
PRECONDITION_FIELDS = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")


def write_conflict_problem(
    *, preconditioned: bool, instance: str | None, type_base: str | None = None
) -> dict[str, Any]:
    """The problem body for a serialization failure or deadlock that rolled the request's
    transaction back (``ifmatch.stores.is_write_conflict``), e.g. at the caller's ``commit()``.

    Nothing was written, exactly as when a guarded write loses a race: 412 when the request
    carried a precondition, 409 Conflict when it carried none (a 412 would name a precondition
    the request did not send). Never 500: the client re-reads and retries.

    Args:
        preconditioned: whether the request carried any precondition header.
        instance: the request path, for the problem's ``instance``.
        type_base: a URI prefix for the problem ``type``.
    """
    return problem(
        412 if preconditioned else 409,
        "A concurrent write to the same resource won; re-read it and retry.",
        code="write-conflict",
        type_base=type_base,
        instance=instance,
    )


def unavailable_problem(
    *, unsafe: bool, instance: str | None, type_base: str | None = None
) -> dict[str, Any]:
    """The problem body for a database that could not be reached or a connection lost mid-request
    (``ifmatch.stores.is_unavailable``): 503, sent with ``Retry-After``.

    It says nothing about the resource. For an unsafe method the outcome is unknown (the COMMIT
    may have happened before the connection broke): the body says so, so the client re-reads
    instead of assuming either outcome.

    Args:
        unsafe: whether the request's method may have written (not GET, HEAD, OPTIONS, TRACE).
        instance: the request path, for the problem's ``instance``.
        type_base: a URI prefix for the problem ``type``.
    """
    return problem(
        503,
        _UNSAFE_DETAIL if unsafe else _SAFE_DETAIL,
        code="unavailable",
        type_base=type_base,
        instance=instance,
    )
