"""The conditional-GET cache's bounds and freshening rules."""

from __future__ import annotations

import pytest

from ifmatch.client import Response, ResponseCache, Validators
from ifmatch.core import ETag

TAG = Validators(ETag("v1"))


def ok(content: bytes, *headers: tuple[str, str]) -> Response:
    return Response(200, (("Content-Type", "text/plain"), *headers), content)


def test_entries_are_bounded_least_recently_used_first() -> None:
    cache = ResponseCache(max_entries=2)
    for n in range(3):
        cache.store(f"http://a.test/{n}", (), ok(b"x"), TAG)
    assert len(cache) == 2
    assert cache.lookup("http://a.test/0", ()) is None
    assert cache.lookup("http://a.test/2", ()) is not None


def test_bytes_are_bounded() -> None:
    cache = ResponseCache(max_bytes=10, max_entry_bytes=10)
    cache.store("http://a.test/1", (), ok(b"123456"), TAG)
    cache.store("http://a.test/2", (), ok(b"123456"), TAG)
    assert cache.size <= 10
    assert cache.lookup("http://a.test/1", ()) is None
    assert cache.lookup("http://a.test/2", ()) is not None


def test_large_entries_and_unrevalidatable_ones_are_not_stored() -> None:
    cache = ResponseCache(max_entry_bytes=4)
    cache.store("http://a.test/big", (), ok(b"12345"), TAG)
    cache.store("http://a.test/novalidator", (), ok(b"1"), Validators())
    cache.store("http://a.test/unread", (), Response(200, ()), TAG)
    cache.store("http://a.test/star", (), ok(b"1", ("Vary", "*")), TAG)
    assert len(cache) == 0


def test_replacing_an_entry_keeps_the_byte_count_right() -> None:
    cache = ResponseCache()
    cache.store("http://a.test/1", (), ok(b"123"), TAG)
    cache.store("http://a.test/1", (), ok(b"12345"), TAG)
    assert (len(cache), cache.size) == (1, 5)
    cache.forget("http://a.test/1")
    assert (len(cache), cache.size) == (0, 0)


def test_stored_content_is_decoded_so_encoding_headers_go() -> None:
    cache = ResponseCache()
    cache.store("http://a.test/1", (), ok(b"abc", ("Content-Encoding", "gzip")), TAG)
    entry = cache.lookup("http://a.test/1", ())
    assert entry is not None
    assert all(name.lower() != "content-encoding" for name, _ in entry.headers)


def test_freshening_keeps_framing_and_takes_new_metadata() -> None:
    cache = ResponseCache()
    cache.store("http://a.test/1", (), ok(b"abc", ("Cache-Control", "max-age=1")), TAG)
    entry = cache.lookup("http://a.test/1", ())
    assert entry is not None
    fresh = entry.freshened(
        Response(304, (("Cache-Control", "max-age=60"), ("Content-Length", "0")))
    )
    assert fresh.header("Cache-Control") == "max-age=60"
    assert fresh.header("Content-Length") == "3"
    assert fresh.header("Content-Type") == "text/plain"
    assert fresh.content == b"abc" and fresh.revalidated


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ResponseCache(max_entries=0)
    cache = ResponseCache()
    cache.clear()
    assert len(cache) == 0
