"""Reads from a replica, guarded writes on the primary, and read-your-writes from the tag.

A streaming replica (PostgreSQL ``pg_basebackup``/hot standby, a MariaDB replica, a Redis
replica) takes reads off the primary, but it lags: a client that has just written version 5
may read version 4 from it. Two rules keep ifmatch's promises on such a deployment:

1. **The guarded write always runs on the primary.** :class:`ReplicaReads` sends every
   compare-and-set, delete, batch and idempotency record to the primary store, whatever serves
   the reads; a lost race is reported with the primary's current version, never a replica's.
2. **Read-your-writes from the tag (opt-in).** A request's ``If-None-Match`` or ``If-Match``
   tells which version the client has already seen. When it names a version newer than the
   replica holds (or a resource the replica does not have yet), the read goes to the primary,
   so a client never sees its own write undone, nor a ``200`` older than what it has. The
   integrations' middleware (``ifmatch.integrations.replicas``) records the versions a request
   names; :func:`seen_versions` reads them.

::

    primary = SQLAlchemyStore(Document, sessionmaker(primary_engine))
    replica = SQLAlchemyStore(Document, sessionmaker(replica_engine))
    store = ReplicaReads(primary, replica, read_your_writes=True)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..core.errors import InvalidPreconditionHeader
from ..core.etag import ETag, parse_etag_list
from ..core.tags import PROXY_SUFFIXES, version_number
from .base import BulkItem, CASResult, Expectation, Snapshot

__all__ = [
    "AsyncReplicaReads",
    "ReadCounts",
    "ReplicaReads",
    "needs_primary",
    "seen_version",
    "seen_versions",
    "versions_named",
]

K = TypeVar("K")

#: The highest version the current request's If-None-Match / If-Match names, if any.
_SEEN: ContextVar[int | None] = ContextVar("ifmatch_seen_version", default=None)


def versions_named(fields: Iterable[str]) -> int | None:
    """The highest version number named by the entity-tags of ``If-None-Match`` / ``If-Match``
    field values (``"v5"``, ``W/"v5"``, variant tags alike), or ``None``.

    A malformed field names nothing here: the integrations answer it with 400 on their own.
    """
    highest: int | None = None
    for value in fields:
        try:
            tags = parse_etag_list(value, header="If-Match")
        except InvalidPreconditionHeader:
            continue
        for tag in tags if isinstance(tags, tuple) else ():
            number = _number(tag)
            if number is not None and (highest is None or number > highest):
                highest = number
    return highest


def _number(tag: ETag) -> int | None:
    """The version a tag names whatever its variant or a proxy's suffix (``"v5~1a2b3c4d"``,
    ``"v5-gzip"``): only the number matters for freshness."""
    opaque = tag.opaque
    for suffix in PROXY_SUFFIXES:
        if opaque.endswith(suffix):
            opaque = opaque[: -len(suffix)]
    return version_number(ETag(opaque.partition("~")[0]))


def seen_version() -> int | None:
    """The highest version the current request names (set by the integrations' middleware)."""
    return _SEEN.get()


@contextlib.contextmanager
def seen_versions(fields: Iterable[str]) -> Iterator[int | None]:
    """Record, for the duration of the block, the versions the request's precondition fields
    name (see :func:`versions_named`)."""
    token = _SEEN.set(versions_named(fields))
    try:
        yield _SEEN.get()
    finally:
        _SEEN.reset(token)


def needs_primary(found_version: int | None, seen: int | None) -> bool:
    """Whether a read answered ``found_version`` (``None``: no such resource) must be read
    again on the primary because the request has seen ``seen``, which is newer."""
    if seen is None:
        return False
    return found_version is None or found_version < seen


@dataclass
class ReadCounts:
    """How many reads each side served (for measuring what read-your-writes costs)."""

    replica: int = 0
    primary: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, primary: bool) -> None:
        with self._lock:
            if primary:
                self.primary += 1
            else:
                self.replica += 1

    @property
    def replica_share(self) -> float:
        total = self.replica + self.primary
        return self.replica / total if total else 0.0


def _version_of(found: Any) -> int | None:
    if found is None:
        return None
    snapshot = found if isinstance(found, Snapshot) else found[0]
    return int(snapshot.version)


class ReplicaReads(Generic[K]):
    """A store whose reads come from ``replica`` and whose writes go to ``primary``.

    Args:
        primary: the store on the primary: every write, idempotency record and anything else.
        replica: a store of the same model on a replica: ``read`` and ``get``.
        read_your_writes: read on the primary when the request names a version newer than
            the replica's (see :func:`seen_version`).
    """

    def __init__(self, primary: Any, replica: Any, *, read_your_writes: bool = False) -> None:
        self.primary = primary
        self.replica = replica
        self.read_your_writes = read_your_writes
        self.counts = ReadCounts()

    def _fresh_enough(self, found: Any) -> bool:
        seen = seen_version() if self.read_your_writes else None
        return not needs_primary(_version_of(found), seen)

    def read(self, key: K) -> Snapshot | None:
        """The validators of ``key`` from the replica (or the primary, see the class doc)."""
        found = self.replica.read(key)
        if self._fresh_enough(found):
            self.counts.add(primary=False)
            return found  # type: ignore[no-any-return]
        self.counts.add(primary=True)
        return self.primary.read(key)  # type: ignore[no-any-return]

    def get(self, key: K) -> Any:
        """The validators and values of ``key``, read together, as :meth:`read` chooses."""
        found = self.replica.get(key)
        if self._fresh_enough(found):
            self.counts.add(primary=False)
            return found
        self.counts.add(primary=True)
        return self.primary.get(key)

    def compare_and_set(
        self, key: K, expect: Expectation, values: Mapping[str, Any], **kwargs: Any
    ) -> CASResult:
        """The guarded write, on the primary."""
        return self.primary.compare_and_set(key, expect, values, **kwargs)  # type: ignore[no-any-return]

    def compare_and_delete(self, key: K, expect: Expectation, **kwargs: Any) -> CASResult:
        """The guarded delete, on the primary."""
        return self.primary.compare_and_delete(key, expect, **kwargs)  # type: ignore[no-any-return]

    def compare_and_set_many(
        self, items: Iterable[BulkItem[K]], *, all_or_nothing: bool = False
    ) -> list[CASResult]:
        """The guarded batch, on the primary."""
        return self.primary.compare_and_set_many(items, all_or_nothing=all_or_nothing)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        # claim, lookup, release, snapshot, read_collection...: the primary's.
        return getattr(self.primary, name)


class AsyncReplicaReads(Generic[K]):
    """:class:`ReplicaReads` over asyncio stores (``AsyncSQLAlchemyStore``,
    ``AsyncRedisStore``)."""

    def __init__(self, primary: Any, replica: Any, *, read_your_writes: bool = False) -> None:
        self.primary = primary
        self.replica = replica
        self.read_your_writes = read_your_writes
        self.counts = ReadCounts()

    def _fresh_enough(self, found: Any) -> bool:
        seen = seen_version() if self.read_your_writes else None
        return not needs_primary(_version_of(found), seen)

    async def read(self, key: K) -> Snapshot | None:
        """The validators of ``key`` (see :meth:`ReplicaReads.read`)."""
        found = await self.replica.read(key)
        if self._fresh_enough(found):
            self.counts.add(primary=False)
            return found  # type: ignore[no-any-return]
        self.counts.add(primary=True)
        return await self.primary.read(key)  # type: ignore[no-any-return]

    async def get(self, key: K) -> Any:
        """The validators and values of ``key`` (see :meth:`ReplicaReads.get`)."""
        found = await self.replica.get(key)
        if self._fresh_enough(found):
            self.counts.add(primary=False)
            return found
        self.counts.add(primary=True)
        return await self.primary.get(key)

    async def compare_and_set(
        self, key: K, expect: Expectation, values: Mapping[str, Any], **kwargs: Any
    ) -> CASResult:
        """The guarded write, on the primary."""
        return await self.primary.compare_and_set(key, expect, values, **kwargs)  # type: ignore[no-any-return]

    async def compare_and_delete(self, key: K, expect: Expectation, **kwargs: Any) -> CASResult:
        """The guarded delete, on the primary."""
        return await self.primary.compare_and_delete(key, expect, **kwargs)  # type: ignore[no-any-return]

    async def compare_and_set_many(
        self, items: Iterable[BulkItem[K]], *, all_or_nothing: bool = False
    ) -> list[CASResult]:
        """The guarded batch, on the primary."""
        return await self.primary.compare_and_set_many(items, all_or_nothing=all_or_nothing)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.primary, name)
