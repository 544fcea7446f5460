"""Minting entity-tags from versions and from content."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ifmatch.core import (
    ETag,
    content_etag,
    is_version_etag,
    parse_etag,
    version_etag,
    version_from_etag,
    version_number,
)
from services import SRC


def test_version_tags() -> None:
    assert version_etag(42) == ETag("v42")
    assert version_etag("a1-b2") == ETag("va1-b2")
    assert version_from_etag(ETag("v42")) == "42"
    assert version_from_etag(ETag("v42", weak=True)) == "42"
    assert version_from_etag(ETag("42")) is None
    assert is_version_etag(ETag("v7")) and not is_version_etag(content_etag(b"v7"))


def test_variants_get_distinct_tags() -> None:
    json_tag = version_etag(3, variant="application/json")
    html_tag = version_etag(3, variant="text/html")
    assert len({json_tag, html_tag, version_etag(3)}) == 3
    assert version_from_etag(json_tag, variant="application/json") == "3"
    assert version_from_etag(json_tag, variant="text/html") is None
    assert version_from_etag(json_tag) is None


@pytest.mark.parametrize(
    ("opaque", "number"),
    [
        ("v0", 0),
        ("v3", 3),
        ("v2147483648", 2**31),
        ("v" + "9" * 128, int("9" * 128)),
        ("v03", None),
        ("v00", None),
        ("v+3", None),
        ("v-3", None),
        ("v-0", None),
        ("v3.0", None),
        ("v3_", None),
        ("V3", None),
        ("3", None),
        ("v", None),
        ("v\u00b3", None),
        ("v3\u00a0", None),
        ("v" + "9" * 129, None),
        ("v3~", None),
        ("v3~0000000g", None),
    ],
)
def test_a_tag_names_version_n_only_when_it_is_exactly_v_n(opaque: str, number: int | None) -> None:
    assert version_number(ETag(opaque)) == number
    assert version_number(ETag(opaque, weak=True)) == number
    if number is not None:
        assert version_etag(number) == ETag(opaque)


def test_version_numbers_of_variant_tags() -> None:
    tag = version_etag(7, variant="application/json")
    assert version_number(tag, variant="application/json") == 7
    assert version_number(tag) is None
    assert version_number(tag, variant="text/html") is None
    assert version_number(version_etag(7), variant="application/json") is None
    digest = tag.opaque.partition("~")[2]
    assert version_number(ETag(f"v07~{digest}"), variant="application/json") is None


@given(st.integers(min_value=0, max_value=10**40), st.sampled_from([None, "a", "text/html"]))
def test_version_number_reads_back_exactly_the_minted_version(
    version: int, variant: str | None
) -> None:
    assert version_number(version_etag(version, variant=variant), variant=variant) == version


@given(st.text(alphabet="0123456789+-._vV~ab", min_size=1, max_size=24))
def test_two_tags_name_the_same_version_only_if_they_are_the_same_tag(text: str) -> None:
    # The header check compares opaque strings; the stores compare version numbers. They agree
    # because a version number has exactly one tag.
    tag = ETag(text)
    number = version_number(tag)
    if number is not None:
        assert tag == version_etag(number)


@pytest.mark.parametrize("bad", [True, "", "has space", 'q"uote', "x" * 129, -1, -(2**70)])
def test_invalid_versions(bad: object) -> None:
    with pytest.raises(ValueError):
        version_etag(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=10**30))
def test_version_tag_round_trip(version: int) -> None:
    tag = version_etag(version)
    assert parse_etag(str(tag)) == tag
    assert version_from_etag(tag) == str(version)


def test_version_tags_are_stable_across_processes() -> None:
    code = (
        "from ifmatch.core import version_etag, content_etag;"
        "print(version_etag(9, variant='application/json'), content_etag(b'hello'))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(SRC)},
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {f"{version_etag(9, variant='application/json')} {content_etag(b'hello')}\n"}


def test_content_tags() -> None:
    tag = content_etag(b"hello")
    assert tag == content_etag(b"hello") and not tag.weak
    assert tag != content_etag(b"hello!")
    assert content_etag(b"hello", key=b"secret") != tag
    assert content_etag(b"hello", weak=True).weak
    assert parse_etag(str(tag)) == tag
