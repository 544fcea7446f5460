"""Errors raised by stores.

A store never answers a conflict with an exception: a write whose precondition is false (or
that lost a serialization race) is reported as ``Outcome.LOST``. Exceptions mean something
else went wrong, and say whether the write may have been applied.
"""

from __future__ import annotations

import sys

from ..core.errors import ConfigurationError, IfMatchError
from ._unavailable import is_unavailable

__all__ = [
    "ConfigurationError",
    "ReplicationUnconfirmed",
    "StoreError",
    "StoreUnavailable",
    "is_unavailable",
    "is_write_conflict",
]

# ConfigurationError (from ifmatch.core) is what every store raises, when it is built or (when
# the database is not known until then) on its first use, instead of ever falling back to an
# unguarded write: a model without an integer version column, a composite key, a driver without
# reliable row counts, a dialect without a clock rule for Last-Modified.


class StoreError(IfMatchError):
    """Base class of the errors stores raise at run time."""


class StoreUnavailable(StoreError):
    """The store could not be reached, or the connection was lost during the write.

    If the connection was lost before the commit was acknowledged, the write may or may not have
    been applied; the caller must not report success. Suggested HTTP status: 503.
    """

    status_hint = 503


class ReplicationUnconfirmed(StoreUnavailable):
    """The write was applied on the primary, but fewer replicas than required acknowledged it
    in time (Redis ``WAIT``): if the primary fails now, a promoted replica may not have it.

    The outcome is unknown, so the write is not reported as a success: integrations answer 503,
    and a retry carrying the same ``Idempotency-Key`` gets the original answer if the write
    survived, or performs it again if it did not. Suggested HTTP status: 503.

    Attributes:
        acknowledged: how many replicas acknowledged the write in time.
        required: how many the store was told to wait for.
    """

    def __init__(self, message: str, *, acknowledged: int, required: int) -> None:
        super().__init__(message)
        self.acknowledged = acknowledged
        self.required = required


def is_write_conflict(error: BaseException) -> bool:
    """Whether ``error`` is a serialization failure or deadlock from a database layer.

    Stores report those as ``LOST`` when they happen inside a store call. They can also be
    raised by the caller's own ``commit()`` (PostgreSQL SERIALIZABLE checks some conflicts only
    at commit; Flask-SQLAlchemy's ``db.session``, Django's ``ATOMIC_REQUESTS``): the database
    rolled the transaction back, nothing was written, and the request is answered like a lost
    write (412, or 409 without a precondition), never 500. The integrations use this one test.

    Recognises SQLAlchemy's ``DBAPIError`` (``ifmatch.stores.sqlalchemy.is_retryable_conflict``)
    and Django's ``DatabaseError`` (``ifmatch.stores.django.is_transient``). Only a layer that is
    already imported is consulted (an exception of its classes cannot exist otherwise), so this
    never imports a database layer.
    """
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is not None and isinstance(error, sqlalchemy_exc.DBAPIError):
        from ._sql import is_retryable_conflict

        return is_retryable_conflict(error)
    django_db = sys.modules.get("django.db")
    if django_db is not None and isinstance(error, django_db.DatabaseError):
        from ._django_sql import is_transient

        return is_transient(error)
    return False
