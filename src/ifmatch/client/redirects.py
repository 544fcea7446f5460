"""Redirects: each hop is a request of its own, and no validator follows a request elsewhere.

httpx (``Client._build_redirect_request``) and requests (``Session.resolve_redirects``) build
the request for a redirect by copying the header lines of the request that was redirected.
Whatever conditional header that request carried would go to the new URL: an ``If-Match``
written for ``/docs/1`` would reach ``/docs/2`` (whose version numbers may well overlap, so it
can match and let the write through) or another origin. An entity-tag or a date describes one
representation of one resource; sent anywhere else it means nothing, or the wrong thing.

So when a response redirects a request, the drivers (the httpx transports, the requests
adapter) reset the header lines the next hop is copied from to :func:`forwarded_headers`:

* the lines the flow added (``If-Match`` from the store, the cache's ``If-None-Match``) are
  gone: the next hop runs the flow again, for its own URL, and gets that URL's remembered
  validators, or none;
* when the target is another URL, the application's own conditionals that name a validator
  are gone too: ``If-Match`` / ``If-None-Match`` with entity-tags, ``If-Unmodified-Since``,
  ``If-Modified-Since``, and ``If-Range`` together with the ``Range`` it guards (a range of
  another representation would corrupt what it is appended to). The wildcards ``If-Match: *``
  ("overwrite whatever is there") and ``If-None-Match: *`` ("create only") name no
  representation and keep their meaning at any URL; they stay.

Everything else the application set is left as it was; httpx and requests then apply their
own rules (``Authorization`` stripped across origins, method changes for 301/302/303).
"""

from __future__ import annotations

from urllib.parse import urljoin

from .messages import Headers, Request, Response
from .validators import same_url

__all__ = ["REDIRECT_STATUSES", "forwarded_headers", "redirect_target"]

#: The statuses httpx and requests follow (with a ``Location``).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# Conditional fields that name a validator of the representation they were written for.
_DATED = frozenset({"if-unmodified-since", "if-modified-since", "if-range"})
_TAGGED = frozenset({"if-match", "if-none-match"})


def redirect_target(url: str, response: Response) -> str | None:
    """The absolute URL ``response`` (to a request for ``url``) redirects to, or ``None`` when
    it is not a redirect a client follows."""
    if response.status not in REDIRECT_STATUSES:
        return None
    location = response.header("location")
    if not location:
        return None
    try:
        return urljoin(url, location.strip())
    except ValueError:  # e.g. an unclosed IPv6 bracket: certainly not this URL
        return location


def _names_a_validator(name: str, value: str) -> bool:
    lowered = name.lower()
    if lowered in _TAGGED:
        return value.strip() != "*"
    return lowered in _DATED


def forwarded_headers(request: Request, response: Response) -> Headers | None:
    """The header lines a redirect of the application's ``request`` may be built from, or
    ``None`` when ``response`` is not a redirect (nothing to change).

    Args:
        request: the request as the application made it (before the flow added anything).
        response: the response to it.

    Returns:
        ``request.headers`` in order, without the conditionals that name a validator when the
        target is not ``request.url`` itself (normalised).
    """
    target = redirect_target(request.url, response)
    if target is None:
        return None
    if same_url(target, request.url):
        return request.headers
    dropped = {name.lower() for name, value in request.headers if _names_a_validator(name, value)}
    if "if-range" in dropped:
        dropped.add("range")
    if not dropped:
        return request.headers
    return tuple(line for line in request.headers if line[0].lower() not in dropped)
