"""Errors raised by stores.

A store never answers a conflict with an exception: a write whose precondition is false (or
that lost a serialization race) is reported as ``Outcome.LOST``. Exceptions mean something
else went wrong, and say whether the write may have been applied.
"""

from __future__ import annotations

from ..core.errors import ConfigurationError, IfMatchError

__all__ = ["ConfigurationError", "StoreError", "StoreUnavailable"]

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
