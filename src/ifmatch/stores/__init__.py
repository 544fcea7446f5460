"""Atomic compare-and-set stores: the precondition and the write in one step.

Backends are imported by module path so that importing this package loads no driver:
``ifmatch.stores.memory``, ``ifmatch.stores.django``, ``ifmatch.stores.sqlalchemy``,
``ifmatch.stores.redis``.
"""

from .base import (
    AsyncBulkVersionStore,
    AsyncVersionStore,
    BulkItem,
    BulkVersionStore,
    CASResult,
    Expectation,
    Outcome,
    Snapshot,
    VersionStore,
    last_modified_for,
    next_last_modified,
    unmodified_since_limit,
)
from .errors import (
    ConfigurationError,
    ReplicationUnconfirmed,
    StoreError,
    StoreUnavailable,
    is_unavailable,
    is_write_conflict,
)

__all__ = [
    "AsyncBulkVersionStore",
    "AsyncVersionStore",
    "BulkItem",
    "BulkVersionStore",
    "CASResult",
    "ConfigurationError",
    "Expectation",
    "Outcome",
    "ReplicationUnconfirmed",
    "Snapshot",
    "StoreError",
    "StoreUnavailable",
    "VersionStore",
    "is_unavailable",
    "is_write_conflict",
    "last_modified_for",
    "next_last_modified",
    "unmodified_since_limit",
]
