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


def test_unmodified_since_limit_is_the_next_whole_second() -> None:
    assert unmodified_since_limit(T) == T + timedelta(seconds=1)
    assert unmodified_since_limit(T + timedelta(microseconds=5)) == T + timedelta(seconds=1)
    paris = timezone(timedelta(hours=2))
    assert unmodified_since_limit(T.astimezone(paris)) == T + timedelta(seconds=1)


def test_unmodified_since_limit_at_the_ends_of_the_calendar() -> None:
    last = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert unmodified_since_limit(last) is None
    assert unmodified_since_limit(datetime.max.replace(tzinfo=UTC)) is None
    assert unmodified_since_limit(last - timedelta(seconds=1)) == last
    assert (
        unmodified_since_limit(datetime.max.replace(tzinfo=timezone(-timedelta(hours=5)))) is None
    )
    first = datetime.min.replace(tzinfo=UTC)
    assert unmodified_since_limit(first) == first + timedelta(seconds=1)
    before_first = datetime.min.replace(tzinfo=timezone(timedelta(hours=5)))
    assert unmodified_since_limit(before_first) == first


def test_expectation_from_star_forms() -> None:
    assert Expectation.from_condition(WriteCondition(if_match=ANY)).exists is True
    assert Expectation.from_condition(WriteCondition(if_none_match=ANY)).exists is False


def test_expectation_from_if_none_match_list_and_if_unmodified_since() -> None:
    condition = WriteCondition(if_none_match=(version_etag(2),), if_unmodified_since=T)
    assert Expectation.from_condition(condition) == Expectation(
        None, None, frozenset({2}), unmodified_since=T
    )


def test_next_last_modified_truncates_and_moves_past_the_previous_second() -> None:
    assert next_last_modified(T + timedelta(microseconds=900), None) == T
    assert next_last_modified(T, T) == T + timedelta(seconds=1)
    assert next_last_modified(T + timedelta(seconds=5), T) == T + timedelta(seconds=5)


def test_last_modified_later_than_the_response_date_is_omitted() -> None:
    snapshot = Snapshot(7, T + timedelta(seconds=2))
    assert snapshot.last_modified_for(T) is None
    assert (
        snapshot.last_modified_for(T + timedelta(seconds=2, milliseconds=500))
        == snapshot.last_modified
    )
    assert Snapshot(1).last_modified_for(T) is None
    # The module-level rule the integrations share is the same one.
    assert last_modified_for(T + timedelta(seconds=2), T) is None
    assert last_modified_for(T, T + timedelta(milliseconds=1)) == T
    assert last_modified_for(None, T) is None
    assert str(snapshot.etag()) == '"v7"'
