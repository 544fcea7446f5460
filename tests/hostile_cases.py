"""Hostile precondition values, shared by the store matrix (``tests/stores``) and the HTTP
tests of the integrations: versions past every integer width, tags that are not exactly
``"v<N>"``, malformed and oversized lists, far and invalid dates.

Each case is ``(header, value, status)``. Values carry placeholders: ``{cur}`` the stored
version, ``{lm}`` its Last-Modified as an HTTP-date, ``{lm_before}`` one second earlier. The
status is what a PUT must get from a resource that has a Last-Modified (one without ignores the
dates, so those cases are 428 there): ``WRITE`` (200: the write is applied), ``FAIL`` (412),
``BAD`` (400), ``REQUIRED`` (428: no precondition that applies).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ifmatch.core import format_http_date

__all__ = ["BAD", "BIG", "CASES", "FAIL", "REQUIRED", "WRITE", "case_id", "fill"]

BIG = [
    2**31 - 1,
    2**31,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    10**20 - 1,
    10**20,
    int("9" * 128),
]
WRITE, FAIL, BAD, REQUIRED = 200, 412, 400, 428

CASES: list[tuple[str, str, int]] = [
    *(("If-Match", f'"v{n}"', FAIL) for n in BIG),
    *(("If-None-Match", f'"v{n}"', WRITE) for n in BIG),
    ("If-Match", '"v' + "9" * 129 + '"', FAIL),
    ("If-Match", f'"v{10**20}", "v{{cur}}"', WRITE),
    ("If-Match", f'"v{{cur}}", "v{2**64}", "v0{{cur}}"', WRITE),
    ("If-None-Match", f'"v{10**20}", "v{{cur}}"', FAIL),
    # Tags that are not exactly "v<N>" name no version, in the check and in the store alike.
    *(
        (header, value, FAIL if header == "If-Match" else WRITE)
        for header in ("If-Match", "If-None-Match")
        for value in (
            '"v0{cur}"',
            '"v00{cur}"',
            '"v+{cur}"',
            '"v{cur}.0"',
            '"v-{cur}"',
            '"v-0"',
            '"v0"',
            '"V{cur}"',
            '"v{cur}~"',
            '"v{cur}~00000000"',
            '"{cur}"',
            '"v\u00b9"',
            '"v{cur} "'.replace(" ", "\u00a0"),
            'W/"v0{cur}"',
        )
    ),
    ("If-Match", '"v{cur}"', WRITE),
    # One unquoted token: the current version's is accepted (halchemy's `_etag`); any other is
    # a false If-Match (re-read), and malformed in If-None-Match.
    ("If-Match", "v{cur}", WRITE),
    ("If-Match", "v0{cur}", FAIL),
    ("If-None-Match", "v0{cur}", BAD),
    ("If-Match", '"v{cur}", v{cur}', BAD),
    ("If-None-Match", '"v0{cur}", junk', BAD),
    ("If-Match", 'W/"v{cur}"', FAIL),
    ("If-Match", "*", WRITE),
    ("If-None-Match", '"v{cur}"', FAIL),
    ("If-None-Match", 'W/"v{cur}"', FAIL),
    ("If-None-Match", "*", FAIL),
    ("If-Match", '"v 1"', BAD),
    ("If-Match", '"v{cur}", ' * 65, BAD),
    ("If-None-Match", '"' + "v" * 9000 + '"', BAD),
    # Dates: a far date is just a date.
    ("If-Unmodified-Since", "Fri, 31 Dec 9999 23:59:59 GMT", WRITE),
    ("If-Unmodified-Since", "Fri Dec 31 23:59:59 9999", WRITE),
    ("If-Unmodified-Since", "Mon, 01 Jan 0001 00:00:00 GMT", FAIL),
    ("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT", FAIL),
    ("If-Unmodified-Since", "Wed, 31 Dec 1969 23:59:59 GMT", FAIL),
    ("If-Unmodified-Since", "Sat, 01 Jan 1000 00:00:00 GMT", FAIL),
    ("If-Unmodified-Since", "Friday, 31-Dec-99 23:59:59 GMT", FAIL),
    ("If-Unmodified-Since", "Tue, 19 Jan 2038 03:14:07 GMT", WRITE),
    ("If-Unmodified-Since", "Tue, 19 Jan 2038 03:14:08 GMT", WRITE),
    ("If-Unmodified-Since", "Sun, 07 Feb 2106 06:28:16 GMT", WRITE),
    ("If-Unmodified-Since", "{lm}", WRITE),
    ("If-Unmodified-Since", "{lm_before}", FAIL),
    ("If-Unmodified-Since", "Fri, 31 Dec 99999 23:59:59 GMT", REQUIRED),
    ("If-Unmodified-Since", "Fri, 32 Dec 9999 23:59:59 GMT", REQUIRED),
    ("If-Unmodified-Since", "Fri, 31 Dec 9999 23:59:60 GMT", WRITE),
]


def case_id(case: tuple[str, str, int]) -> str:
    header, value, status = case
    short = value if len(value) <= 40 else f"{value[:20]}…({len(value)})"
    return f"{header}={short}->{status}"


def fill(value: str, version: int, last_modified: datetime | None) -> str:
    """``value`` with its placeholders replaced."""
    lm = last_modified or datetime(2000, 1, 1, tzinfo=UTC)
    return value.format(
        cur=version,
        lm=format_http_date(lm),
        lm_before=format_http_date(lm - timedelta(seconds=1)),
    )
