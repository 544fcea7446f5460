"""A thread-safe in-memory store, for tests, examples and single-process prototypes.

Atomicity comes from one lock around each check-and-write. It is correct within one process
only: use a database store as soon as more than one process serves the API.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..core.idempotency import DEFAULT_IN_FLIGHT, DEFAULT_RETENTION, IdempotencyRecord
from .base import BulkItem, CASResult, Expectation, Outcome, Snapshot, next_last_modified
from .idempotency import Claim, ClaimStep, Completion, claim_flow

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
        self._ledger: dict[str, IdempotencyRecord] = {}
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- idempotency records (see ifmatch.stores.idempotency) ------------------------------

    def claim(
        self,
        id: str,
        fingerprint: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        in_flight: timedelta = DEFAULT_IN_FLIGHT,
    ) -> Claim:
        """Claim record ``id`` for this attempt, or say why not (replay, mismatch, in flight)."""
        flow = claim_flow(
            id, fingerprint, retention=retention, in_flight=in_flight, now=self._clock()
        )
        with self._lock:
            answer: object = None
            try:
                while True:
                    answer = self._ledger_step(flow.send(answer))
            except StopIteration as done:
                claim: Claim = done.value
                return claim

    def _ledger_step(self, step: ClaimStep) -> object:
        found = self._ledger.get(step.record.id)
        if step.op == "read":
            return found
        if step.op == "insert" and found is not None:
            return False
        if step.op == "replace" and not step.replaces(found):
            return False
        self._ledger[step.record.id] = step.record
        return True

    def lookup(self, id: str) -> IdempotencyRecord | None:
        """The record ``id``, or ``None``."""
        with self._lock:
            return self._ledger.get(id)

    def release(self, id: str, attempt: str) -> None:
        """Forget ``attempt``'s pending claim of ``id`` (its write did not happen)."""
        with self._lock:
            found = self._ledger.get(id)
            if found is not None and found.attempt == attempt and not found.done:
                del self._ledger[id]

    def _holds(self, completion: Completion | None) -> bool:
        if completion is None:
            return True
        found = self._ledger.get(completion.id)
        return found is not None and found.attempt == completion.attempt and not found.done

    def _complete(self, completion: Completion | None, snapshot: Snapshot | None) -> None:
        if completion is None:
            return
        self._ledger[completion.id] = replace(
            self._ledger[completion.id],
            done=True,
            status=completion.status,
            version=None if snapshot is None else snapshot.version,
            location=completion.location,
        )

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
        self,
        key: Hashable,
        expect: Expectation,
        values: Mapping[str, Any],
        *,
        completion: Completion | None = None,
    ) -> CASResult:
        _check_values(values)
        with self._lock:
            if not self._holds(completion):
                return CASResult(Outcome.LOST, self._current(key))
            result = self._compare_and_set(key, expect, values)
            if result.won:
                self._complete(completion, result.snapshot)
            return result

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

    def compare_and_delete(
        self, key: Hashable, expect: Expectation, *, completion: Completion | None = None
    ) -> CASResult:
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return CASResult(Outcome.NOT_FOUND)
            if not expect.bounded().allows(record[0]) or not self._holds(completion):
                return CASResult(Outcome.LOST, record[0])
            del self._records[key]
            self._complete(completion, None)
            return CASResult(Outcome.WON, record[0])


def _check_values(values: Mapping[str, Any]) -> None:
    # The same rule as the database stores, whose records hold these next to the values.
    for name in ("version", "last_modified"):
        if name in values:
            raise ValueError(f"{name!r} is managed by the store and cannot be set")
