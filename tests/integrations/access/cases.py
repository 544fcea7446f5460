"""The access-order matrix, shared by every integration's suite.

The rule (docs/security.md): a precondition's answer (304, 400, 409, 412, 428 and their bodies)
is given only after every access decision of the view, in whatever hook the application makes
it. So for a caller the view refuses (anonymous, or another user), every conditional request
below is answered 401, 403 or 404 (or the login redirect of Django's ``login_required``), the
answer says nothing about the resource (no entity-tag, no version, no field of it), and nothing
is written. The owner, for contrast, gets the precondition answers: without that half a suite
that never evaluated a precondition would pass too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The owner of every protected resource, the one caller the views let in.
OWNER = "alice"
#: An authenticated caller who may not see the owner's resources.
OTHER = "mallory"
#: The request header the test apps authenticate with (no header: anonymous).
USER_HEADER = "X-User"

STALE = '"v999"'
FAR_FUTURE = "Fri, 31 Dec 2100 23:59:59 GMT"
BODY = {"title": "changed by the caller", "text": "changed by the caller"}
#: Statuses that refuse access without saying anything about the resource; ``302`` is the
#: login redirect of Django's ``login_required`` and ``user_passes_test``.
REFUSALS = frozenset({401, 403, 404})
REDIRECT = 302


@dataclass(frozen=True)
class Kind:
    """One conditional request: what it sends, and what the owner gets for it."""

    name: str
    method: str
    headers: Mapping[str, str]
    body: Mapping[str, Any] | None
    owner_status: int
    current: bool = field(default=False)  # If-None-Match carries the current tag

    def headers_for(self, current_etag: str) -> dict[str, str]:
        sent = dict(self.headers)
        if self.current:
            sent["If-None-Match"] = current_etag
        return sent


#: The item requests of the matrix.
ITEM_KINDS = (
    Kind("get-if-none-match", "GET", {}, None, 304, current=True),
    Kind("get-if-modified-since", "GET", {"If-Modified-Since": FAR_FUTURE}, None, 304),
    Kind("put-stale", "PUT", {"If-Match": STALE}, BODY, 412),
    Kind("put-unconditional", "PUT", {}, BODY, 428),
    Kind("patch-stale", "PATCH", {"If-Match": STALE}, BODY, 412),
    Kind("delete-stale", "DELETE", {"If-Match": STALE}, None, 412),
)
#: The collection requests of the matrix (a POST's target is the collection).
POST_KINDS = (
    Kind("post-if-match-stale", "POST", {"If-Match": '"stale"'}, BODY, 412),
    Kind("post-if-none-match-star", "POST", {"If-None-Match": "*"}, BODY, 412),
    Kind("post-malformed", "POST", {"If-Match": '"unterminated'}, BODY, 400),
)
#: Callers the views refuse: ``None`` is anonymous.
INTRUDERS = (None, OTHER)


def user_headers(user: str | None) -> dict[str, str]:
    return {} if user is None else {USER_HEADER: user}


def assert_refused(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: Iterable[str],
    redirect_ok: bool = False,
) -> None:
    """The answer refuses access and reveals nothing about the resource."""
    allowed = REFUSALS | ({REDIRECT} if redirect_ok else set())
    assert status in allowed, (status, body[:300])
    names = {name.lower() for name in headers}
    assert "etag" not in names and "last-modified" not in names, dict(headers)
    text = body.decode("utf-8", "replace")
    for secret in ("current_etag", "current_version", '"current"', *secrets):
        assert secret not in text, (secret, text[:300])
