"""Property-based tests of the entity-tag grammar and comparison laws."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ifmatch.core import (
    ETag,
    InvalidPreconditionHeader,
    Policy,
    Proceed,
    ResourceState,
    UnquotedEntityTag,
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
# RFC 9110 §5.6.2: token = 1*tchar.
tokens = st.text(
    st.sampled_from(
        "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    ),
    min_size=1,
    max_size=12,
).filter(lambda token: token != "*")  # "*" alone is If-Match's own member
# The entity-tag grammar, written independently of the parser: entity-tags and the separators
# between them (OWS and commas); a value made of these only is the grammar's (§8.8.3, §5.6.1).
ENTITY_TAG = re.compile(r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"')
CURRENT = version_etag(3)


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


def grammatical(value: str) -> bool:
    """``*``, or entity-tags separated by commas (with optional whitespace and empty elements)."""
    if value.strip(" \t") == "*":
        return True
    gaps = ENTITY_TAG.split(value)
    return all(not gap.strip(" \t,") for gap in gaps) and all("," in gap for gap in gaps[1:-1])


@given(header_text)
def test_only_the_grammar_is_read_as_tags(value: str) -> None:
    try:
        parse_etag_list(value)
    except UnquotedEntityTag as error:
        assert value.strip(" \t") == error.tag.opaque  # exactly one token, nothing else
    except InvalidPreconditionHeader:
        assert not grammatical(value)
    else:
        assert grammatical(value)


@given(
    st.lists(st.one_of(etags.map(str), tokens), min_size=1, max_size=6),
    st.sampled_from([", ", ",", " ,\t", ", , "]),
)
def test_an_unquoted_token_beside_anything_else_is_malformed(members: list[str], sep: str) -> None:
    value = sep.join(members)
    if all(member.startswith(('"', 'W/"')) for member in members):
        assert parse_etag_list(value) == tuple(
            ETag(m.removeprefix("W/")[1:-1], m[0] == "W") for m in members
        )
        return
    with pytest.raises(InvalidPreconditionHeader) as caught:
        parse_etag_list(value)
    # Only a value that is exactly one token raises UnquotedEntityTag (the shape evaluate may
    # accept); beside anything else a token is plainly malformed.
    assert isinstance(caught.value, UnquotedEntityTag) == (len(members) == 1)


@given(
    st.sampled_from(["If-Match", "If-None-Match"]),
    st.one_of(header_text, tokens, tokens.map(lambda t: f"{t}, v3"), st.just("v3")),
    st.sampled_from(["GET", "PUT", "PATCH", "DELETE"]),
    st.booleans(),
)
def test_nothing_outside_the_grammar_passes_but_the_current_version_token(
    header: str, value: str, method: str, lenient: bool
) -> None:
    """A precondition that passes (a write proceeds, or a 304 is answered) was grammatical, or
    was exactly the bare token of the current version tag under the default, lenient policy."""
    policy = Policy(require_precondition=frozenset(), accept_bare_version_token=lenient)
    decision = evaluate(method, {header: value}, ResourceState(CURRENT), policy)
    if decision.status in (None, 304) or (decision.status == 412 and header == "If-None-Match"):
        bare_current = lenient and value.strip(" \t") == CURRENT.opaque
        assert grammatical(value) or bare_current, (value, decision)
    if header == "If-Match" and isinstance(decision, Proceed) and not grammatical(value):
        assert decision.condition.if_match == (CURRENT,)


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
