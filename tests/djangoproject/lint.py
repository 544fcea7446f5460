"""Check recorded HTTP exchanges with httplint: no note of level BAD is allowed."""

from __future__ import annotations

from collections.abc import Iterable

from httplint import HttpRequestLinter, HttpResponseLinter
from httplint.note import levels


def lint_exchange(
    method: str,
    url: str,
    request_headers: Iterable[tuple[str, str]],
    request_body: bytes,
    status: int,
    reason: str,
    response_headers: Iterable[tuple[str, str]],
    response_body: bytes,
    *,
    fields_under_test: bool = False,
) -> list[str]:
    """Return the summaries of every BAD note on the request or the response.

    With ``fields_under_test``, request notes about the four precondition fields are not
    reported: a test that sends malformed preconditions on purpose expects them.
    """
    request = HttpRequestLinter()
    request.process_request_topline(method.encode(), url.encode(), b"HTTP/1.1")
    request.process_headers([(k.encode(), v.encode("latin-1")) for k, v in request_headers])
    request.feed_content(request_body)
    request.finish_content(True)
    response = HttpResponseLinter()
    response.request = request  # type: ignore[assignment]
    response.is_head_response = method == "HEAD"
    response.process_response_topline(b"HTTP/1.1", str(status).encode(), reason.encode())
    response.process_headers([(k.encode(), v.encode("latin-1")) for k, v in response_headers])
    response.feed_content(response_body)
    response.finish_content(True)
    bad = []
    for label, linter in (("request", request), ("response", response)):
        for note in linter.notes:
            summary = str(note.summary)
            if fields_under_test and label == "request" and _about_preconditions(summary):
                continue
            if note.level is levels.BAD:
                bad.append(f"{label} {method} {url} -> {status}: {summary}")
    return bad


_PRECONDITION_FIELDS = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")


def _about_preconditions(summary: str) -> bool:
    return any(name in summary for name in _PRECONDITION_FIELDS)
