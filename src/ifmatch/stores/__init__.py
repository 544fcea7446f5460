"""Atomic compare-and-set stores: the precondition and the write in one step.

Backends are imported by module path so that importing this package loads no driver:
``ifmatch.stores.memory``, ``ifmatch.stores.django``, ``ifmatch.stores.sqlalchemy``,
``ifmatch.stores.redis``.
"""

from .base import (
    AsyncVersionStore,
    CASResult,
    Expectation,
    Outcome,
    Snapshot,
    VersionStore,
    next_last_modified,
)

__all__ = [
    "AsyncVersionStore",
    "CASResult",
    "Expectation",
    "Outcome",
    "Snapshot",
    "VersionStore",
    "next_last_modified",
]
