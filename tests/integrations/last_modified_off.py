"""``Last-Modified`` turned off means the same in every integration: the header is not sent,
and If-Modified-Since / If-Unmodified-Since are ignored, as for a resource that has no
modification date (RFC 9110 §13.1.3, §13.1.4: a recipient MUST ignore them then).

The client was never given a date, so none it sends can be ours; evaluating one would let a
client find out, 304 by 304, the date the server chose not to publish. Ignoring one never
lets a write through unguarded: an ignored If-Unmodified-Since is no precondition, so a
resource that requires one answers 428. Each integration's tests drive
:func:`check_last_modified_off` through its own ``Runner``.
"""

from __future__ import annotations

from integrations.http_conformance import Runner

FAR_FUTURE = "Fri, 31 Dec 9999 23:59:59 GMT"
FAR_PAST = "Mon, 01 Jan 1990 00:00:00 GMT"


def check_last_modified_off(
    runner: Runner, target: str, body: dict[str, object] | None = None
) -> None:
    """``target`` exists, requires a precondition on PUT, and is served with Last-Modified
    off."""
    payload = body or {"text": "changed"}
    read = runner.request("GET", target)
    assert read.status == 200 and read.header("ETag") is not None
    assert read.header("Last-Modified") is None
    # With Last-Modified on: 304 (the date is after the last change).
    assert runner.request("GET", target, [("If-Modified-Since", FAR_FUTURE)]).status == 200
    # With Last-Modified on: 412 (the resource changed after 1990). Ignored, it is no
    # precondition at all: 428, and nothing is written.
    blind = runner.request("PUT", target, [("If-Unmodified-Since", FAR_PAST)], payload)
    assert blind.status == 428, (blind.status, blind.body)
    assert runner.current_etag(target) == read.header("ETag")
    written = runner.request("PUT", target, [("If-Match", read.header("ETag") or "")], payload)
    assert 200 <= written.status < 300, (written.status, written.body)
    assert written.header("Last-Modified") is None
    runner.lint_all()
