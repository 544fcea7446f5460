"""Writes faster than one per second: Last-Modified is sent on every response, never later than
``Date``, and the dates still never hide a change.

The stores record the first write of a second at the whole second and a later write of the
same second at the clock's fraction (never ahead of the clock). Every integration sends the
stored date to the second (RFC 9110 §8.8.2.1: never later than ``Date``; a date that would be
is replaced by ``Date``), and compares If-Modified-Since / If-Unmodified-Since with the stored
date at full precision: after a second write of a second, a client holding that second's date
gets 200 (not 304) and 412 (not a lost update). Each integration's tests drive
:func:`check_fast_writes` through its own ``Runner``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ifmatch.core import parse_http_date
from ifmatch.stores import last_modified_for
from integrations.http_conformance import Exchange, Runner, lint

#: Enough quick writes for two of them to fall within one second.
MAX_WRITES = 10


def check_fast_writes(
    runner: Runner,
    target: str,
    stored: Callable[[], datetime | None],
    body: dict[str, object] | None = None,
) -> None:
    """Write ``target`` (which exists) again and again through GET → PUT If-Match, each time
    checking the PUT's 2xx, a GET and a 304 against the stored Last-Modified (``stored()``),
    until a write shared its second with the previous one; then check that a client holding
    that second's date sees the change."""
    shared = False
    for number in range(MAX_WRITES):
        etag = runner.current_etag(target)
        assert etag is not None
        payload = body or {"text": f"write {number}"}
        write = runner.request("PUT", target, [("If-Match", etag)], payload)
        assert 200 <= write.status < 300, (write.status, write.body)
        read = runner.request("GET", target)
        cached = runner.request("GET", target, [("If-None-Match", read.header("ETag") or "")])
        assert cached.status == 304, cached.status
        moment = stored()
        assert moment is not None
        for exchange in (write, read, cached):
            _judge(exchange, moment)
        if moment.microsecond:  # a later write of the second of the one before
            shared = True
            break
    assert shared, f"{MAX_WRITES} quick writes never shared a second"
    sent = read.header("Last-Modified") or ""
    again = runner.request("GET", target, [("If-Modified-Since", sent)])
    assert again.status == 200, "a 304 would hide the second write of that second"
    etag = read.header("ETag") or ""
    stale = runner.request("PUT", target, [("If-Unmodified-Since", sent)], body or {"text": "x"})
    assert stale.status == 412, (stale.status, stale.body)
    assert runner.current_etag(target) == etag  # nothing was written
    runner.lint_all()  # httplint reports LM_FUTURE (BAD) for a Last-Modified after Date


def _judge(exchange: Exchange, stored: datetime) -> None:
    """The response carries Last-Modified: the stored date to the second, or its Date if
    that is earlier; never later than Date. (A 304 may leave it out: it carries the ETag, and
    RFC 9110 §15.4.5 has it send no other metadata then; Werkzeug removes it.)"""
    date = parse_http_date(exchange.header("Date") or "")
    assert date is not None
    sent = exchange.header("Last-Modified")
    if sent is None and exchange.status == 304:
        return
    assert sent is not None, (exchange.status, exchange.headers)
    moment = parse_http_date(sent)
    assert moment is not None and moment <= date, (exchange.status, sent, date)
    assert moment == last_modified_for(stored, date), (sent, stored, date)


def future_last_modified_is_flagged() -> bool:
    """Whether httplint flags a Last-Modified later than Date (so ``lint_all`` can fail)."""
    exchange = Exchange(
        "GET",
        "/documents/x",
        [("Host", "testserver")],
        None,
        200,
        [
            ("Date", "Mon, 05 Jan 2026 09:00:00 GMT"),
            ("Last-Modified", "Mon, 05 Jan 2026 09:00:05 GMT"),
            ("ETag", '"v2"'),
            ("Content-Type", "application/json"),
        ],
        b"{}",
    )
    return any(problem.startswith("LM_FUTURE") for problem in lint(exchange))
