"""Errors raised by ifmatch.

Each error carries the HTTP status an adapter should answer with (``status_hint``), in the spirit
of h11's ``error_status_hint``::

    IfMatchError                      base class, status_hint 500
    ├── InvalidPreconditionHeader     a malformed precondition header: 400
    ├── PreconditionFailedError       the atomic write lost (stale If-Match): 412
    ├── VersionConflictError          a body-carried version did not match: 409
    ├── ConfigurationError            a setup that cannot be made safe: raised at start-up
    └── StoreError                    ifmatch.stores: a store failed at run time
        └── StoreUnavailable          the database went away mid-write: 503
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "IfMatchError",
    "InvalidPreconditionHeader",
    "PreconditionFailedError",
    "VersionConflictError",
]


class IfMatchError(Exception):
    """Base class of every error ifmatch raises."""

    status_hint: int = 500


class InvalidPreconditionHeader(IfMatchError, ValueError):
    """A precondition header could not be parsed.

    Attributes:
        header: the header's canonical name, e.g. ``"If-Match"``.
        reason: a sentence saying what was wrong, safe to show to the client.
    """

    status_hint = 400

    def __init__(self, header: str, reason: str) -> None:
        super().__init__(f"{header}: {reason}")
        self.header = header
        self.reason = reason


class PreconditionFailedError(IfMatchError):
    """A conditional write was refused because the stored version no longer matches."""

    status_hint = 412


class VersionConflictError(IfMatchError):
    """A version number carried in the request body does not match the stored version."""

    status_hint = 409


class ConfigurationError(IfMatchError):
    """ifmatch was configured in a way that cannot guarantee safe writes."""
