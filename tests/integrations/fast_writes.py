"""Writes faster than one per second: the stored Last-Modified runs ahead of the clock.

The stores move a second write within one second to the next second, so after a few quick
writes the stored Last-Modified is later than the response's ``Date``. RFC 9110 §8.8.2.1: "An
origin server with a clock ... MUST NOT generate a Last-Modified date that is later than the
server's time of message origination (Date)." Every integration must then leave the header out
(ifmatch never sends a clamped date either: it would name an instant the resource did not
have). Each integration's tests drive :func:`check_fast_writes` through its own ``Runner``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ifmatch.core import parse_http_date
from integrations.http_conformance import Exchange, Runner, lint

#: Enough quick writes for the stored date to get ahead of the clock however the first ones
#: fall around a second boundary.
MAX_WRITES = 10


def check_fast_writes(
    runner: Runner,
    target: str,
    stored: Callable[[], datetime | None],
    body: dict[str, object] | None = None,
) -> None:
    """Write ``target`` (which exists) again and again through GET → PUT If-Match, each time
    checking the PUT's 2xx, a GET and a 304 against the stored Last-Modified (``stored()``),
    until a response was dated before the stored Last-Modified, so the rule was exercised."""
    ahead = 0
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
        ahead += sum(_judge(exchange, moment) for exchange in (write, read, cached))
        if ahead:
            break
    assert ahead, f"{MAX_WRITES} quick writes never got Last-Modified ahead of the clock"
    runner.lint_all()  # httplint reports LM_FUTURE (BAD) for a Last-Modified after Date


def _judge(exchange: Exchange, stored: datetime) -> int:
    """1 if the response's Date is before the stored Last-Modified (and it rightly carries
    none), else 0; fails on a Last-Modified later than Date or not the stored one."""
    date = parse_http_date(exchange.header("Date") or "")
    assert date is not None
    sent = exchange.header("Last-Modified")
    if sent is not None:
        moment = parse_http_date(sent)
        assert moment is not None and moment <= date, (exchange.status, sent, date)
        assert moment == stored, f"sent {sent}, stored {stored}: a clamped date"
    if stored > date:
        assert sent is None, (exchange.status, sent, date)
        return 1
    return 0


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
