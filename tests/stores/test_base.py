"""The protocol's value types: expectations from core conditions, snapshots, the clock rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from ifmatch.core import ANY, ETag, WriteCondition, version_etag
from ifmatch.stores import (
    Expectation,
    Snapshot,
    last_modified_for,
    next_last_modified,
    unmodified_since_limit,
)

T = datetime(2024, 6, 13, 12, 0, 0, tzinfo=UTC)


def test_expectation_from_if_match_list_keeps_only_our_versions() -> None:
    condition = WriteCondition(if_match=(version_etag(3), ETag("foreign"), version_etag(5)))
    assert Expectation.from_condition(condition) == Expectation(True, frozenset({3, 5}))


def test_expectation_reads_only_canonical_version_tags() -> None:
    odd = (ETag("v03"), ETag("v+3"), ETag("v3.0"), ETag("v-3"), ETag("v 3".replace(" ", "_")))
    assert Expectation.from_condition(WriteCondition(if_match=odd)).versions == frozenset()
    assert Expectation.from_condition(WriteCondition(if_none_match=odd)).not_versions == (
        frozenset()
    )
    huge = WriteCondition(if_match=(ETag("v99999999999999999999"),))
    assert Expectation.from_condition(huge).versions == frozenset({10**20 - 1})


def test_weak_tags_name_nothing_in_if_match_but_count_in_if_none_match() -> None:
    weak = (version_etag(3).as_weak(),)
    assert Expectation.from_condition(WriteCondition(if_match=weak)).versions == frozenset()
    assert Expectation.from_condition(WriteCondition(if_none_match=weak)).not_versions == {3}


def test_bounded_leaves_out_versions_a_store_cannot_hold() -> None:
    usual = Expectation(True, frozenset({3}), frozenset({2}), T)
    assert usual.bounded(2**31 - 1) is usual
    mixed = Expectation(True, frozenset({3, 2**31, -1}), frozenset({2**40, 4, -5}), T)
    assert mixed.bounded(2**31 - 1) == Expectation(True, frozenset({3}), frozenset({4}), T)
    only_impossible = Expectation.version(3_000_000_000).bounded(2**31 - 1)
    assert only_impossible == Expectation(True, frozenset())
    assert Expectation().bounded(0) == Expectation()
    assert Expectation.version(10**40).bounded().versions == {10**40}  # no upper bound
    for odd in (True, 1.0, "1"):  # what a JSON body may carry: none of them is a version
        assert Expectation.version(odd).bounded().versions == frozenset()  # type: ignore[arg-type]
    assert Expectation(None, None, frozenset({False, 2})).bounded().not_versions == {2}
    for version in (0, 3, 2**31 - 1):
        current = Snapshot(version, T)
        for expect in (usual, mixed, only_impossible, Expectation.version(-1)):
            assert expect.bounded(2**31 - 1).allows(current) == expect.allows(current)


def test_unmodified_since_limit_is_the_date_itself_in_utc() -> None:
    assert unmodified_since_limit(T) == T
    assert unmodified_since_limit(T + timedelta(microseconds=5)) == T + timedelta(microseconds=5)
    paris = timezone(timedelta(hours=2))
    assert unmodified_since_limit(T.astimezone(paris)) == T
    assert unmodified_since_limit(T.replace(tzinfo=None)) == T


def test_unmodified_since_limit_at_the_ends_of_the_calendar() -> None:
    last = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert unmodified_since_limit(last) == last
    assert unmodified_since_limit(datetime.max.replace(tzinfo=UTC)) == datetime.max.replace(
        tzinfo=UTC
    )
    assert (
        unmodified_since_limit(datetime.max.replace(tzinfo=timezone(-timedelta(hours=5)))) is None
    )
    first = datetime.min.replace(tzinfo=UTC)
    assert unmodified_since_limit(first) == first
    before_first = datetime.min.replace(tzinfo=timezone(timedelta(hours=5)))
    assert unmodified_since_limit(before_first) == first


def test_unmodified_since_compares_at_full_precision() -> None:
    # RFC 9110 §13.1.4: true only if the last modification is earlier than or equal to the date.
    since = Expectation(exists=True, unmodified_since=T)
    assert since.allows(Snapshot(1, T))
    assert since.allows(Snapshot(1, T - timedelta(microseconds=1)))
    assert not since.allows(Snapshot(1, T + timedelta(microseconds=1)))
    assert not since.allows(Snapshot(1, T + timedelta(milliseconds=700)))
    assert since.allows(Snapshot(1, None))  # no modification date: ignored


def test_expectation_from_star_forms() -> None:
    assert Expectation.from_condition(WriteCondition(if_match=ANY)).exists is True
    assert Expectation.from_condition(WriteCondition(if_none_match=ANY)).exists is False


def test_expectation_from_if_none_match_list_and_if_unmodified_since() -> None:
    condition = WriteCondition(if_none_match=(version_etag(2),), if_unmodified_since=T)
    assert Expectation.from_condition(condition) == Expectation(
        None, None, frozenset({2}), unmodified_since=T
    )


def test_next_last_modified_is_the_whole_second_for_the_first_write_of_a_second() -> None:
    assert next_last_modified(T + timedelta(microseconds=900), None) == T
    assert next_last_modified(T + timedelta(seconds=5, microseconds=3), T) == T + timedelta(
        seconds=5
    )
    earlier = T - timedelta(milliseconds=1)
    assert next_last_modified(T + timedelta(milliseconds=400), earlier) == T


def test_next_last_modified_keeps_the_clock_for_a_later_write_of_the_same_second() -> None:
    at_400 = T + timedelta(milliseconds=400)
    assert next_last_modified(at_400, T) == at_400
    assert next_last_modified(T + timedelta(milliseconds=700), at_400) == T + timedelta(
        milliseconds=700
    )
    # A clock that stands still or steps back: one microsecond past the previous value.
    assert next_last_modified(T, T) == T + timedelta(microseconds=1)
    assert next_last_modified(T, at_400) == at_400 + timedelta(microseconds=1)
    paris = timezone(timedelta(hours=2))
    assert next_last_modified(at_400.astimezone(paris), T) == at_400
    assert next_last_modified(at_400, T).tzinfo is UTC


def test_next_last_modified_keeps_whole_seconds_for_such_columns() -> None:
    assert next_last_modified(T, None, whole_seconds=True) == T
    assert next_last_modified(T, T, whole_seconds=True) == T + timedelta(seconds=1)
    later = T + timedelta(seconds=5, milliseconds=3)
    assert next_last_modified(later, T, whole_seconds=True) == T + timedelta(seconds=5)


def _versions(writes: list[datetime]) -> list[datetime]:
    stored: list[datetime] = []
    for now in writes:
        stored.append(next_last_modified(now, stored[-1] if stored else None))
    return stored


def test_an_echoed_last_modified_never_lets_a_stale_write_through() -> None:
    # Writes at any instants (the clock may stand still or step back): a client holding the
    # Last-Modified sent for a version fails If-Unmodified-Since after any later write, and
    # passes before it exactly when no earlier write shares that version's second.
    offsets = [0, 400_000, 700_000, 700_000, 1_200_000, 2_000_000, 1_900_000, 5_000_001]
    stored = _versions([T + timedelta(microseconds=us) for us in offsets])
    assert all(a < b for a, b in zip(stored, stored[1:], strict=False))
    for index, seen in enumerate(stored):
        echoed = last_modified_for(seen, seen + timedelta(hours=1))
        assert echoed is not None
        for current in stored[index + 1 :]:
            assert not Expectation(unmodified_since=echoed).allows(Snapshot(2, current))
        first = all(other.replace(microsecond=0) != echoed for other in stored[:index])
        assert Expectation(unmodified_since=echoed).allows(Snapshot(1, seen)) == first


def test_last_modified_later_than_the_response_date_is_replaced_by_the_date() -> None:
    # RFC 9110 §8.8.2.1: "MUST replace that value with the message origination date".
    snapshot = Snapshot(7, T + timedelta(seconds=2))
    assert snapshot.last_modified_for(T + timedelta(milliseconds=300)) == T
    assert (
        snapshot.last_modified_for(T + timedelta(seconds=2, milliseconds=500))
        == snapshot.last_modified
    )
    assert Snapshot(1).last_modified_for(T) is None
    # The module-level rule the integrations share is the same one, to the second.
    assert last_modified_for(T + timedelta(seconds=2), T) == T
    assert last_modified_for(T + timedelta(milliseconds=700), T + timedelta(seconds=9)) == T
    assert last_modified_for(T, T + timedelta(milliseconds=1)) == T
    assert last_modified_for(None, T) is None
    assert str(snapshot.etag()) == '"v7"'
