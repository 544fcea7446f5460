"""Reading the precondition headers: repeated lines joined (RFC 9110 §5.3), within the limits,
in linear work; one unquoted token kept apart for ``evaluate`` to judge."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ifmatch.core import (
    BadPrecondition,
    ETag,
    InvalidPreconditionHeader,
    Policy,
    Preconditions,
    ResourceState,
    evaluate,
    join_header_lines,
    version_etag,
)

LIMIT = Policy().max_header_length


class Counted:
    """An iterable of ``n`` copies of one header line that counts the lines taken from it."""

    def __init__(self, name: str, value: str, n: int) -> None:
        self.line, self.n, self.taken = (name, value), n, 0

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for _ in range(self.n):
            self.taken += 1
            yield self.line


def test_repeated_lines_are_joined_in_order() -> None:
    headers = [
        ("If-Match", '"a"'),
        ("Content-Type", "text/plain"),
        (b"IF-MATCH", b'"b"'),
        ("if-none-match", "*"),
        ("If-Match", ""),
    ]
    assert join_header_lines(headers) == {"if-match": '"a", "b", ', "if-none-match": "*"}


@pytest.mark.parametrize("n", [100_000, 1_000_000])
@pytest.mark.parametrize("name", ["If-Match", "If-None-Match", "If-Unmodified-Since"])
def test_a_flood_of_lines_is_refused_at_the_limit_without_reading_the_rest(
    name: str, n: int
) -> None:
    value = "x" if name.endswith("Since") else '"v1"'
    lines = Counted(name, value, n)
    decision = evaluate("PUT", lines, ResourceState(version_etag(1)))
    assert isinstance(decision, BadPrecondition) and decision.header == name
    assert f"the limit is {LIMIT}" in decision.detail
    # Each line adds its value and a ", ": the line that passes the limit is the last read,
    # however many follow it (a bounded number of lines, so bounded work, for any n).
    assert lines.taken == LIMIT // (len(value) + 2) + 1


def test_the_line_that_passes_the_limit_is_named() -> None:
    lines = [("If-Match", "x" * 4000)] * 3  # 4000, 8002, 12004 characters
    with pytest.raises(InvalidPreconditionHeader) as caught:
        join_header_lines(lines)
    assert caught.value.header == "If-Match"
    assert caught.value.reason == (
        f"value is 12004 characters long after 3 field lines joined; the limit is {LIMIT}"
    )
    assert join_header_lines(lines[:2]) == {"if-match": "x" * 4000 + ", " + "x" * 4000}


def test_one_line_over_the_limit() -> None:
    with pytest.raises(InvalidPreconditionHeader) as caught:
        join_header_lines({"If-Modified-Since": "x" * 11}, max_length=10)
    assert caught.value.header == "If-Modified-Since"
    assert caught.value.reason == "value is 11 characters long; the limit is 10"
    assert join_header_lines({"If-Modified-Since": "x" * 10}, max_length=10)


def calls_made(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Counter[str]]:
    """Run ``function``, counting every function call it makes, Python or C, by name: a count
    of the work done, the same on any machine at any load."""
    counts: Counter[str] = Counter()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            counts[frame.f_code.co_name] += 1
        elif event == "c_call":
            counts[getattr(arg, "__qualname__", repr(arg))] += 1

    sys.setprofile(profile)
    try:
        result = function(*args, **kwargs)
    finally:
        sys.setprofile(None)
    return result, counts


def test_many_accepted_lines_are_joined_in_linear_work() -> None:
    """100,000 lines under a limit that admits them all: the work grows as the input does
    (tenfold for ten times the lines), and each field is joined once, not once per line."""
    small = [("If-Match", '"v1"'), ("Accept", "*/*")] * 10_000
    large = small * 10
    joined_small, work_small = calls_made(join_header_lines, small, max_length=10**7)
    joined_large, work_large = calls_made(join_header_lines, large, max_length=10**7)
    assert joined_large == {"if-match": ", ".join(['"v1"'] * 100_000)}
    assert len(joined_small["if-match"]) * 10 + 18 == len(joined_large["if-match"])
    assert work_large["str.join"] == work_small["str.join"] == 1
    assert sum(work_large.values()) <= 10.5 * sum(work_small.values())


def test_one_unquoted_token_is_kept_apart_for_evaluate() -> None:
    parsed = Preconditions.from_headers({"If-Match": "v3", "If-None-Match": '"v1"'})
    assert parsed.if_match == (ETag("v3"),) and parsed.bare_token_fields == {"If-Match"}
    parsed = Preconditions.from_headers({"If-Match": '"v3"', "If-None-Match": " v1 "})
    assert parsed.if_none_match == (ETag("v1"),) and parsed.bare_token_fields == {"If-None-Match"}
    parsed = Preconditions.from_headers({"If-Match": "v3", "If-None-Match": "v1"})
    assert parsed.bare_token_fields == {"If-Match", "If-None-Match"}
    parsed = Preconditions.from_headers({"If-Match": "v3", "If-Modified-Since": "x"})
    assert parsed.if_match == (ETag("v3"),) and parsed.if_none_match is None
    assert parsed.bare_token_fields == {"If-Match"}
    assert Preconditions.from_headers({"If-Match": '"v3"'}).bare_token_fields == frozenset()
    with pytest.raises(InvalidPreconditionHeader, match="unquoted entity-tag v3"):
        Preconditions.from_headers({"If-Match": "v3, v4"})
    with pytest.raises(InvalidPreconditionHeader) as caught:
        Preconditions.from_headers({"If-Match": "v3", "If-None-Match": '"v1'})
    assert caught.value.header == "If-None-Match"
