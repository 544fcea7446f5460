"""HTTP dates (RFC 9110 §5.6.7): three formats in, IMF-fixdate out."""

from __future__ import annotations

import contextlib
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
        # DIGIT is %x30-39: digits of other scripts are not digits here (int() reads them).
        "Sun, \u0660\u0666 Nov 1994 08:49:37 GMT",  # Arabic-Indic
        "Sun, 06 Nov \uff11\uff19\uff19\uff14 08:49:37 GMT",  # fullwidth
        "Sun, 06 Nov 1994 \u0968\u0966:49:37 GMT",  # Devanagari
        "Sunday, 06-Nov-\u0669\u0664 08:49:37 GMT",
        "Sun Nov \u0e51\u0e56 08:49:37 1994",  # Thai
        "Sun Nov  \u0666 08:49:37 1994",
    ],
)
def test_invalid_dates_are_none(value: str) -> None:
    assert parse_http_date(value) is None


def test_leap_second_is_clamped() -> None:
    assert parse_http_date("Wed, 31 Dec 2016 23:59:60 GMT") == datetime(
        2016, 12, 31, 23, 59, 59, tzinfo=UTC
    )


NOW = datetime(2026, 11, 22, 10, 30, 15, tzinfo=UTC)


# RFC 9110 §5.6.7: "Recipients of a timestamp value in rfc850-date format, which uses a two-digit
# year, MUST interpret a timestamp that appears to be more than 50 years in the future as
# representing the most recent year in the past that had the same last two digits."
@pytest.mark.parametrize(
    ("now", "value", "year"),
    [
        # The example: 46 years ahead is not more than 50.
        (NOW, "Friday, 01-Jan-72 00:00:00 GMT", 2072),
        (NOW, "Thursday, 01-Jan-70 00:00:00 GMT", 2070),
        (NOW, "Sunday, 22-Nov-26 10:30:15 GMT", 2026),
        (NOW, "Sunday, 06-Nov-94 08:49:37 GMT", 1994),
        (NOW, "Friday, 31-Dec-99 23:59:59 GMT", 1999),
        (NOW, "Saturday, 01-Jan-00 00:00:00 GMT", 2000),
        # The boundary, to the second: exactly 50 years ahead is not "more than 50 years".
        (NOW, "Sunday, 22-Nov-76 10:30:15 GMT", 2076),
        (NOW, "Sunday, 22-Nov-76 10:30:16 GMT", 1976),
        (NOW, "Saturday, 21-Nov-76 23:59:59 GMT", 2076),
        (NOW, "Monday, 23-Nov-76 00:00:00 GMT", 1976),
        (NOW, "Friday, 01-Jan-77 00:00:00 GMT", 1977),
        # Late in a century the window reaches into the next one.
        (datetime(2070, 6, 1, tzinfo=UTC), "Sunday, 01-Jun-20 00:00:00 GMT", 2120),
        (datetime(2070, 6, 1, tzinfo=UTC), "Sunday, 01-Jun-20 00:00:01 GMT", 2020),
        (datetime(2070, 6, 1, tzinfo=UTC), "Monday, 01-Jan-69 00:00:00 GMT", 2069),
        # 29 February: 50 years after it is 1 March; a year without it is skipped.
        (datetime(2024, 2, 29, 12, tzinfo=UTC), "Thursday, 01-Mar-74 12:00:00 GMT", 2074),
        (datetime(2024, 2, 29, 12, tzinfo=UTC), "Thursday, 01-Mar-74 12:00:01 GMT", 1974),
        (datetime(2060, 1, 1, tzinfo=UTC), "Tuesday, 29-Feb-00 00:00:00 GMT", 2000),
        # A naive clock is UTC; another offset is the same instant.
        (datetime(2026, 11, 22, 10, 30, 15), "Sunday, 22-Nov-76 10:30:16 GMT", 1976),
        (
            datetime(2026, 11, 22, 11, 30, 15, tzinfo=timezone(timedelta(hours=1))),
            "Sunday, 22-Nov-76 10:30:15 GMT",
            2076,
        ),
    ],
)
def test_two_digit_years_follow_the_50_year_rule(now: datetime, value: str, year: int) -> None:
    parsed = parse_http_date(value, now=now)
    assert parsed is not None and parsed.year == year


def test_two_digit_years_without_a_clock_use_the_current_time() -> None:
    # No fixed pivot: what is 49 years ahead reads as the future, 51 years ahead as the past,
    # whatever the year the test runs in.
    this_year = datetime.now(UTC).year
    ahead = parse_http_date(f"Monday, 01-Jan-{(this_year + 49) % 100:02d} 00:00:00 GMT")
    behind = parse_http_date(f"Monday, 01-Jan-{(this_year + 51) % 100:02d} 00:00:00 GMT")
    years = {this_year, datetime.now(UTC).year}  # the test may run across New Year
    assert ahead is not None and ahead.year - 49 in years
    assert behind is not None and behind.year + 49 in years


def fifty_years_after(now: datetime) -> datetime:
    try:
        return now.replace(year=now.year + 50)
    except ValueError:  # 29 February
        return now.replace(year=now.year + 50, month=3, day=1)


@given(
    st.datetimes(
        min_value=datetime(1800, 1, 1), max_value=datetime(9900, 12, 31), timezones=st.just(UTC)
    ),
    st.datetimes(min_value=datetime(1800, 1, 1), max_value=datetime(9999, 12, 31)),
)
def test_two_digit_year_is_the_latest_not_more_than_50_years_ahead(
    now: datetime, moment: datetime
) -> None:
    value = moment.strftime("%A, %d-%b-%y %H:%M:%S GMT")
    parsed = parse_http_date(value, now=now)
    if parsed is None:  # 29 February, in no year of the window that ends in those digits
        assert (moment.month, moment.day) == (2, 29)
        return
    assert parsed.year % 100 == moment.year % 100
    same = (moment.month, moment.day, moment.time().replace(microsecond=0))
    assert (parsed.month, parsed.day, parsed.time()) == same
    limit = fifty_years_after(now)
    assert parsed <= limit  # never more than 50 years ahead ...
    with contextlib.suppress(ValueError):  # ... and the latest such year
        assert parsed.replace(year=parsed.year + 100) > limit


@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 31)),
    st.characters(categories=["Nd"]).filter(lambda c: not "0" <= c <= "9"),
    st.integers(min_value=0, max_value=28),
)
def test_digits_of_other_scripts_never_parse(moment: datetime, digit: str, index: int) -> None:
    for text in (
        format_http_date(moment),
        moment.strftime("%A, %d-%b-%y %H:%M:%S GMT"),
        f"{moment:%a %b} {moment.day:2d} {moment:%H:%M:%S %Y}",
    ):
        positions = [i for i, char in enumerate(text) if char.isdigit()]
        at = positions[index % len(positions)]
        assert parse_http_date(text[:at] + digit + text[at + 1 :]) is None


def test_format_always_imf_fixdate_in_utc() -> None:
    moment = datetime(1994, 11, 6, 9, 49, 37, 999999, tzinfo=timezone(timedelta(hours=1)))
    assert format_http_date(moment) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert format_http_date(datetime(1994, 11, 6, 8, 49, 37)) == "Sun, 06 Nov 1994 08:49:37 GMT"


def test_to_http_precision() -> None:
    assert to_http_precision(datetime(2026, 1, 1, 0, 0, 0, 500)) == datetime(2026, 1, 1, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 31)))
def test_format_parse_round_trip(moment: datetime) -> None:
    assert parse_http_date(format_http_date(moment)) == to_http_precision(moment)
