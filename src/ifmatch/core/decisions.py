"""What the core decides for one request: small frozen values, never bare booleans.

``evaluate`` returns exactly one of::

    Proceed               perform the method; ``condition`` is what the atomic write must enforce
    NotModified           304, with the validators a 304 must carry
    PreconditionFailed    412
    PreconditionRequired  428
    BadPrecondition       400, a malformed precondition header
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from .dates import format_http_date
from .etag import ETag, ETagList

__all__ = [
    "BadPrecondition",
    "Decision",
    "NotModified",
    "PreconditionFailed",
    "PreconditionRequired",
    "Proceed",
    "WriteCondition",
]


@dataclass(frozen=True, slots=True)
class WriteCondition:
    """The part of the request's preconditions that the write itself must enforce atomically.

    The core checks the preconditions against the state the adapter read; between that read
    and the write another writer may win, so a store re-checks this condition in the same
    statement as the write (``UPDATE … WHERE version IN (…)``).

    Attributes:
        if_match: ``ANY`` (the resource must exist), the tags whose versions the stored version
            must be one of (already reduced to the tags that can match: weak tags never do,
            unless the weak-echo policy made them strong), or ``None`` for no constraint.
        if_none_match: ``ANY`` (the resource must not exist: create-only), tags the stored
            version must not be, or ``None``.
        if_unmodified_since: the stored Last-Modified must be at or before this instant.
    """

    if_match: ETagList | None = None
    if_none_match: ETagList | None = None
    if_unmodified_since: datetime | None = None

    @property
    def is_unconditional(self) -> bool:
        """True when the write need not check anything."""
        return (
            self.if_match is None
            and self.if_none_match is None
            and self.if_unmodified_since is None
        )


UNCONDITIONAL = WriteCondition()


@dataclass(frozen=True, slots=True)
class Proceed:
    """Perform the method, enforcing ``condition`` in the write.

    ``warnings`` holds codes the adapter should log, e.g. ``"precondition-required"`` in
    warn-only mode.
    """

    condition: WriteCondition = UNCONDITIONAL
    warnings: tuple[str, ...] = ()
    status: ClassVar[None] = None


@dataclass(frozen=True, slots=True)
class NotModified:
    """304 Not Modified, carrying the current validators."""

    etag: ETag | None
    last_modified: datetime | None
    status: ClassVar[int] = 304

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Validator headers for the 304 (RFC 9110 §15.4.5). Adapters add Date,
        Cache-Control, Vary, Expires and Content-Location when a 200 would carry them."""
        headers: list[tuple[str, str]] = []
        if self.etag is not None:
            headers.append(("ETag", str(self.etag)))
        if self.last_modified is not None:
            headers.append(("Last-Modified", format_http_date(self.last_modified)))
        return tuple(headers)


@dataclass(frozen=True, slots=True)
class PreconditionFailed:
    """412 Precondition Failed.

    Attributes:
        header: the header whose condition was false.
        code: a short machine-readable reason: ``etag-mismatch``, ``weak-etag``,
            ``altered-etag``, ``not-found``, ``exists``, ``etag-matches``, ``modified``.
        detail: a sentence for people.
        current_etag: the resource's current tag, for the client to re-read and retry.
    """

    header: str
    code: str
    detail: str
    current_etag: ETag | None = None
    status: ClassVar[int] = 412


@dataclass(frozen=True, slots=True)
class PreconditionRequired:
    """428 Precondition Required (RFC 6585 §3)."""

    method: str
    detail: str
    current_etag: ETag | None = None
    status: ClassVar[int] = 428


@dataclass(frozen=True, slots=True)
class BadPrecondition:
    """400 Bad Request: a precondition header could not be parsed."""

    header: str
    detail: str
    status: ClassVar[int] = 400


Decision = Proceed | NotModified | PreconditionFailed | PreconditionRequired | BadPrecondition


# Hot-path constructors for ``evaluate``. A frozen dataclass's ``__init__`` sets each field
# through ``object.__setattr__``; writing the slots through their descriptors builds the same
# value in about half the time. The public constructors stay the documented way to build them.
_new = object.__new__
_set_if_match = WriteCondition.__dict__["if_match"].__set__
_set_if_none_match = WriteCondition.__dict__["if_none_match"].__set__
_set_if_unmodified_since = WriteCondition.__dict__["if_unmodified_since"].__set__
_set_condition = Proceed.__dict__["condition"].__set__
_set_warnings = Proceed.__dict__["warnings"].__set__


def proceed_with(
    if_match: ETagList | None,
    if_none_match: ETagList | None,
    if_unmodified_since: datetime | None,
    warnings: tuple[str, ...],
) -> Proceed:
    """``Proceed(WriteCondition(if_match, if_none_match, if_unmodified_since), warnings)``."""
    condition = _new(WriteCondition)
    _set_if_match(condition, if_match)
    _set_if_none_match(condition, if_none_match)
    _set_if_unmodified_since(condition, if_unmodified_since)
    decision = _new(Proceed)
    _set_condition(decision, condition)
    _set_warnings(decision, warnings)
    return decision


_set_nm_etag = NotModified.__dict__["etag"].__set__
_set_nm_last_modified = NotModified.__dict__["last_modified"].__set__


def not_modified(etag: ETag | None, last_modified: datetime | None) -> NotModified:
    """``NotModified(etag, last_modified)``."""
    decision = _new(NotModified)
    _set_nm_etag(decision, etag)
    _set_nm_last_modified(decision, last_modified)
    return decision
