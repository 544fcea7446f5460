"""Errors the client raises::

    ClientError                   base class (an ``IfMatchError``)
    ├── ConflictError             the server refused a write because of the resource's state
    │   ├── PreconditionFailed    412: the representation changed since it was read
    │   ├── PreconditionRequired  428: the server wants a conditional write
    │   └── VersionConflict       409: a version carried in the body is stale
    ├── MergeConflict             a three-way merge found changes on both sides of one path
    ├── NoValidator               no ETag or Last-Modified to make a write conditional with
    ├── OutcomeUnknown            a write's reply was lost, and the server could not tell
    │                             whether it applied (it does not honour Idempotency-Key)
    └── UnexpectedStatus          a read or write answered with another error status

A conflict error carries what the server said: the RFC 9457 problem body, the current
entity-tag (``current_etag`` in the problem body, else the ``ETag`` header) and, when the server
sent one in a form that can be trusted (:func:`current_representation`), the current
representation, so that the caller can merge and retry without a re-read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.errors import IfMatchError, PreconditionFailedError, VersionConflictError
from ..core.etag import ETag, parse_etag
from ..core.problems import PROBLEM_MEDIA_TYPE
from .messages import Headers, Response, find_header

if TYPE_CHECKING:
    from .documents import Document

__all__ = [
    "ClientError",
    "ConflictError",
    "MergeConflict",
    "NoValidator",
    "OutcomeUnknown",
    "PreconditionFailed",
    "PreconditionRequired",
    "UnexpectedStatus",
    "VersionConflict",
    "CurrentRepresentation",
    "conflict_from_response",
    "current_representation",
    "raise_for_conflict",
]

#: Statuses that mean "the resource's state refused this write".
CONFLICT_STATUSES = frozenset({409, 412, 428})


class ClientError(IfMatchError):
    """Base class of the errors raised by ``ifmatch.client``."""


class ConflictError(ClientError):
    """The server refused a write because of the resource's current state.

    Attributes:
        status: the status code (409, 412 or 428).
        method: the request method.
        url: the request URL.
        problem: the RFC 9457 problem body, when the server sent one.
        current_etag: the resource's current entity-tag, when the server said it.
        current: the resource's current representation, when the response carried one that
            can be the base of a retry (see :func:`current_representation`), else ``None``.
        headers: the response's header lines.
        attempts: how many writes were tried before giving up (``update`` / ``save``).
    """

    status: int = 0

    def __init__(
        self,
        detail: str,
        *,
        method: str = "",
        url: str = "",
        problem: dict[str, Any] | None = None,
        current_etag: ETag | None = None,
        current: Any = None,
        headers: Headers = (),
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.method = method
        self.url = url
        self.problem = problem
        self.current_etag = current_etag
        self.current = current
        self.headers = headers
        self.attempts = 1


class PreconditionFailed(ConflictError, PreconditionFailedError):
    """412 Precondition Failed: someone changed the resource since you read it.

    Re-read it, re-apply or merge your change, and retry; ``Client.update`` and
    ``Client.save(..., on_conflict="merge")`` do that for you.
    """

    status = 412


class PreconditionRequired(ConflictError):
    """428 Precondition Required (RFC 6585 §3): the write carried no validator.

    Read the resource first so the client learns its entity-tag, then write again.
    """

    status = 428


class VersionConflict(ConflictError, VersionConflictError):
    """409 Conflict: the version carried in the request body is not the stored one."""

    status = 409


_ERROR_TYPES: dict[int, type[ConflictError]] = {
    409: VersionConflict,
    412: PreconditionFailed,
    428: PreconditionRequired,
}


class MergeConflict(ClientError):
    """A three-way merge found different changes to the same place on both sides.

    Attributes:
        paths: where: RFC 6901 JSON Pointers (``"/title"``, ``"/tags/2"``; ``""`` is the whole
            document) for JSON merges, ``"lines a-b"`` ranges of the base for text merges.
        base, mine, theirs: the three inputs.
        hunks: for text merges, the conflicting regions (``ifmatch.client.merge.Conflict``).
        current: set by ``Client.save``: the server's current document (``theirs``), whose
            entity-tag a resolved write must carry.
    """

    def __init__(
        self,
        paths: Sequence[str],
        *,
        base: Any = None,
        mine: Any = None,
        theirs: Any = None,
        hunks: Sequence[Any] = (),
    ) -> None:
        shown = ", ".join(repr(path) for path in paths[:10])
        more = f" and {len(paths) - 10} more" if len(paths) > 10 else ""
        super().__init__(f"both sides changed {shown}{more}")
        self.paths = tuple(paths)
        self.base = base
        self.mine = mine
        self.theirs = theirs
        self.hunks = tuple(hunks)
        self.current: Document | None = None


class NoValidator(ClientError):
    """The server sent no strong ETag and no Last-Modified, so a write cannot be made
    conditional. Pass ``require_validator=False`` for servers that check a version carried in
    the body (409) instead."""


class OutcomeUnknown(ClientError):
    """A write's reply was lost (a reset connection, a timeout, a 502/503/504), and sending it
    again with its ``Idempotency-Key`` did not settle whether it applied: the server does not
    honour the key, or kept failing. The write may or may not have been applied; the client did
    not apply it a second time.

    Attributes:
        method, url: the write.
        key: its ``Idempotency-Key``.
        reason: what was seen last.
    """

    def __init__(self, *, method: str, url: str, key: str | None, reason: str) -> None:
        super().__init__(
            f"{method} {url}: the outcome is unknown ({reason}); read the resource to see "
            "whether the write applied"
        )
        self.method, self.url, self.key, self.reason = method, url, key, reason


class UnexpectedStatus(ClientError):
    """A read or write answered with an error status that is not a conflict.

    Attributes:
        status, method, url: what was asked and answered.
        problem: the RFC 9457 problem body, when the server sent one.
    """

    def __init__(
        self, status: int, *, method: str, url: str, problem: dict[str, Any] | None = None
    ) -> None:
        detail = f" ({problem['detail']})" if problem and "detail" in problem else ""
        super().__init__(f"{method} {url} answered {status}{detail}")
        self.status = status
        self.method = method
        self.url = url
        self.problem = problem


def problem_body(response: Response) -> dict[str, Any] | None:
    """The RFC 9457 problem object of ``response``, or ``None``."""
    media_type = (response.header("content-type") or "").partition(";")[0].strip().lower()
    body = response.json
    if media_type == PROBLEM_MEDIA_TYPE and isinstance(body, dict):
        return body
    return None


def _tag(value: Any) -> ETag | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_etag(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class CurrentRepresentation:
    """The resource's current representation, as a refused write's response carried it.

    Attributes:
        data: the representation (a JSON object).
        etag: its strong entity-tag: a write based on ``data`` carries ``If-Match: <etag>``.
    """

    data: dict[str, Any]
    etag: ETag


def current_representation(response: Response) -> CurrentRepresentation | None:
    """The current representation a 409 / 412 / 428 response carries, if it may be the base of
    a retry; ``None`` means "re-read the resource".

    This is the one rule for what a refused write's body may be taken for. An error body is
    the server talking about the error, not the resource: taking it for the document would
    re-apply the change to the error (``{"errors": [...]}``, an HTML page) and write that back
    with a valid ``If-Match``, erasing the document. So a body is the representation only when
    the server said so in a form that cannot be mistaken, the one ifmatch servers send (DRF
    ``INCLUDE_CURRENT_REPRESENTATION``):

    * an RFC 9457 problem document (``Content-Type: application/problem+json``, a JSON object)
      whose ``status`` member, if any, is the response's status;
    * with a ``current`` member that is a JSON object (the representation);
    * and a ``current_etag`` member that is a strong entity-tag (the representation's tag;
      a weak one cannot go in ``If-Match``, RFC 9110 §13.1.1);
    * and an ``ETag`` header, if any, naming that same tag (strong comparison): when the two
      disagree nobody can say which one ``current`` has.

    Anything else is not: JSON:API error documents (``application/vnd.api+json``, also with
    a ``meta.current``), HTML or text pages, empty bodies, plain JSON error objects
    (``{"detail": ...}``, ``{"error": ...}``), problems without ``current``, and JSON bodies
    that merely look like the resource.
    """
    if response.status not in CONFLICT_STATUSES:
        return None
    problem = problem_body(response)
    if problem is None:
        return None
    status = problem.get("status", response.status)
    if isinstance(status, bool) or status != response.status:
        return None
    data = problem.get("current")
    etag = _tag(problem.get("current_etag"))
    if not isinstance(data, dict) or etag is None or etag.weak:
        return None
    header = find_header(response.headers, "etag")
    if header is not None and _tag(header) != etag:
        return None
    return CurrentRepresentation(data, etag)


def conflict_from_response(response: Response, *, method: str, url: str) -> ConflictError:
    """Build the typed error for a 409, 412 or 428 response.

    ``current`` is set only from :func:`current_representation`; ``current_etag`` is the
    problem's ``current_etag``, else the ``ETag`` header (for information: a retry must re-read
    unless ``current`` is set).

    Raises:
        ValueError: ``response`` is not one of those statuses.
    """
    error_type = _ERROR_TYPES.get(response.status)
    if error_type is None:
        raise ValueError(f"status {response.status} is not a conflict")
    problem = problem_body(response)
    found = current_representation(response)
    current_etag: ETag | None = None
    if found is not None:
        current_etag = found.etag
    elif problem is not None:
        current_etag = _tag(problem.get("current_etag"))
    if current_etag is None:
        current_etag = _tag(find_header(response.headers, "etag"))
    if problem is not None:
        detail = str(problem.get("detail") or problem.get("title") or error_type.__name__)
    else:
        detail = f"{method} {url} answered {response.status}"
    return error_type(
        detail,
        method=method,
        url=url,
        problem=problem,
        current_etag=current_etag,
        current=None if found is None else found.data,
        headers=response.headers,
    )


def raise_for_conflict(response: Response, *, method: str, url: str) -> None:
    """Raise the typed error if ``response`` is a 409, 412 or 428; do nothing otherwise."""
    if response.status in _ERROR_TYPES:
        raise conflict_from_response(response, method=method, url=url)
