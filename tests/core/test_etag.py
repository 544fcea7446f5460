"""Entity-tag grammar (RFC 9110 §8.8.3) and comparison (§8.8.3.2)."""

from __future__ import annotations

import pytest

from ifmatch.core import (
    ANY,
    ETag,
    InvalidPreconditionHeader,
    format_etag_list,
    parse_etag,
    parse_etag_list,
    strong_match,
    weak_match,
)

# (field value, parsed) — also run backwards through format_etag_list where canonical.
ROUND_TRIP = [
    ('"xyzzy"', (ETag("xyzzy"),)),
    ('W/"xyzzy"', (ETag("xyzzy", weak=True),)),
    ('""', (ETag(""),)),
    ('"xyzzy", "r2d2xxxx", "c3piozzzz"', (ETag("xyzzy"), ETag("r2d2xxxx"), ETag("c3piozzzz"))),
    ('"a,b", W/"c"', (ETag("a,b"), ETag("c", weak=True))),
    ("*", ANY),
    ('"caf\xe9"', (ETag("caf\xe9"),)),
]

LENIENT = [
    ("xyzzy", (ETag("xyzzy"),)),
    (' \t"a" ,, , "b" ,', (ETag("a"), ETag("b"))),
    ("", ()),
    (" , ", ()),
    ("  *  ", ANY),
    ('v1, W/"v2"', (ETag("v1"), ETag("v2", weak=True))),
]

MALFORMED = [
    ('"unterminated', "unbalanced"),
    ('w/"x"', "lowercase"),
    ("W/x", "W/"),
    ('*, "a"', "'*'"),
    ('"a", *', "'*'"),
    ('"a" "b"', "expected ','"),
    ('a"b', "expected ','"),
    ('"a\x00"', "unbalanced or invalid"),
    ("\x7f", "invalid character"),
    ('"a"b', "expected ','"),
    ('"\u20ac"', "unbalanced or invalid"),
]


@pytest.mark.parametrize(("value", "parsed"), ROUND_TRIP)
def test_parse_and_format_round_trip(value: str, parsed: object) -> None:
    assert parse_etag_list(value) == parsed
    assert format_etag_list(parsed) == value  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "parsed"), LENIENT)
def test_lenient_inputs(value: str, parsed: object) -> None:
    assert parse_etag_list(value) == parsed


@pytest.mark.parametrize(("value", "reason"), MALFORMED)
def test_malformed_lists_name_the_problem(value: str, reason: str) -> None:
    with pytest.raises(InvalidPreconditionHeader) as caught:
        parse_etag_list(value, header="If-None-Match")
    assert caught.value.header == "If-None-Match"
    assert reason in caught.value.reason
    assert caught.value.status_hint == 400


def test_limits() -> None:
    with pytest.raises(InvalidPreconditionHeader, match="more than 2"):
        parse_etag_list('"a", "b", "c"', max_tags=2)
    with pytest.raises(InvalidPreconditionHeader, match="limit is 10"):
        parse_etag_list('"' + "a" * 20 + '"', max_length=10)


def test_parse_single_etag() -> None:
    assert parse_etag('W/"1"') == ETag("1", weak=True)
    assert parse_etag("abc") == ETag("abc")
    for bad in ('"a", "b"', "*", ""):
        with pytest.raises(InvalidPreconditionHeader):
            parse_etag(bad)


def test_etag_value_is_validated_and_immutable() -> None:
    with pytest.raises(ValueError):
        ETag('has"quote')
    with pytest.raises(ValueError):
        ETag("has space")
    tag = ETag("x")
    with pytest.raises(AttributeError):
        tag.weak = True  # type: ignore[misc]
    assert tag.as_weak().as_strong() == tag
    assert str(ANY) == "*"


# RFC 9110 §8.8.3.2, the comparison table, row by row.
@pytest.mark.parametrize(
    ("a", "b", "strong", "weak"),
    [
        (ETag("1", weak=True), ETag("1", weak=True), False, True),
        (ETag("1", weak=True), ETag("2", weak=True), False, False),
        (ETag("1", weak=True), ETag("1"), False, True),
        (ETag("1"), ETag("1"), True, True),
    ],
)
def test_rfc_comparison_table(a: ETag, b: ETag, strong: bool, weak: bool) -> None:
    assert strong_match(a, b) is strong and strong_match(b, a) is strong
    assert weak_match(a, b) is weak and weak_match(b, a) is weak
