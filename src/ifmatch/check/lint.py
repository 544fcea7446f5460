"""Optional second opinion: run every response through ``httplint`` (REDbot's message linter).

Only its "bad" notes about responses are kept as evidence; the checker's own probes send
malformed requests on purpose, so notes about requests are dropped.
"""

from __future__ import annotations

import importlib.util

from .context import Linter
from .messages import Request, Response

__all__ = ["httplint_available", "httplint_linter"]


def httplint_available() -> bool:
    """Whether ``httplint`` is installed."""
    return importlib.util.find_spec("httplint") is not None


def httplint_linter(url: str) -> Linter | None:
    """A linter for exchanges with ``url``, or ``None`` when httplint is not installed."""
    if not httplint_available():
        return None
    from httplint import HttpRequestLinter, HttpResponseLinter, levels

    def lint(request: Request, response: Response) -> tuple[str, ...]:
        request_linter = HttpRequestLinter()
        request_linter.process_request_topline(request.method.encode(), url.encode(), b"HTTP/1.1")
        request_linter.process_headers(_raw(request.headers))
        request_linter.finish_content(True)
        # httpx hands over decoded content; with a Content-Encoding the bytes on the wire are
        # gone, so the content is left out rather than misjudged.
        encoded = response.header("Content-Encoding") is not None
        linter = HttpResponseLinter(no_content=encoded)
        linter.request = request_linter
        linter.is_head_response = request.method == "HEAD"
        version = response.http_version.removeprefix("HTTP/").encode() or b"1.1"
        linter.process_response_topline(
            b"HTTP/" + version, str(response.status).encode(), response.reason.encode("latin-1")
        )
        linter.process_headers(_raw(response.headers))
        if not encoded:
            linter.feed_content(response.body)
        linter.finish_content(True)
        return tuple(
            f"httplint: {note.summary}" for note in linter.notes if note.level is levels.BAD
        )

    return lint


def _raw(headers: tuple[tuple[str, str], ...]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
