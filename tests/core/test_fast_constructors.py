"""The hot-path constructors build the same frozen values as the public constructors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ifmatch.core import ETag, UnquotedEntityTag, parse_etag_list
from ifmatch.core.conditions import Preconditions
from ifmatch.core.decisions import (
    NotModified,
    Proceed,
    WriteCondition,
    not_modified,
    proceed_with,
)
from ifmatch.core.etag import ANY

tags = st.lists(
    st.builds(ETag, st.text(alphabet="abcxyz019-_.", max_size=8), st.booleans()), max_size=3
).map(tuple)
tag_lists = st.none() | st.just(ANY) | tags
moments = st.none() | st.datetimes(timezones=st.just(UTC))


@given(tag_lists, tag_lists, moments, st.sampled_from([(), ("precondition-required",)]))
def test_proceed_with_equals_the_public_constructor(
    if_match: object, if_none_match: object, ius: datetime | None, warnings: tuple[str, ...]
) -> None:
    fast = proceed_with(if_match, if_none_match, ius, warnings)  # type: ignore[arg-type]
    public = Proceed(WriteCondition(if_match, if_none_match, ius), warnings)  # type: ignore[arg-type]
    assert fast == public and hash(fast) == hash(public) and repr(fast) == repr(public)
    assert fast.condition.is_unconditional == public.condition.is_unconditional


@given(st.none() | st.builds(ETag, st.text(alphabet="abc019", max_size=6)), moments)
def test_not_modified_equals_the_public_constructor(
    etag: ETag | None, last_modified: datetime | None
) -> None:
    fast = not_modified(etag, last_modified)
    assert fast == NotModified(etag, last_modified)
    assert fast.headers == NotModified(etag, last_modified).headers


def test_fast_values_stay_frozen() -> None:
    values: list[object] = [
        proceed_with(None, ANY, None, ()),
        proceed_with(None, ANY, None, ()).condition,
        not_modified(ETag("v1"), None),
        Preconditions.from_headers({"If-Match": '"v1"'}),
        parse_etag_list('"a", W/"b"')[0],  # type: ignore[index]
    ]
    for value in values:
        field = dataclasses.fields(value)[0].name  # type: ignore[arg-type]
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, None)


@given(
    st.dictionaries(
        st.sampled_from(["If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"]),
        st.sampled_from(
            ['"v1"', '"a", W/"b"', "*", "Sun, 06 Nov 1994 08:49:37 GMT", "junk", "v1, junk"]
        ),
    )
)
def test_parsed_preconditions_equal_the_public_constructor(headers: dict[str, str]) -> None:
    from ifmatch.core.dates import parse_http_date
    from ifmatch.core.errors import InvalidPreconditionHeader

    try:
        parsed = Preconditions.from_headers(headers)
    except InvalidPreconditionHeader:
        return

    bare: set[str] = set()

    def tags(name: str) -> object:
        if name not in headers:
            return None
        try:
            return parse_etag_list(headers[name])
        except UnquotedEntityTag as error:
            bare.add(name)
            return (error.tag,)

    def date(name: str) -> datetime | None:
        return None if name not in headers else parse_http_date(headers[name])

    expected = Preconditions(
        tags("If-Match"),  # type: ignore[arg-type]
        tags("If-None-Match"),  # type: ignore[arg-type]
        date("If-Modified-Since"),
        date("If-Unmodified-Since"),
        frozenset(bare),
    )
    assert parsed == expected and repr(parsed) == repr(expected)
