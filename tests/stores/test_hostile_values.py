"""Hostile values against every store on every backend: out-of-range versions, tags that are not
exactly ``"v<N>"``, far dates, body versions past the column's range.

For each case the header check (``evaluate`` on a PUT against the stored state) gives its verdict,
and the store must agree: a write that the check lets through is applied (and nothing raises),
and a write the check refuses is refused by the store's own guard too, even when the guard is
asked directly with the request's preconditions (as after a race the check did not see). The
stored version and value are compared before and after every attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hostile_cases import BAD, BIG, CASES, REQUIRED, WRITE, case_id, fill
from ifmatch.core import (
    ANY,
    DEFAULT_POLICY,
    Preconditions,
    Proceed,
    ResourceState,
    WriteCondition,
    evaluate,
)
from ifmatch.core.errors import InvalidPreconditionHeader
from ifmatch.stores import CASResult, Expectation, Outcome

from .hostile import SAFE, Engines, Target, build_target, target_params


@pytest.fixture(scope="module")
def engines(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engines]:
    pool = Engines(request, str(tmp_path_factory.mktemp("hostile") / "hostile.db"))
    yield pool
    pool.close()


@pytest.fixture(params=target_params())
def target(request: pytest.FixtureRequest, engines: Engines) -> Iterator[Target]:
    yield from build_target(request, engines, request.param)


def direct_expectation(headers: dict[str, str]) -> Expectation | None:
    """The request's preconditions handed straight to the store's guard, as they stand, without
    the header check's verdict (``None`` when they cannot be parsed)."""
    try:
        parsed = Preconditions.from_headers(headers)
    except InvalidPreconditionHeader:
        return None
    ius = parsed.if_unmodified_since if parsed.if_match is None else None
    condition = WriteCondition(parsed.if_match, parsed.if_none_match, ius)
    return Expectation.from_condition(condition)


def attempt(target: Target, key: Any, expect: Expectation, text: str) -> CASResult:
    before = target.state(key)
    result = target.store.compare_and_set(key, expect, {target.field: text})
    after = target.state(key)
    if result.outcome is Outcome.WON:
        assert before[0] is not None and after[0] is not None
        assert after[0].version == before[0].version + 1
        assert after[1] == text
        assert result.snapshot == after[0]
    else:
        assert after == before, "a refused write changed the record"
        assert result.snapshot == before[0]
    return result


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_store_agrees_with_the_header_check(target: Target, case: tuple[str, str, int]) -> None:
    key, snapshot = target.create()
    header, template, status = case
    headers = {header: fill(template, snapshot.version, snapshot.last_modified)}
    if header == "If-Unmodified-Since" and not target.last_modified:
        status = REQUIRED  # RFC 9110 §13.1.4: ignored without a modification date
    resource = ResourceState(snapshot.etag(), snapshot.last_modified)
    decision = evaluate("PUT", headers, resource, DEFAULT_POLICY)
    assert decision.status == (None if status == WRITE else status), decision

    if isinstance(decision, Proceed):
        expect = Expectation.from_condition(decision.condition)
        assert attempt(target, key, expect, "written").outcome is Outcome.WON
        return
    direct = direct_expectation(headers)
    if direct is None or status in (BAD, REQUIRED):
        # Malformed (a lone unquoted token parses, but the header check refuses it), or no
        # precondition that applies: nothing for a guard to check.
        return
    assert attempt(target, key, direct, "refused").outcome is Outcome.LOST
    deleted = target.store.compare_and_delete(key, direct)
    assert deleted == CASResult(Outcome.LOST, snapshot)
    assert target.state(key) == (snapshot, "original")


@pytest.mark.parametrize("version", [*BIG, -1, -(2**63) - 1, 0, 2])
def test_a_body_version_that_is_not_the_stored_one_is_lost(target: Target, version: int) -> None:
    key, snapshot = target.create()
    assert attempt(target, key, Expectation.version(version), "refused").outcome is Outcome.LOST
    assert target.store.compare_and_delete(key, Expectation.version(version)).outcome is (
        Outcome.LOST
    )
    assert attempt(target, key, Expectation.version(1), "written").outcome is Outcome.WON
    assert target.store.read(key).version == 2
    assert snapshot.version == 1


@pytest.mark.parametrize("version", [True, 1.0, "1", "v1"], ids=repr)
def test_a_body_version_that_is_not_an_int_names_nothing(target: Target, version: Any) -> None:
    # A JSON body may carry ``true`` or ``1.0`` where an app expects a version: equal to 1 in
    # Python, but no version, in every store alike.
    key, _ = target.create()
    odd = Expectation(exists=True, versions=frozenset({version}))
    assert attempt(target, key, odd, "refused").outcome is Outcome.LOST
    assert target.store.compare_and_delete(key, odd).outcome is Outcome.LOST
    other = Expectation(exists=True, not_versions=frozenset({version}))
    assert attempt(target, key, other, "written").outcome is Outcome.WON


def test_the_edges_of_the_version_column(target: Target) -> None:
    top = target.max_version if target.max_version is not None else 10**30
    beyond = (top + 1, top + 2, 2 * top, 10 * top)
    key, _ = target.create()
    target.seed(key, top - 1)
    below = Expectation.from_condition(WriteCondition(if_match=_tags(top - 1)))
    assert attempt(target, key, below, "at the top").outcome is Outcome.WON
    assert target.store.read(key).version == top
    for version in beyond:
        past = Expectation.from_condition(WriteCondition(if_match=_tags(version)))
        assert attempt(target, key, past, "refused").outcome is Outcome.LOST
        assert target.store.compare_and_delete(key, past).outcome is Outcome.LOST
        assert attempt(target, key, Expectation.version(version), "x").outcome is Outcome.LOST
    stale = Expectation.from_condition(WriteCondition(if_match=_tags(top - 1)))
    assert target.store.compare_and_delete(key, stale).outcome is Outcome.LOST
    current = Expectation.from_condition(WriteCondition(if_match=_tags(top, *beyond)))
    assert target.store.compare_and_delete(key, current).outcome is Outcome.WON
    assert target.state(key) == (None, None)
    # A version the column cannot hold is never current: If-None-Match naming it is true.
    other, _ = target.create()
    target.seed(other, top)
    absent = Expectation.from_condition(WriteCondition(if_none_match=_tags(*beyond, top - 1)))
    assert target.store.compare_and_delete(other, absent).outcome is Outcome.WON
    assert target.state(other) == (None, None)


def test_zero_is_a_version_like_any_other(target: Target) -> None:
    key, _ = target.create()
    target.seed(key, 0)
    for tag in ("v00", "v-0", "v+0"):
        odd = Expectation.from_condition(WriteCondition(if_match=(_etag(tag),)))
        assert attempt(target, key, odd, "refused").outcome is Outcome.LOST
    zero = Expectation.from_condition(WriteCondition(if_match=_tags(0)))
    assert attempt(target, key, zero, "from zero").outcome is Outcome.WON


@pytest.fixture(params=target_params(holding=SAFE))
def wide_target(request: pytest.FixtureRequest, engines: Engines) -> Iterator[Target]:
    """The targets whose version column holds every integer a double holds exactly."""
    yield from build_target(request, engines, request.param)


def test_a_tag_past_exact_doubles_never_matches_its_rounded_neighbour(wide_target: Target) -> None:
    # 2**53 + 1 is 2**53 as a double: a store comparing in doubles would let it match.
    target = wide_target
    key, _ = target.create()
    target.seed(key, 2**53)
    near = Expectation.from_condition(WriteCondition(if_match=_tags(2**53 + 1, 2**53 - 1)))
    assert attempt(target, key, near, "refused").outcome is Outcome.LOST
    body = Expectation.version(2**53 + 1)
    assert attempt(target, key, body, "refused").outcome is Outcome.LOST
    if target.max_version is None or target.max_version >= 2**53:
        exact = Expectation.from_condition(WriteCondition(if_match=_tags(2**53)))
        assert target.store.compare_and_delete(key, exact).outcome is Outcome.WON
    else:
        assert target.max_version == SAFE  # Redis: 2**53 itself is past what it compares


def test_far_dates_built_in_code(target: Target) -> None:
    key, snapshot = target.create()
    last = datetime.max.replace(tzinfo=UTC)
    first = datetime.min.replace(tzinfo=UTC)
    assert attempt(target, key, Expectation(unmodified_since=last), "w1").outcome is Outcome.WON
    east = timezone_at(last.replace(tzinfo=None), hours=-5)  # past the end of UTC's calendar
    assert attempt(target, key, Expectation(unmodified_since=east), "w2").outcome is Outcome.WON
    early = Expectation(exists=True, unmodified_since=first)
    expected = Outcome.LOST if target.last_modified else Outcome.WON
    assert attempt(target, key, early, "w3").outcome is expected
    west = timezone_at(first.replace(tzinfo=None), hours=5)  # before the start of UTC's
    early = Expectation(exists=True, unmodified_since=west)
    assert attempt(target, key, early, "w4").outcome is expected
    assert snapshot.version == 1


def test_bulk_writes_with_hostile_items(target: Target) -> None:
    (k1, _), (k2, _), (k3, _) = target.create(), target.create(), target.create()
    huge = Expectation.from_condition(WriteCondition(if_match=_tags(10**20)))
    odd = Expectation.from_condition(WriteCondition(if_none_match=(_etag("v01"),)))
    results = target.store.compare_and_set_many(
        [
            (k1, huge, {target.field: "x"}),
            (k2, odd, {target.field: "y"}),
            (k3, Expectation.version(3_000_000_000), {target.field: "z"}),
        ]
    )
    assert [r.outcome for r in results] == [Outcome.LOST, Outcome.WON, Outcome.LOST]
    assert [target.value(k) for k in (k1, k2, k3)] == ["original", "y", "original"]
    star = Expectation.from_condition(WriteCondition(if_match=ANY))
    atomic = target.store.compare_and_set_many(
        [(k1, star, {target.field: "a"}), (k2, huge, {target.field: "b"})], all_or_nothing=True
    )
    assert [r.outcome for r in atomic] == [Outcome.ABORTED, Outcome.LOST]
    assert [target.value(k) for k in (k1, k2)] == ["original", "y"]


def _etag(opaque: str) -> Any:
    from ifmatch.core import ETag

    return ETag(opaque)


def _tags(*versions: int) -> tuple[Any, ...]:
    return tuple(_etag(f"v{version}") for version in versions)


def timezone_at(moment: datetime, *, hours: int) -> datetime:
    from datetime import timezone

    return moment.replace(tzinfo=timezone(timedelta(hours=hours)))
