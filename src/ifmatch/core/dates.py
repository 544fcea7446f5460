"""HTTP dates (RFC 9110 §5.6.7): accept all three formats, always emit IMF-fixdate.

Two-digit RFC 850 years are resolved against ``now``, as §5.6.7 asks: the caller's clock when
it passes one, else the current time. That is the only clock read here, and only for such a
date. Digits are ASCII digits only (DIGIT = %x30-39).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["format_http_date", "modified_after", "parse_http_date", "to_http_precision"]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name: number for number, name in enumerate(_MONTHS, start=1)}

_DAY = "|".join(_DAYS)
_LONG_DAY = "|".join(_LONG_DAYS)
_MONTH = "|".join(_MONTHS)
# DIGIT = %x30-39 (RFC 5234): written [0-9], since \d would also match other scripts' digits,
# which int() then reads.
_TIME = r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"

# IMF-fixdate  = day-name "," SP date1 SP time-of-day SP GMT
# date1        = day SP month SP year            ; e.g., 02 Jun 1982
_IMF_FIXDATE = re.compile(
    rf"(?:{_DAY}), (?P<day>[0-9]{{2}}) (?P<month>{_MONTH}) (?P<year>[0-9]{{4}}) {_TIME} GMT"
)
# rfc850-date  = day-name-l "," SP date2 SP time-of-day SP GMT
# date2        = day "-" month "-" 2DIGIT         ; e.g., 02-Jun-82
_RFC850_DATE = re.compile(
    rf"(?:{_LONG_DAY}), (?P<day>[0-9]{{2}})-(?P<month>{_MONTH})-(?P<year>[0-9]{{2}}) {_TIME} GMT"
)
# asctime-date = day-name SP date3 SP time-of-day SP year
# date3        = month SP ( 2DIGIT / ( SP DIGIT )) ; e.g., Jun  2
_ASCTIME_DATE = re.compile(
    rf"(?:{_DAY}) (?P<month>{_MONTH}) (?P<day>[ 0-9][0-9]) {_TIME} (?P<year>[0-9]{{4}})"
)


def parse_http_date(value: str, *, now: datetime | None = None) -> datetime | None:
    """Parse an HTTP-date in any of the three formats; return ``None`` if it is not one.

    Returning ``None`` instead of raising matches the RFC: a recipient "MUST ignore" an
    If-Modified-Since or If-Unmodified-Since whose value is not a valid HTTP-date.

    Args:
        value: the field value.
        now: the recipient's clock, which a two-digit RFC 850 year is read against (naive
            means UTC). Default: the current time, read only for such a date.

    >>> parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT")
    datetime.datetime(1994, 11, 6, 8, 49, 37, tzinfo=datetime.timezone.utc)
    """
    value = value.strip(" \t")
    if len(value) > 64:
        return None
    for pattern in (_IMF_FIXDATE, _RFC850_DATE, _ASCTIME_DATE):
        match = pattern.fullmatch(value)
        if match is not None:
            if pattern is _RFC850_DATE:
                return _two_digit_year(match, now)
            return _build(match, int(match["year"]))
    return None


def needs_clock(value: str) -> bool:
    """Whether ``parse_http_date(value)`` depends on ``now``: an RFC 850 date (two-digit year)."""
    value = value.strip(" \t")
    return len(value) <= 64 and _RFC850_DATE.fullmatch(value) is not None


def _build(match: re.Match[str], year: int) -> datetime | None:
    try:
        return datetime(
            year,
            _MONTH_NUMBER[match["month"]],
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            # RFC 9110 allows second = 60 for a leap second; Python does not, so clamp it.
            min(int(match["second"]), 59),
            tzinfo=UTC,
        )
    except ValueError:  # 31 Feb, hour 25, a year past 9999 and friends
        return None


def _two_digit_year(match: re.Match[str], now: datetime | None) -> datetime | None:
    # RFC 9110 §5.6.7: "Recipients of a timestamp value in rfc850-date format, which uses a
    # two-digit year, MUST interpret a timestamp that appears to be more than 50 years in the
    # future as representing the most recent year in the past that had the same last two
    # digits." So: the latest year ending in those digits whose timestamp is at most 50 years
    # after now (compared as timestamps, to the second, not as years).
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    limit = _years_after(now, 50)
    year = now.year - now.year % 100 + int(match["year"])
    # The candidates, latest first: the next century's (only when the window reaches into
    # it), now's century's, the previous century's. A date a year lacks (29 February) is
    # skipped.
    if year + 100 <= limit.year:
        moment = _build(match, year + 100)
        if moment is not None and moment <= limit:
            return moment
    moment = _build(match, year)
    if moment is not None and moment <= limit:
        return moment
    return _build(match, year - 100)


def _years_after(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February, to a year that has none; or past year 9999
        if moment.year + years > 9999:
            return datetime.max.replace(tzinfo=UTC)
        return moment.replace(year=moment.year + years, day=28) + timedelta(days=1)


def to_http_precision(moment: datetime) -> datetime:
    """Truncate to whole seconds in UTC, the precision an HTTP-date can carry.

    Naive datetimes are taken to be UTC.
    """
    if moment.tzinfo is UTC:  # the usual case: skip the conversion
        return moment.replace(microsecond=0) if moment.microsecond else moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def modified_after(last_modified: datetime, date: datetime) -> bool:
    """Whether a resource last modified at ``last_modified`` changed after ``date``: the one
    date comparison of If-Modified-Since, If-Unmodified-Since and every store's guard.

    RFC 9110 §13.1.4: the If-Unmodified-Since condition is true when "the selected
    representation's last modification date is earlier than or equal to the date provided";
    §13.1.3: If-Modified-Since is false in the same case. The modification date is compared at
    the precision it is known, not truncated to the field's whole seconds: stored
    12:00:00.700 was modified after 12:00:00, since a client holding ``12:00:00`` may have
    seen an earlier write of that second. ifmatch's stores record the first write of a second
    at the whole second, so a client echoing the Last-Modified of that write is answered
    exactly (see ``ifmatch.stores.next_last_modified``).

    Naive datetimes are taken to be UTC.
    """
    if last_modified.tzinfo is None:
        last_modified = last_modified.replace(tzinfo=UTC)
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    return last_modified > date


def format_http_date(moment: datetime) -> str:
    """Format as IMF-fixdate, the only format a sender may generate (RFC 9110 §5.6.7).

    >>> format_http_date(datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC))
    'Sun, 06 Nov 1994 08:49:37 GMT'
    """
    moment = to_http_precision(moment)
    known = _FORMATTED.get(moment)
    if known is not None:
        return known
    text = (
        f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} "
        f"{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT"
    )
    if len(_FORMATTED) >= _FORMATTED_SIZE:
        _FORMATTED.clear()  # bounded; a response's dates repeat (one row's Last-Modified)
    _FORMATTED[moment] = text
    return text


# Recently formatted dates (aware UTC, whole seconds, so equal instants share a key).
_FORMATTED: dict[datetime, str] = {}
_FORMATTED_SIZE = 1024
