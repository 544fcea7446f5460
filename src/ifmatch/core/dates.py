"""HTTP dates (RFC 9110 §5.6.7): accept all three formats, always emit IMF-fixdate.

No clock is read here. Two-digit RFC 850 years are resolved against ``now`` when the caller
passes it, as §5.6.7 asks, and by a fixed pivot otherwise.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["format_http_date", "parse_http_date", "to_http_precision"]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name: number for number, name in enumerate(_MONTHS, start=1)}

_DAY = "|".join(_DAYS)
_LONG_DAY = "|".join(_LONG_DAYS)
_MONTH = "|".join(_MONTHS)
_TIME = r"(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})"

# IMF-fixdate  = day-name "," SP date1 SP time-of-day SP GMT
# date1        = day SP month SP year            ; e.g., 02 Jun 1982
_IMF_FIXDATE = re.compile(
    rf"(?:{_DAY}), (?P<day>\d{{2}}) (?P<month>{_MONTH}) (?P<year>\d{{4}}) {_TIME} GMT"
)
# rfc850-date  = day-name-l "," SP date2 SP time-of-day SP GMT
# date2        = day "-" month "-" 2DIGIT         ; e.g., 02-Jun-82
_RFC850_DATE = re.compile(
    rf"(?:{_LONG_DAY}), (?P<day>\d{{2}})-(?P<month>{_MONTH})-(?P<year>\d{{2}}) {_TIME} GMT"
)
# asctime-date = day-name SP date3 SP time-of-day SP year
# date3        = month SP ( 2DIGIT / ( SP DIGIT )) ; e.g., Jun  2
_ASCTIME_DATE = re.compile(
    rf"(?:{_DAY}) (?P<month>{_MONTH}) (?P<day>[ \d]\d) {_TIME} (?P<year>\d{{4}})"
)


def parse_http_date(value: str, *, now: datetime | None = None) -> datetime | None:
    """Parse an HTTP-date in any of the three formats; return ``None`` if it is not one.

    Returning ``None`` instead of raising matches the RFC: a recipient "MUST ignore" an
    If-Modified-Since or If-Unmodified-Since whose value is not a valid HTTP-date.

    >>> parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT")
    datetime.datetime(1994, 11, 6, 8, 49, 37, tzinfo=datetime.timezone.utc)
    """
    value = value.strip(" \t")
    if len(value) > 64:
        return None
    for pattern in (_IMF_FIXDATE, _RFC850_DATE, _ASCTIME_DATE):
        match = pattern.fullmatch(value)
        if match is not None:
            return _build(match, now)
    return None


def _build(match: re.Match[str], now: datetime | None) -> datetime | None:
    year = int(match["year"])
    if len(match["year"]) == 2:
        year = _expand_two_digit_year(year, now)
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
    except ValueError:  # 31 Feb, hour 25 and friends
        return None


def _expand_two_digit_year(year: int, now: datetime | None) -> int:
    # RFC 9110 §5.6.7: "Recipients of a timestamp value in rfc850-date format, which uses a
    # two-digit year, MUST interpret a timestamp that appears to be more than 50 years in the
    # future as representing the most recent year in the past that had the same last two digits."
    if now is None:
        return 2000 + year if year < 70 else 1900 + year
    candidate = now.year - now.year % 100 + year
    return candidate - 100 if candidate > now.year + 50 else candidate


def to_http_precision(moment: datetime) -> datetime:
    """Truncate to whole seconds in UTC, the precision an HTTP-date can carry.

    Naive datetimes are taken to be UTC.
    """
    if moment.tzinfo is UTC:  # the usual case: skip the conversion
        return moment.replace(microsecond=0) if moment.microsecond else moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def format_http_date(moment: datetime) -> str:
    """Format as IMF-fixdate, the only format a sender may generate (RFC 9110 §5.6.7).

    >>> format_http_date(datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC))
    'Sun, 06 Nov 1994 08:49:37 GMT'
    """
    moment = to_http_precision(moment)
    return (
        f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} "
        f"{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT"
    )
