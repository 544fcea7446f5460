"""A thread-safe in-memory store, for tests, examples and single-process prototypes.

Atomicity comes from one lock around each check-and-write. It is correct within one process
only: use a database store as soon as more than one process serves the API.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from .base import BulkItem, CASResult, Expectation, Outcome, Snapshot, next_last_modified

__all__ = ["MemoryStore"]


class MemoryStore:
    """Records (a dict of values plus a version and Last-Modified) keyed by any hashable.

    >>> store = MemoryStore()
    >>> store.compare_and_set("doc", Expectation(exists=False), {"text": "hi"}).snapshot.version
    1
    """

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self._lock = threading.Lock()
        self._records: dict[Hashable, tuple[Snapshot, dict[str, Any]]] = {}
        self._clock = clock or (lambda: datetime.now(UTC))

    def read(self, key: Hashable) -> Snapshot | None:
        with self._lock:
            record = self._records.get(key)
            return None if record is None else record[0]

    def get(self, key: Hashable) -> tuple[Snapshot, dict[str, Any]] | None:
        """The validators and a copy of the values of ``key``, read together."""
        with self._lock:
            record = self._records.get(key)
            return None if record is None else (record[0], dict(record[1]))

    def compare_and_set(
        self, key: Hashable, expect: Expectation, values: Mapping[str, Any]
    ) -> CASResult:
        _check_values(values)
        with self._lock:
            return self._compare_and_set(key, expect, values)

    def compare_and_set_many(
        self,
        items: Iterable[BulkItem[Hashable]],
        *,
        all_or_nothing: bool = False,
    ) -> list[CASResult]:
        """Apply several compare-and-sets under one lock (see ``BulkVersionStore``)."""
        batch = list(items)
        for _, _, values in batch:
            _check_values(values)
        with self._lock:
            saved = dict(self._records)
            results = [self._compare_and_set(key, expect, values) for key, expect, values in batch]
            if not all_or_nothing or all(result.won for result in results):
                return results
            self._records = saved
            return [
                CASResult(Outcome.ABORTED if result.won else result.outcome, self._current(key))
                for (key, _, _), result in zip(batch, results, strict=True)
            ]

    def _current(self, key: Hashable) -> Snapshot | None:
        record = self._records.get(key)
        return None if record is None else record[0]

    def _compare_and_set(
        self, key: Hashable, expect: Expectation, values: Mapping[str, Any]
    ) -> CASResult:
        record = self._records.get(key)
        current = None if record is None else record[0]
        expect = expect.bounded()  # no upper bound, but only ints name versions
        if not expect.allows(current):
            outcome = Outcome.NOT_FOUND if current is None else Outcome.LOST
            return CASResult(outcome, current)
        if current is None:
            snapshot = Snapshot(1, next_last_modified(self._clock(), None))
            self._records[key] = (snapshot, dict(values))
        else:
            snapshot = Snapshot(
                current.version + 1, next_last_modified(self._clock(), current.last_modified)
            )
            self._records[key] = (snapshot, {**record[1], **values})  # type: ignore[index]
        return CASResult(Outcome.WON, snapshot)

    def compare_and_delete(self, key: Hashable, expect: Expectation) -> CASResult:
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return CASResult(Outcome.NOT_FOUND)
            if not expect.bounded().allows(record[0]):
                return CASResult(Outcome.LOST, record[0])
            del self._records[key]
            return CASResult(Outcome.WON, record[0])


def _check_values(values: Mapping[str, Any]) -> None:
    # The same rule as the database stores, whose records hold these next to the values.
    for name in ("version", "last_modified"):
        if name in values:
            raise ValueError(f"{name!r} is managed by the store and cannot be set")
