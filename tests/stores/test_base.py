"""The protocol's value types: expectations from core conditions, snapshots, the clock rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ifmatch.core import ANY, ETag, WriteCondition, version_etag
from ifmatch.stores import Expectation, Snapshot, last_modified_for, next_last_modified

T = datetime(2024, 6, 13, 12, 0, 0, tzinfo=UTC)


def test_expectation_from_if_match_list_keeps_only_our_versions() -> None:
    condition = WriteCondition(if_match=(version_etag(3), ETag("foreign"), version_etag(5)))
    assert Expectation.from_condition(condition) == Expectation(True, frozenset({3, 5}))


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
