"""HTTP dates (RFC 9110 §5.6.7): three formats in, IMF-fixdate out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ifmatch.core import format_http_date, parse_http_date, to_http_precision

EXPECTED = datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)


# The three examples of RFC 9110 §5.6.7, all the same instant.
@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "  Sun, 06 Nov 1994 08:49:37 GMT\t",
    ],
)
def test_rfc_examples(value: str) -> None:
    assert parse_http_date(value) == EXPECTED


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "sun, 06 nov 1994 08:49:37 gmt",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "1994-11-06T08:49:37Z",
        "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",
        "x" * 10_000,
    ],
)
def test_invalid_dates_are_none(value: str) -> None:
    assert parse_http_date(value) is None


def test_leap_second_is_clamped() -> None:
    assert parse_http_date("Wed, 31 Dec 2016 23:59:60 GMT") == datetime(
        2016, 12, 31, 23, 59, 59, tzinfo=UTC
    )


def test_two_digit_years() -> None:
    # Without a clock: a fixed pivot.
    assert parse_http_date("Monday, 01-Jan-69 00:00:00 GMT").year == 2069  # type: ignore[union-attr]
    assert parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT").year == 1970  # type: ignore[union-attr]
    # With the server's clock, the RFC rule: more than 50 years ahead means the past century.
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_http_date("Monday, 01-Jan-76 00:00:00 GMT", now=now).year == 2076  # type: ignore[union-attr]
    assert parse_http_date("Friday, 01-Jan-77 00:00:00 GMT", now=now).year == 1977  # type: ignore[union-attr]


def test_format_always_imf_fixdate_in_utc() -> None:
    moment = datetime(1994, 11, 6, 9, 49, 37, 999999, tzinfo=timezone(timedelta(hours=1)))
    assert format_http_date(moment) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert format_http_date(datetime(1994, 11, 6, 8, 49, 37)) == "Sun, 06 Nov 1994 08:49:37 GMT"


def test_to_http_precision() -> None:
    assert to_http_precision(datetime(2026, 1, 1, 0, 0, 0, 500)) == datetime(2026, 1, 1, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 31)))
def test_format_parse_round_trip(moment: datetime) -> None:
    assert parse_http_date(format_http_date(moment)) == to_http_precision(moment)
