"""Property-based tests of the entity-tag grammar and comparison laws."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ifmatch.core import (
    ETag,
    InvalidPreconditionHeader,
    ResourceState,
    evaluate,
    format_etag_list,
    parse_etag_list,
    strong_match,
    version_etag,
    weak_match,
)

etagc = st.characters(
    codec="latin-1", exclude_characters='"', exclude_categories=("Cc", "Zs")
).filter(lambda c: c == "\x21" or "\x23" <= c <= "\x7e" or "\x80" <= c <= "\xff")
etags = st.builds(ETag, st.text(etagc, max_size=20), st.booleans())
header_text = st.text(
    st.one_of(st.sampled_from(list(' \t,*"W/w')), st.characters(codec="latin-1")), max_size=80
)


@given(st.lists(etags, max_size=10))
def test_format_then_parse_is_identity(tags: list[ETag]) -> None:
    assert parse_etag_list(format_etag_list(tags)) == tuple(tags)


@given(etags, etags)
def test_strong_match_implies_weak_match(a: ETag, b: ETag) -> None:
    if strong_match(a, b):
        assert weak_match(a, b)


@given(etags, etags)
def test_weak_tag_never_strong_matches(a: ETag, b: ETag) -> None:
    assert not strong_match(a.as_weak(), b)
    assert not strong_match(a, b.as_weak())


@given(etags, etags)
def test_comparisons_are_symmetric(a: ETag, b: ETag) -> None:
    assert strong_match(a, b) == strong_match(b, a)
    assert weak_match(a, b) == weak_match(b, a)


@given(header_text)
def test_arbitrary_text_parses_or_raises_the_documented_error(value: str) -> None:
    try:
        result = parse_etag_list(value)
    except InvalidPreconditionHeader as error:
        assert error.header == "If-Match" and error.reason
    else:
        assert result == parse_etag_list(format_etag_list(result))


@given(header_text, st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "POST"]))
def test_evaluate_never_raises_on_arbitrary_headers(value: str, method: str) -> None:
    for name in ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"):
        decision = evaluate(method, {name: value}, ResourceState(version_etag(1)))
        assert decision.status in (None, 304, 400, 412, 428)


# A backtracking parser takes minutes on these; the timeout turns a hang into a failure
# without asserting anything about speed.
@pytest.mark.timeout(60)
@settings(max_examples=20, deadline=None)
@given(st.sampled_from(['"', ",", " ", "a", 'W/"', '"a",', "\\", "*", '"a" ']))
def test_64_kib_header_parses_or_raises(unit: str) -> None:
    value = unit * (65536 // len(unit))
    try:
        result = parse_etag_list(value, max_length=1 << 17, max_tags=1 << 17)
    except InvalidPreconditionHeader as error:
        assert error.reason
    else:
        assert isinstance(result, tuple) or str(result) == "*"
    # With the default limits the same header is refused before any parsing.
    try:
        parse_etag_list(value)
    except InvalidPreconditionHeader as error:
        assert "limit" in error.reason
    else:
        raise AssertionError("a 64 KiB header must exceed the default length limit")
