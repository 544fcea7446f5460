"""Entity-tag grammar (RFC 9110 §8.8.3) and comparison (§8.8.3.2)."""

from __future__ import annotations

import pytest

from ifmatch.core import (
    ANY,
    ETag,
    InvalidPreconditionHeader,
    UnquotedEntityTag,
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

# §5.6.1: optional whitespace and empty list elements are read, as recipients must.
LENIENT = [
    (' \t"a" ,, , "b" ,', (ETag("a"), ETag("b"))),
    ("", ()),
    (" , ", ()),
    ("  *  ", ANY),
]

# A value that is exactly one unquoted token (an Eve-style `_etag` echoed as it is): malformed,
# raised as UnquotedEntityTag carrying the strong tag it would name. Whether it counts is
# evaluate's decision (Policy.accept_bare_version_token), never the parser's.
UNQUOTED = [
    ("xyzzy", ETag("xyzzy")),
    ("v3", ETag("v3")),
    (" \tv3 ", ETag("v3")),
    ("v3~1a2b3c4d", ETag("v3~1a2b3c4d")),
    ("c.3q2-7w_x", ETag("c.3q2-7w_x")),
    ("!#$%&'*+-.^_`|~", ETag("!#$%&'*+-.^_`|~")),
]

MALFORMED = [
    ('"unterminated', "unbalanced"),
    ('w/"x"', "lowercase"),
    ("W/x", "W/"),
    ('*, "a"', "'*'"),
    ('"a", *', "'*'"),
    ('"a" "b"', "expected ','"),
    ('a"b', "unquoted entity-tag a at position 0"),
    ('"a\x00"', "unbalanced or invalid"),
    ("\x7f", "invalid character"),
    ('"a"b', "expected ','"),
    ('"\u20ac"', "unbalanced or invalid"),
    # §8.8.3: opaque-tag = DQUOTE *etagc DQUOTE. No unquoted token is a list member, whatever
    # else the list holds (these were once read as tags, and let writes through).
    ('"v3", garbage', "unquoted entity-tag garbage at position 6"),
    ("v3, garbage", "unquoted entity-tag v3 at position 0"),
    ('v1, W/"v2"', "unquoted entity-tag v1"),
    ('"stale", v3', "unquoted entity-tag v3"),
    ("v3, v3", "unquoted entity-tag v3"),
    ("v3,", "unquoted entity-tag v3"),
    (", v3", "unquoted entity-tag v3"),
    ("v3 v4", "unquoted entity-tag v3"),
    ("v3 W/", "unquoted entity-tag v3"),
    ('v3"', "unquoted entity-tag v3"),
    ("caf\xe9", "unquoted entity-tag caf"),
    ("\xe9", "invalid character"),
    ("a/b", "unquoted entity-tag a"),
    ("x" * 100 + ", y", "unquoted entity-tag " + "x" * 37 + "..."),
]


@pytest.mark.parametrize(("value", "parsed"), ROUND_TRIP)
def test_parse_and_format_round_trip(value: str, parsed: object) -> None:
    assert parse_etag_list(value) == parsed
    assert format_etag_list(parsed) == value  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "parsed"), LENIENT)
def test_lenient_inputs(value: str, parsed: object) -> None:
    assert parse_etag_list(value) == parsed


@pytest.mark.parametrize(("value", "tag"), UNQUOTED)
def test_one_unquoted_token_is_malformed_but_carries_its_reading(value: str, tag: ETag) -> None:
    with pytest.raises(UnquotedEntityTag) as caught:
        parse_etag_list(value, header="If-Match")
    assert isinstance(caught.value, InvalidPreconditionHeader)
    assert caught.value.header == "If-Match" and caught.value.status_hint == 400
    assert caught.value.tag == tag and not caught.value.tag.weak
    assert caught.value.reason == f"the entity-tag {tag.opaque} is not quoted: write it {tag}"


@pytest.mark.parametrize(("value", "reason"), MALFORMED)
def test_malformed_lists_name_the_problem(value: str, reason: str) -> None:
    with pytest.raises(InvalidPreconditionHeader) as caught:
        parse_etag_list(value, header="If-None-Match")
    assert type(caught.value) is InvalidPreconditionHeader  # not the one lone-token shape
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
    # One value, not a list: an unquoted token (an Eve-style `_etag` member) reads as strong.
    assert parse_etag("abc") == ETag("abc")
    assert parse_etag(" v3 ") == ETag("v3")
    for bad in ('"a", "b"', "*", "", "a, b", "a b", 'W/"1", a'):
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
