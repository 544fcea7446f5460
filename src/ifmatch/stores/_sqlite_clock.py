"""The Last-Modified rule on SQLite, as SQL text shared by the SQLAlchemy and Django stores.

SQLite stores a date as text and compares text: ``'YYYY-MM-DD HH:MM:SS'`` followed, when the
date is not a whole second, by ``'.ffffff'`` (Django writes whole seconds without a fraction,
SQLAlchemy with ``'.000000'``; each compares with its own format). ``'now'`` is read once per
statement, to the millisecond.
"""

from __future__ import annotations

__all__ = ["next_last_modified_sql"]


def next_last_modified_sql(column: str, *, percent: str = "%", bare_seconds: bool) -> str:
    """``ifmatch.stores.next_last_modified`` in SQLite's SQL, for the text column ``column``.

    The first write of a second gets the whole second; a later one the clock's millisecond,
    or one microsecond past the previous value when that is later (computed on the text, since
    SQLite's date functions keep milliseconds only).

    Args:
        column: the column's SQL.
        percent: how a literal ``%`` is written (``"%%"`` where the driver formats the query).
        bare_seconds: write whole seconds without ``'.000000'`` (Django's format).
    """
    second = f"strftime('{percent}Y-{percent}m-{percent}d {percent}H:{percent}M:{percent}S', 'now')"
    millis = f"strftime('{percent}Y-{percent}m-{percent}d {percent}H:{percent}M:{percent}f', 'now')"
    fraction = f"CAST(substr({column}, 21) AS INTEGER)"
    bumped = (
        f"CASE WHEN {fraction} < 999999 "
        f"THEN substr({column}, 1, 19) || '.' || printf('{percent}06d', {fraction} + 1) "
        f"ELSE strftime('{percent}Y-{percent}m-{percent}d {percent}H:{percent}M:{percent}S', "
        f"substr({column}, 1, 19), '+1 second') || '.000000' END"
    )
    later = f"max({millis} || '000', {bumped})"
    whole = second if bare_seconds else f"{second} || '.000000'"
    if bare_seconds:
        later = (
            f"CASE WHEN substr({later}, 21) = '000000' THEN substr({later}, 1, 19) ELSE {later} END"
        )
    return f"CASE WHEN {column} IS NULL OR {second} > {column} THEN {whole} ELSE {later} END"
