"""The remembered parse of precondition fields, and the shortcuts ``evaluate`` takes with it.

Clients resend the same validators, so ``Preconditions.from_headers`` remembers recent field
values. These tests hold it to three promises: it answers exactly what a fresh parse and the
full §13.2.2 path answer; it never remembers a failure (a malformed field is a 400 every time)
or anything read against the clock; and it stays bounded.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ifmatch.core import (
    BadPrecondition,
    ETag,
    NotModified,
    Policy,
    Preconditions,
    Proceed,
    ResourceState,
    conditions,
    evaluate,
    evaluate_preconditions,
    version_etag,
)
from ifmatch.core.conditions import CACHED_FIELD_LENGTH, CACHED_PARSES, read_fields
from ifmatch.core.errors import InvalidPreconditionHeader

FIELDS = ["If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"]
VALUES = [
    '"v3"',
    '"v4"',
    'W/"v3"',
    '"v3-gzip"',
    '"v3", "v4"',
    '"a", "b", W/"c"',
    '"a", W/"v3"',
    "*",
    "v3",
    "v4",
    '"v3", junk',
    'w/"v3"',
    "",
    " , ",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sun, 22 Nov 2026 10:30:15 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "not a date",
]
STATES = [
    ResourceState(version_etag(3), datetime(2026, 11, 22, 10, 30, 15, tzinfo=UTC)),
    ResourceState(version_etag(3)),
    ResourceState(ETag("v3", weak=True)),
    ResourceState(ETag("a")),
    ResourceState(None, datetime(1994, 11, 6, 8, 49, 37, 500_000, tzinfo=UTC)),
    ResourceState(version_etag(3), exists=False),
    ResourceState(exists=False),
]
POLICIES = [
    Policy(),
    Policy(accept_weak_echo=True),
    Policy(accept_bare_version_token=False),
    Policy(warn_only=True),
    Policy(require_precondition=frozenset()),
    Policy(max_tags=1),
]
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def fresh(headers: dict[str, str], policy: Policy) -> Preconditions:
    """The fields parsed without the remembered parse (``from_headers`` before it existed)."""
    values = conditions._field_values(headers, policy.max_header_length)
    if values is None:
        return Preconditions()
    if_match, if_none_match, ims, ius = values
    return conditions._parse(
        if_match, if_none_match, ims, ius, policy.max_tags, policy.max_header_length, NOW
    )


@settings(max_examples=600)
@given(
    st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(VALUES), max_size=3),
    st.sampled_from(["GET", "HEAD", "PUT", "PATCH", "DELETE", "POST"]),
    st.sampled_from(STATES),
    st.sampled_from(POLICIES),
)
def test_remembered_parse_and_shortcuts_answer_as_the_full_path(
    headers: dict[str, str], method: str, state: ResourceState, policy: Policy
) -> None:
    try:
        expected_parse = fresh(headers, policy)
    except InvalidPreconditionHeader as error:
        expected: object = BadPrecondition(error.header, error.reason)
    else:
        # The full §13.2.2 path, which never takes the shortcuts.
        expected = evaluate_preconditions(method, expected_parse, state, policy)
        assert Preconditions.from_headers(
            headers, max_tags=policy.max_tags, max_length=policy.max_header_length, now=NOW
        ) == (expected_parse)
    for _ in range(2):  # the second call is answered from what the first remembered
        assert evaluate(method, headers, state, policy, now=NOW) == expected


def test_a_repeated_field_value_is_parsed_once() -> None:
    headers = {"If-None-Match": '"remembered-1", "remembered-2"'}
    assert Preconditions.from_headers(headers) is Preconditions.from_headers(dict(headers))
    # The same value on a differently spelled name, as bytes or as pairs, is the same request.
    assert Preconditions.from_headers([(b"if-none-match", b'"remembered-1", "remembered-2"')]) is (
        Preconditions.from_headers(headers)
    )


def test_a_malformed_field_is_refused_every_time_and_never_remembered() -> None:
    headers = {"If-Match": '"v3", unquoted-and-new'}
    before = len(conditions._parsed)
    for _ in range(3):
        decision = evaluate("PUT", headers, ResourceState(version_etag(3)))
        assert isinstance(decision, BadPrecondition)
        assert decision.header == "If-Match" and "unquoted" in decision.detail
        with pytest.raises(InvalidPreconditionHeader):
            Preconditions.from_headers(headers)
    assert len(conditions._parsed) <= before
    assert not any("unquoted-and-new" in str(key) for key in conditions._parsed)


def test_a_limit_is_part_of_what_is_remembered() -> None:
    headers = {"If-Match": '"limit-a", "limit-b"'}
    assert len(Preconditions.from_headers(headers).if_match) == 2  # type: ignore[arg-type]
    decision = evaluate("PUT", headers, ResourceState(ETag("limit-a")), Policy(max_tags=1))
    assert isinstance(decision, BadPrecondition) and "more than 1" in decision.detail
    decision = evaluate("PUT", headers, ResourceState(ETag("limit-a")), Policy(max_header_length=5))
    assert isinstance(decision, BadPrecondition) and "limit is 5" in decision.detail


def test_a_two_digit_year_is_read_against_the_clock_each_time() -> None:
    headers = {"If-Modified-Since": "Sunday, 06-Nov-94 08:49:37 GMT"}
    in_2026 = Preconditions.from_headers(headers, now=datetime(2026, 1, 1, tzinfo=UTC))
    in_2060 = Preconditions.from_headers(headers, now=datetime(2060, 1, 1, tzinfo=UTC))
    assert in_2026.if_modified_since == datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)
    assert in_2060.if_modified_since == datetime(2094, 11, 6, 8, 49, 37, tzinfo=UTC)
    # Not remembered (other tests may have cached invalid values that merely contain it).
    assert headers["If-Modified-Since"] not in {key[2] for key in conditions._parsed}


def test_long_fields_are_not_remembered() -> None:
    long = ", ".join(f'"long-{n}"' for n in range(CACHED_FIELD_LENGTH // 8))
    assert len(long) > CACHED_FIELD_LENGTH
    parsed = Preconditions.from_headers({"If-None-Match": long})
    assert len(parsed.if_none_match) == CACHED_FIELD_LENGTH // 8  # type: ignore[arg-type]
    assert not any(long in key for key in conditions._parsed)


def test_the_remembered_parses_are_bounded() -> None:
    for n in range(CACHED_PARSES + 100):
        Preconditions.from_headers({"If-Match": f'"bound-{n}"'})
    assert len(conditions._parsed) == CACHED_PARSES
    # The oldest went first: the newest are still there.
    assert any(f'"bound-{CACHED_PARSES + 99}"' in key for key in conditions._parsed)
    assert not any(key[0] == '"bound-0"' for key in conditions._parsed)


def test_what_is_remembered_is_frozen() -> None:
    read = read_fields({"If-Match": '"frozen-1"'}, 64, 8190, None)
    assert read.sole_if_match == "frozen-1" and isinstance(read.proceed, Proceed)
    assert read.proceed.condition.if_match == (ETag("frozen-1"),)
    for value in (read, read.preconditions, read.proceed, read.proceed.condition):
        field = dataclasses.fields(value)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, None)


@pytest.mark.parametrize(
    ("headers", "shape"),
    [
        ({"If-Match": '"v3"'}, "if-match"),
        ({"If-None-Match": '"a", "b", W/"c"'}, "if-none-match"),
        ({"If-None-Match": 'W/"v3"'}, "if-none-match"),
        ({"If-Match": 'W/"v3"'}, None),  # weak: the weak-echo policy may apply
        ({"If-Match": '"v3", "v4"'}, None),
        ({"If-Match": "*"}, None),
        ({"If-None-Match": "*"}, None),
        ({"If-Match": "v3"}, None),  # a bare token: the leniency's own rules apply
        ({"If-Match": '"v3"', "If-None-Match": '"v4"'}, None),
        ({"If-Match": '"v3"', "If-Unmodified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"}, None),
    ],
)
def test_the_shortcut_shapes(headers: dict[str, str], shape: str | None) -> None:
    read = read_fields(headers, 64, 8190, None)
    found = "if-match" if read.sole_if_match else None
    found = found or ("if-none-match" if read.sole_if_none_match is not None else None)
    assert found == shape
    assert (read.proceed is not None) == (shape is not None)


def test_a_304_from_the_shortcut_carries_the_current_validators() -> None:
    state = ResourceState(version_etag(3), datetime(2026, 1, 2, 3, 4, 5, 600_000, tzinfo=UTC))
    decision = evaluate("GET", {"If-None-Match": '"v2", "v3"'}, state)
    # The tag the client validated by; no Last-Modified beside it (RFC 9110 §15.4.5).
    assert decision == NotModified(version_etag(3), None)
    assert evaluate("PUT", {"If-None-Match": '"v2", "v3"'}, state).status == 412
