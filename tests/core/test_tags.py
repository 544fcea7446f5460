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


@pytest.mark.parametrize("bad", [True, "", "has space", 'q"uote', "x" * 129])
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
