"""Conditional GET by hashing a finished body: the logic both body-hash middlewares share.

``ifmatch.integrations.wsgi`` and ``ifmatch.integrations.asgi`` collect a 200 response to GET or
HEAD, then hand its headers and bytes to :func:`conditional_get`, which tags it and answers its
preconditions through ``ifmatch.core.evaluate``. Framework-free.
"""

from __future__ import annotations

from ..core import (
    HeadersInput,
    NotModified,
    Policy,
    PreconditionFailed,
    ResourceState,
    content_etag,
    decision_problem,
    evaluate,
    parse_etag,
    parse_http_date,
)
from ._conditional import HTTPError, Options

__all__ = ["Fields", "conditional_get"]


# The middlewares only ever answer GET/HEAD: nothing is required, and writes are not theirs.
_GET_POLICY = Policy(require_precondition=frozenset())
# RFC 9110 §15.4.5: a 304 carries the fields a 200 would have carried among these.
_KEEP_ON_304 = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified"}
)

Fields = list[tuple[str, str]]


def conditional_get(
    method: str, request_headers: HeadersInput, headers: Fields, body: bytes, *, key: bytes
) -> tuple[int, Fields, bytes] | None:
    """Tag a finished 200 response to GET/HEAD by its bytes and answer its preconditions.

    Args:
        method: ``GET`` or ``HEAD``.
        request_headers: the request's headers.
        headers: the response's headers; ``ETag`` is added unless the app set one (a
            strong tag, weak if the app already set ``Content-Encoding``: the bytes are a
            compressed form).
        body: the complete response body.
        key: the secret mixed into the hash (see ``content_etag``).

    Returns:
        ``(status, headers, body)`` to send as they are: 200 with the tag, 304 (no
        ``Content-Length``), or a 412 problem for a false If-Match / If-Unmodified-Since (its
        own ``Content-Type`` and ``Content-Length``); ``None`` to send the response untouched
        (a HEAD without an app-set tag, an unparseable app tag).
    """
    names = {name.lower(): value for name, value in headers}
    if "etag" in names:
        try:
            etag = parse_etag(names["etag"])
        except ValueError:
            return None
    elif method == "HEAD" and not body:
        return None
    else:
        etag = content_etag(body, key=key, weak="content-encoding" in names)
        headers = [*headers, ("ETag", str(etag))]
    last_modified = None
    if "last-modified" in names:
        last_modified = parse_http_date(names["last-modified"])
    state = ResourceState(etag, last_modified)
    decision = evaluate(method, request_headers, state, _GET_POLICY)
    if isinstance(decision, NotModified):
        return 304, [(n, v) for n, v in headers if n.lower() in _KEEP_ON_304], b""
    if isinstance(decision, PreconditionFailed):
        error = HTTPError.from_problem(decision_problem(decision), Options(), etag)
        return 412, [*error.headers, ("Content-Length", str(len(error.body)))], error.body
    # Proceed, or a malformed header (BadPrecondition): the full response, with its tag. A
    # body-hash middleware only saves bandwidth, so it never refuses a read over syntax.
    return 200, headers, body
