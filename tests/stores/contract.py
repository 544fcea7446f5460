"""The contract every compare-and-set store passes, whatever its backend.

Plug a backend in by subclassing :class:`ContractSuite` in a ``test_<backend>.py`` file and
providing a ``backend`` fixture that returns a :class:`Backend`. The store must keep records
with two text fields, ``body`` and ``note``, under string keys. Asynchronous stores are wrapped
with :class:`SyncFacade`.

``Expectation.allows`` is the reference semantics: every case here agrees with it, and
``test_agrees_with_the_reference_semantics`` checks random expectations against it.
"""

from __future__ import annotations

import asyncio
import random
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ifmatch.stores import CASResult, Expectation, Outcome, Snapshot


def new_key() -> str:
    return uuid.uuid4().hex


@dataclass
class Backend:
    """A store under test. ``store`` has the sync interface (``read``, ``get``,
    ``compare_and_set``, ``compare_and_delete``, ``compare_and_set_many``)."""

    name: str
    store: Any
    new_key: Callable[[], Any] = field(default=new_key)

    def body(self, key: Any) -> str | None:
        record = self.store.get(key)
        if record is None:
            return None
        value = record[1]["body"]
        return value.decode() if isinstance(value, bytes) else value

    def create(self, body: str = "a") -> tuple[Any, Snapshot]:
        key = self.new_key()
        result = self.store.compare_and_set(key, Expectation(exists=False), {"body": body})
        assert result.outcome is Outcome.WON, result
        assert result.snapshot is not None
        return key, result.snapshot


class SyncFacade:
    """Runs an asynchronous store's coroutines on one event loop, so the contract (written
    synchronously) applies to it unchanged."""

    def __init__(self, store: Any, runner: asyncio.Runner) -> None:
        self._store = store
        self._runner = runner

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._runner.run(method(*args, **kwargs))

        return call


def later(moment: datetime | None, seconds: int) -> datetime:
    assert moment is not None
    return moment + timedelta(seconds=seconds)


class ContractSuite:
    """The shared cases; subclasses provide the ``backend`` fixture. Stores that keep
    idempotency records also run :class:`IdempotencySuite`."""

    # --- create, read, update ---------------------------------------------------------------

    def test_create_only_creates_version_1(self, backend: Backend) -> None:
        key, snapshot = backend.create("hello")
        assert snapshot.version == 1
        assert backend.store.read(key) == snapshot
        assert backend.body(key) == "hello"

    def test_create_only_loses_when_the_key_exists(self, backend: Backend) -> None:
        key, snapshot = backend.create("first")
        result = backend.store.compare_and_set(key, Expectation(exists=False), {"body": "x"})
        assert result == CASResult(Outcome.LOST, snapshot)
        assert backend.body(key) == "first"

    def test_matching_version_wins_and_bumps_the_version(self, backend: Backend) -> None:
        key, first = backend.create()
        result = backend.store.compare_and_set(key, Expectation.version(1), {"body": "b"})
        assert result.outcome is Outcome.WON
        assert result.snapshot is not None and result.snapshot.version == 2
        assert backend.store.read(key) == result.snapshot
        assert backend.body(key) == "b"

    def test_stale_version_loses_and_reports_the_current_state(self, backend: Backend) -> None:
        key, _ = backend.create()
        won = backend.store.compare_and_set(key, Expectation.version(1), {"body": "b"})
        lost = backend.store.compare_and_set(key, Expectation.version(1), {"body": "c"})
        assert lost == CASResult(Outcome.LOST, won.snapshot)
        assert backend.body(key) == "b"

    def test_write_to_a_missing_key_is_not_found(self, backend: Backend) -> None:
        key = backend.new_key()
        for expect in (Expectation.version(1), Expectation(exists=True), Expectation()):
            result = backend.store.compare_and_set(key, expect, {"body": "x"})
            assert result == CASResult(Outcome.NOT_FOUND), expect
        assert backend.store.read(key) is None

    def test_star_matches_any_existing_version(self, backend: Backend) -> None:
        key, _ = backend.create()
        backend.store.compare_and_set(key, Expectation.version(1), {"body": "b"})
        result = backend.store.compare_and_set(key, Expectation(exists=True), {"body": "c"})
        assert result.outcome is Outcome.WON
        assert result.snapshot is not None and result.snapshot.version == 3

    def test_unconditional_write_wins_on_an_existing_key(self, backend: Backend) -> None:
        key, _ = backend.create()
        result = backend.store.compare_and_set(key, Expectation(), {"body": "z"})
        assert result.outcome is Outcome.WON
        assert backend.body(key) == "z"

    def test_version_list_matches_any_member(self, backend: Backend) -> None:
        key, _ = backend.create()
        backend.store.compare_and_set(key, Expectation.version(1), {"body": "b"})
        hit = Expectation(exists=True, versions=frozenset({1, 2, 7}))
        assert backend.store.compare_and_set(key, hit, {"body": "c"}).outcome is Outcome.WON
        miss = Expectation(exists=True, versions=frozenset({1, 2, 7}))
        assert backend.store.compare_and_set(key, miss, {"body": "d"}).outcome is Outcome.LOST
        assert backend.body(key) == "c"

    def test_empty_version_set_never_matches(self, backend: Backend) -> None:
        key, snapshot = backend.create()
        never = Expectation(exists=True, versions=frozenset())
        assert backend.store.compare_and_set(key, never, {"body": "x"}) == CASResult(
            Outcome.LOST, snapshot
        )
        assert backend.store.compare_and_set(backend.new_key(), never, {}).outcome is (
            Outcome.NOT_FOUND
        )

    def test_not_versions_excludes_the_named_versions(self, backend: Backend) -> None:
        key, _ = backend.create()
        current = Expectation(not_versions=frozenset({1}))
        assert backend.store.compare_and_set(key, current, {"body": "x"}).outcome is Outcome.LOST
        other = Expectation(not_versions=frozenset({5, 6}))
        assert backend.store.compare_and_set(key, other, {"body": "y"}).outcome is Outcome.WON
        both = Expectation(exists=True, versions=frozenset({2}), not_versions=frozenset({2}))
        assert backend.store.compare_and_set(key, both, {"body": "z"}).outcome is Outcome.LOST
        assert backend.body(key) == "y"

    def test_a_write_changes_only_the_given_fields(self, backend: Backend) -> None:
        key, _ = backend.create("body")
        backend.store.compare_and_set(key, Expectation.version(1), {"note": "n"})
        record = backend.store.get(key)
        assert record is not None
        assert backend.body(key) == "body"
        note = record[1]["note"]
        assert (note.decode() if isinstance(note, bytes) else note) == "n"

    def test_a_write_that_changes_no_value_is_not_a_conflict(self, backend: Backend) -> None:
        # MySQL/MariaDB count *changed* rows unless told otherwise: an identical write must
        # still be reported as won (the version always changes).
        key, _ = backend.create("same")
        for version in (1, 2, 3):
            result = backend.store.compare_and_set(
                key, Expectation.version(version), {"body": "same"}
            )
            assert result.outcome is Outcome.WON, version
        empty = backend.store.compare_and_set(key, Expectation.version(4), {})
        assert empty.outcome is Outcome.WON
        assert empty.snapshot is not None and empty.snapshot.version == 5

    def test_managed_fields_cannot_be_set(self, backend: Backend) -> None:
        key, _ = backend.create()
        with pytest.raises(ValueError, match="managed"):
            backend.store.compare_and_set(key, Expectation(), {"version": 99})
        assert backend.store.read(key).version == 1

    # --- delete -----------------------------------------------------------------------------

    def test_delete_with_the_current_version_wins(self, backend: Backend) -> None:
        key, snapshot = backend.create()
        result = backend.store.compare_and_delete(key, Expectation.version(1))
        assert result.outcome is Outcome.WON
        assert result.snapshot in (snapshot, None)  # the deleted state, where the DB returns it
        assert backend.store.read(key) is None

    def test_delete_with_a_stale_version_loses(self, backend: Backend) -> None:
        key, _ = backend.create()
        won = backend.store.compare_and_set(key, Expectation.version(1), {"body": "b"})
        lost = backend.store.compare_and_delete(key, Expectation.version(1))
        assert lost == CASResult(Outcome.LOST, won.snapshot)
        assert backend.store.read(key) == won.snapshot

    def test_delete_of_a_missing_key_is_not_found(self, backend: Backend) -> None:
        for expect in (Expectation(), Expectation(exists=True), Expectation(exists=False)):
            result = backend.store.compare_and_delete(backend.new_key(), expect)
            assert result == CASResult(Outcome.NOT_FOUND)

    def test_delete_only_if_absent_loses_on_an_existing_key(self, backend: Backend) -> None:
        key, snapshot = backend.create()
        assert backend.store.compare_and_delete(key, Expectation(exists=False)) == CASResult(
            Outcome.LOST, snapshot
        )

    def test_create_after_delete_starts_again_at_version_1(self, backend: Backend) -> None:
        key, _ = backend.create()
        backend.store.compare_and_delete(key, Expectation())
        again = backend.store.compare_and_set(key, Expectation(exists=False), {"body": "new"})
        assert again.outcome is Outcome.WON
        assert again.snapshot is not None and again.snapshot.version == 1

    # --- Last-Modified ----------------------------------------------------------------------

    def test_last_modified_is_whole_seconds_in_utc(self, backend: Backend) -> None:
        _, snapshot = backend.create()
        assert snapshot.last_modified is not None
        assert snapshot.last_modified.tzinfo is not None
        assert snapshot.last_modified.utcoffset() == timedelta(0)
        assert snapshot.last_modified.microsecond == 0

    def test_last_modified_strictly_increases_on_same_second_writes(self, backend: Backend) -> None:
        key, snapshot = backend.create()
        moments = [snapshot.last_modified]
        for version in range(1, 6):  # far faster than one write per second
            result = backend.store.compare_and_set(key, Expectation.version(version), {})
            assert result.snapshot is not None
            moments.append(result.snapshot.last_modified)
        assert all(
            later(before, 1) <= after
            for before, after in zip(moments, moments[1:], strict=False)
            if after is not None
        )

    def test_if_unmodified_since_at_last_modified_wins(self, backend: Backend) -> None:
        key, snapshot = backend.create()
        since = Expectation(exists=True, unmodified_since=snapshot.last_modified)
        assert backend.store.compare_and_set(key, since, {"body": "b"}).outcome is Outcome.WON

    def test_if_unmodified_since_before_last_modified_loses(self, backend: Backend) -> None:
        key, snapshot = backend.create()
        assert snapshot.last_modified is not None
        early = snapshot.last_modified - timedelta(seconds=1)
        since = Expectation(exists=True, unmodified_since=early)
        assert backend.store.compare_and_set(key, since, {"body": "b"}) == CASResult(
            Outcome.LOST, snapshot
        )
        future = Expectation(unmodified_since=later(snapshot.last_modified, 3600))
        assert backend.store.compare_and_set(key, future, {"body": "c"}).outcome is Outcome.WON

    def test_same_second_writers_using_only_if_unmodified_since_lose_nothing(
        self, backend: Backend
    ) -> None:
        # Ada and Guido read the same Last-Modified; Ada writes within the same second; Guido's
        # write must lose, because Ada's Last-Modified moved on by at least a second.
        key, snapshot = backend.create("base")
        seen = Expectation(exists=True, unmodified_since=snapshot.last_modified)
        ada = backend.store.compare_and_set(key, seen, {"body": "ada"})
        guido = backend.store.compare_and_set(key, seen, {"body": "guido"})
        assert ada.outcome is Outcome.WON
        assert guido == CASResult(Outcome.LOST, ada.snapshot)
        assert backend.body(key) == "ada"

    # --- bulk -------------------------------------------------------------------------------

    def test_bulk_applies_each_item_independently(self, backend: Backend) -> None:
        (k1, _), (k2, _) = backend.create("1"), backend.create("2")
        missing = backend.new_key()
        results = backend.store.compare_and_set_many(
            [
                (k1, Expectation.version(1), {"body": "one"}),
                (k2, Expectation.version(9), {"body": "two"}),
                (missing, Expectation.version(1), {"body": "three"}),
            ]
        )
        assert [r.outcome for r in results] == [Outcome.WON, Outcome.LOST, Outcome.NOT_FOUND]
        assert results[0].snapshot is not None and results[0].snapshot.version == 2
        assert results[1].snapshot is not None and results[1].snapshot.version == 1
        assert (backend.body(k1), backend.body(k2), backend.body(missing)) == ("one", "2", None)

    def test_bulk_all_or_nothing_applies_nothing_when_one_item_misses(
        self, backend: Backend
    ) -> None:
        (k1, s1), (k2, s2) = backend.create("1"), backend.create("2")
        fresh = backend.new_key()
        results = backend.store.compare_and_set_many(
            [
                (k1, Expectation.version(1), {"body": "one"}),
                (fresh, Expectation(exists=False), {"body": "new"}),
                (k2, Expectation.version(9), {"body": "two"}),
            ],
            all_or_nothing=True,
        )
        assert results == [
            CASResult(Outcome.ABORTED, s1),
            CASResult(Outcome.ABORTED, None),
            CASResult(Outcome.LOST, s2),
        ]
        assert (backend.body(k1), backend.body(k2), backend.store.read(fresh)) == ("1", "2", None)

    def test_bulk_all_or_nothing_applies_everything_when_all_hold(self, backend: Backend) -> None:
        (k1, _), (k2, _) = backend.create("1"), backend.create("2")
        results = backend.store.compare_and_set_many(
            [(k1, Expectation.version(1), {"body": "a"}), (k2, Expectation(), {"body": "b"})],
            all_or_nothing=True,
        )
        assert [r.outcome for r in results] == [Outcome.WON, Outcome.WON]
        assert (backend.body(k1), backend.body(k2)) == ("a", "b")

    def test_bulk_sees_its_own_earlier_items(self, backend: Backend) -> None:
        key, _ = backend.create()
        results = backend.store.compare_and_set_many(
            [(key, Expectation.version(1), {"body": "b"}), (key, Expectation.version(2), {})]
        )
        assert [r.outcome for r in results] == [Outcome.WON, Outcome.WON]
        assert backend.store.compare_and_set_many([]) == []

    # --- the reference semantics ------------------------------------------------------------

    def test_agrees_with_the_reference_semantics(self, backend: Backend) -> None:
        rng = random.Random(20240613)
        key, _ = backend.create()
        for step in range(30):
            current = backend.store.read(key)
            expect = _random_expectation(rng, current)
            result = backend.store.compare_and_set(key, expect, {"note": str(step)})
            if expect.allows(current):
                assert result.outcome is Outcome.WON, (expect, current)
            else:
                assert result.outcome is (Outcome.LOST if current else Outcome.NOT_FOUND), (
                    expect,
                    current,
                )
                assert result.snapshot == current
            if current is not None and rng.random() < 0.1:
                backend.store.compare_and_delete(key, Expectation())


def _random_expectation(rng: random.Random, current: Snapshot | None) -> Expectation:
    version = current.version if current else 1
    moment = current.last_modified if current and current.last_modified else datetime.now(UTC)
    pool = [version - 1, version, version + 1]
    return Expectation(
        exists=rng.choice([None, True, False]),
        versions=rng.choice([None, frozenset(rng.sample(pool, rng.randint(0, 2)))]),
        not_versions=frozenset(rng.sample(pool, rng.randint(0, 1))),
        unmodified_since=rng.choice([None, moment, moment - timedelta(seconds=1)]),
    )


# --- idempotency records ---------------------------------------------------------------------


def record_key() -> str:
    from ifmatch.core.idempotency import record_id

    return record_id("/docs/" + uuid.uuid4().hex, uuid.uuid4().hex)


class IdempotencySuite:
    """Claim, complete with the write, replay: the same in every store."""

    def test_a_first_claim_is_new_and_pending(self, backend: Backend) -> None:
        from ifmatch.core.idempotency import Verdict

        rid = record_key()
        claim = backend.store.claim(rid, "f" * 64)
        assert claim.verdict is Verdict.NEW
        found = backend.store.lookup(rid)
        assert found is not None and not found.done and found.attempt == claim.attempt
        assert found.fingerprint == "f" * 64 and found.expires > found.created

    def test_a_second_claim_is_in_flight_or_a_mismatch(self, backend: Backend) -> None:
        from ifmatch.core.idempotency import Verdict

        rid = record_key()
        first = backend.store.claim(rid, "a" * 64)
        assert backend.store.claim(rid, "a" * 64).verdict is Verdict.IN_FLIGHT
        assert backend.store.claim(rid, "b" * 64).verdict is Verdict.MISMATCH
        assert backend.store.lookup(rid).attempt == first.attempt

    def test_the_write_completes_its_record_and_a_retry_replays_it(self, backend: Backend) -> None:
        from ifmatch.core.idempotency import Verdict

        key, _ = backend.create()
        rid = record_key()
        claim = backend.store.claim(rid, "a" * 64)
        completion = claim.completion(200, "/docs/x")
        result = backend.store.compare_and_set(
            key, Expectation.version(1), {"body": "b"}, completion=completion
        )
        assert result.outcome is Outcome.WON and result.snapshot.version == 2
        replay = backend.store.claim(rid, "a" * 64)
        assert replay.verdict is Verdict.REPLAY
        record = replay.record
        assert (record.done, record.status, record.version, record.location) == (
            True,
            200,
            2,
            "/docs/x",
        )
        assert backend.store.claim(rid, "b" * 64).verdict is Verdict.MISMATCH

    def test_a_lost_write_leaves_its_claim_pending(self, backend: Backend) -> None:
        key, _ = backend.create()
        rid = record_key()
        claim = backend.store.claim(rid, "a" * 64)
        result = backend.store.compare_and_set(
            key, Expectation.version(7), {"body": "b"}, completion=claim.completion(200)
        )
        assert result.outcome is Outcome.LOST
        assert not backend.store.lookup(rid).done
        backend.store.release(rid, claim.attempt)
        assert backend.store.lookup(rid) is None

    def test_release_never_forgets_a_completed_record(self, backend: Backend) -> None:
        key, _ = backend.create()
        rid = record_key()
        claim = backend.store.claim(rid, "a" * 64)
        backend.store.compare_and_set(
            key, Expectation.version(1), {"body": "b"}, completion=claim.completion(200)
        )
        backend.store.release(rid, claim.attempt)
        assert backend.store.lookup(rid).done

    def test_a_create_and_a_delete_complete_their_records(self, backend: Backend) -> None:
        key = backend.new_key()
        created = backend.store.claim(record_key(), "a" * 64)
        result = backend.store.compare_and_set(
            key, Expectation(exists=False), {"body": "n"}, completion=created.completion(201, "/x")
        )
        assert result.outcome is Outcome.WON
        record = backend.store.lookup(created.record.id)
        assert (record.status, record.version, record.location) == (201, 1, "/x")
        deleted = backend.store.claim(record_key(), "a" * 64)
        result = backend.store.compare_and_delete(
            key, Expectation.version(1), completion=deleted.completion(204)
        )
        assert result.outcome is Outcome.WON and backend.store.read(key) is None
        record = backend.store.lookup(deleted.record.id)
        assert (record.done, record.status, record.version) == (True, 204, None)

    def test_an_abandoned_claim_is_taken_over_and_its_write_can_no_longer_apply(
        self, backend: Backend
    ) -> None:
        from ifmatch.core.idempotency import Verdict

        key, _ = backend.create()
        rid = record_key()
        first = backend.store.claim(rid, "a" * 64)
        # The first attempt's request hangs past the in-flight limit; a retry takes over.
        second = backend.store.claim(rid, "a" * 64, in_flight=timedelta(0))
        assert second.verdict is Verdict.NEW and second.attempt != first.attempt
        late = backend.store.compare_and_set(
            key, Expectation(exists=True), {"body": "late"}, completion=first.completion(200)
        )
        assert late.outcome is Outcome.LOST and backend.body(key) == "a"
        won = backend.store.compare_and_set(
            key, Expectation(exists=True), {"body": "b"}, completion=second.completion(200)
        )
        assert won.outcome is Outcome.WON and backend.body(key) == "b"
        again = backend.store.compare_and_delete(
            key, Expectation(exists=True), completion=first.completion(204)
        )
        assert again.outcome is Outcome.LOST and backend.store.read(key) is not None

    def test_an_expired_record_is_a_new_request(self, backend: Backend) -> None:
        from ifmatch.core.idempotency import Verdict

        key, _ = backend.create()
        rid = record_key()
        claim = backend.store.claim(rid, "a" * 64, retention=timedelta(seconds=-1))
        backend.store.compare_and_set(
            key, Expectation.version(1), {"body": "b"}, completion=claim.completion(200)
        )
        fresh = backend.store.claim(rid, "b" * 64)
        assert fresh.verdict is Verdict.NEW and not backend.store.lookup(rid).done

    def test_concurrent_claims_of_one_key_give_one_new(self, backend: Backend) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from ifmatch.core.idempotency import Verdict

        if "async" in backend.name or "session" in backend.name:
            pytest.skip("one event loop / one session per call: covered by the sync stores")
        rid = record_key()

        def claim(_: int) -> Any:
            try:
                return backend.store.claim(rid, "a" * 64)
            finally:
                django_db = sys.modules.get("django.db")
                if django_db is not None:
                    django_db.connections.close_all()  # this thread's own connections

        with ThreadPoolExecutor(8) as pool:
            claims = list(pool.map(claim, range(8)))
        verdicts = [claim.verdict for claim in claims]
        assert verdicts.count(Verdict.NEW) == 1
        assert verdicts.count(Verdict.IN_FLIGHT) == 7
