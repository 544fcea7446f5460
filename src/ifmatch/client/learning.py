"""Reading validators out of responses: headers first, then body fields, then list items.

Where the validators of a response belong (RFC 9110):

* GET / HEAD, PUT / PATCH: the target URI. A successful PUT "MUST NOT" carry an ETag unless it
  reflects the new representation (§9.3.4), so a write response with a validator is news about
  the target, and one without makes the tag held for the target stale.
* POST 201: "Any validator fields (Section 8.8) sent in the response convey the current
  validators for a new resource created by the request" (§15.3.2): the ``Location``.
* Other POST responses: the ``Content-Location``, if any (§8.7).
* Never a URL on another origin (``validators.same_origin``): only the origin that answered
  speaks for its resources.

Bodies add what headers cannot say: an ``_etag`` / ``etag`` field (Eve, Google AIP-154), and
the tags of each item of a list payload, keyed by the item's own URL (a HAL
``_links.self.href``, a ``url`` or ``self`` field, or the collection URL plus the item's id).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from ..core.dates import parse_http_date
from ..core.etag import ETag, parse_etag
from .messages import Response
from .validators import Validators, same_origin

__all__ = [
    "LearningConfig",
    "same_origin",
    "body_etag",
    "header_validators",
    "item_url",
    "iter_items",
    "response_validators",
    "self_link",
]

#: Members of a list payload that hold the items: Eve, generic, DRF pagination, JSON:API, OData.
ITEM_MEMBERS = ("_items", "items", "results", "data", "value")


@dataclass(frozen=True, slots=True)
class LearningConfig:
    """Where to look for validators in bodies.

    Attributes:
        etag_fields: body members holding an entity-tag, tried in order (``_etag`` is Eve's and
            HAL servers', ``etag`` Google AIP-154's). Empty to never read tags from bodies.
        id_fields: item members naming the item, used with the collection URL when the item
            has no link of its own.
        max_items: most list items learned from one response.
    """

    etag_fields: tuple[str, ...] = ("_etag", "etag")
    id_fields: tuple[str, ...] = ("id", "_id")
    max_items: int = 1000


DEFAULT_LEARNING = LearningConfig()


def _parse_tag(value: object) -> ETag | None:
    return _parse_tag_text(value) if isinstance(value, str) else None


# Pure functions of short strings that repeat from response to response: memoized, so that
# learning costs the flow a dictionary lookup, not a parse, per response.
@lru_cache(maxsize=1024)
def _parse_tag_text(value: str) -> ETag | None:
    try:
        # A bare token (Eve's hex ``_etag``) is read as a strong tag, as the core reads it.
        return parse_etag(value)
    except ValueError:
        return None


@lru_cache(maxsize=1024)
def _parse_date(value: str) -> datetime | None:
    return parse_http_date(value)


def header_validators(response: Response) -> Validators:
    """The ``ETag`` and ``Last-Modified`` of a response; unparsable values count as absent."""
    etag = _parse_tag(response.header("etag"))
    raw_date = response.header("last-modified")
    return Validators(etag, None if raw_date is None else _parse_date(raw_date))


def body_etag(body: Any, config: LearningConfig = DEFAULT_LEARNING) -> ETag | None:
    """The entity-tag an object carries in one of ``config.etag_fields``: a member of its own,
    else one of its ``meta`` object (where a JSON:API resource object carries it)."""
    if not isinstance(body, Mapping):
        return None
    meta = body.get("meta")
    for container in (body, meta if isinstance(meta, Mapping) else {}):
        for name in config.etag_fields:
            tag = _parse_tag(container.get(name))
            if tag is not None:
                return tag
    return None


def response_validators(
    response: Response, config: LearningConfig = DEFAULT_LEARNING
) -> Validators:
    """The validators of a response's representation: header fields first, else a body field."""
    found = header_validators(response)
    if found.etag is None:
        tag = body_etag(response.json, config)
        if tag is not None:
            return Validators(tag, found.last_modified)
    return found


def _href(link: Any) -> str | None:
    if isinstance(link, list) and link:
        link = link[0]
    if isinstance(link, Mapping):
        link = link.get("href")
    return link if isinstance(link, str) and link else None


def self_link(item: Mapping[str, Any], base_url: str, *, links_only: bool = False) -> str | None:
    """The absolute URL an object names as itself, on the origin of ``base_url``: HAL
    ``_links.self.href``, JSON:API ``links.self``, or (unless ``links_only``) a ``url`` /
    ``self`` member, resolved against ``base_url``. A link to another origin is ignored: a
    tag is never learned for, nor a write sent to, a server other than the one that spoke."""
    candidates: list[str] = []
    for container in ("_links", "links"):
        links = item.get(container)
        if isinstance(links, Mapping):
            href = _href(links.get("self"))
            if href is not None:
                candidates.append(href)
    if not links_only:
        for name in ("url", "self"):
            href = _href(item.get(name))
            if href is not None:
                candidates.append(href)
    for href in candidates:
        found = urljoin(base_url, href)
        if same_origin(found, base_url):
            return found
    return None


def item_url(
    item: Mapping[str, Any], collection_url: str, config: LearningConfig = DEFAULT_LEARNING
) -> str | None:
    """The URL of a list item: its own link, else the collection URL plus its id.

    ``/docs`` + ``7`` is ``/docs/7``; ``/docs/`` + ``7`` is ``/docs/7/`` (the trailing-slash
    style of the collection is kept).
    """
    found = self_link(item, collection_url)
    if found is not None:
        return found
    for name in config.id_fields:
        ident = item.get(name)
        if isinstance(ident, str | int) and not isinstance(ident, bool) and str(ident):
            parts = urlsplit(collection_url)
            path = parts.path or "/"
            segment = quote(str(ident), safe="")
            path = f"{path}{segment}/" if path.endswith("/") else f"{path}/{segment}"
            return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return None


def iter_items(body: Any, config: LearningConfig = DEFAULT_LEARNING) -> Iterator[Mapping[str, Any]]:
    """The items of a list payload: a top-level array, an array under one of
    :data:`ITEM_MEMBERS`, or HAL ``_embedded`` resources. At most ``config.max_items``."""
    count = 0
    for item in _candidates(body):
        if count >= config.max_items:
            return
        if isinstance(item, Mapping):
            count += 1
            yield item


def _candidates(body: Any) -> Iterator[Any]:
    if isinstance(body, list):
        yield from body
        return
    if not isinstance(body, Mapping):
        return
    for name in ITEM_MEMBERS:
        members = body.get(name)
        if isinstance(members, list):
            yield from members
    embedded = body.get("_embedded")
    if isinstance(embedded, Mapping):
        for resources in embedded.values():
            if isinstance(resources, list):
                yield from resources
            else:
                yield resources
