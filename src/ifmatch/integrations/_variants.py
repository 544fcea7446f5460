"""Which representation a write's entity-tags name, when one version has several.

RFC 9110 §8.8.3: a strong validator "changes value whenever ... the selected representation
data changes", so two representations of one version (JSON and the browsable HTML page, two
projections) need two tags: ``version_etag(7)`` and ``version_etag(7, variant="text/html")``.

Reads are simple: the response's tag is the negotiated representation's, and ``If-None-Match``
is compared with it (an HTML request carrying the JSON's tag gets the HTML, not a 304).

Writes need a rule, because a client's ``Accept`` on its ``PUT`` need not be the one of the
``GET`` it read with (a script that read ``application/json`` and writes with ``*/*``, a form
that read HTML and writes JSON). Every representation of a version stands for the same stored
state, so a tag of *any* representation of the current version is a current tag: the write is
checked against the representation its ``If-Match`` (else ``If-None-Match``) names, found by the
variant digest in the tag. The answer, a 200's ``ETag`` or a 412's ``current_etag``, is the tag
of the representation the response is negotiated to (the one a ``GET`` with the same ``Accept``
would get). A tag that names no known representation is compared with the negotiated one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..core.errors import InvalidPreconditionHeader
from ..core.etag import ETag, parse_etag_list
from ..core.tags import version_number

__all__ = ["named_variant"]

_WRITE_FIELDS = ("if-match", "if-none-match")


def named_variant(
    headers: Iterable[tuple[str, str]], variants: Sequence[str | None], default: str | None
) -> str | None:
    """The variant among ``variants`` that a write's ``If-Match`` (else ``If-None-Match``)
    tags were minted for; ``default`` (the negotiated one) when they name none, are ``*`` or are
    malformed (the core then answers as usual)."""
    if len(variants) < 2:
        return default
    lines: dict[str, list[str]] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered in _WRITE_FIELDS:
            lines.setdefault(lowered, []).append(value)
    for field in _WRITE_FIELDS:
        if field not in lines:
            continue
        try:
            tags = parse_etag_list(", ".join(lines[field]))
        except InvalidPreconditionHeader:
            return default
        if not isinstance(tags, tuple):
            return default  # "*"
        return _first_named(tags, variants, default)
    return default


def _first_named(
    tags: Sequence[ETag], variants: Sequence[str | None], default: str | None
) -> str | None:
    for tag in tags:
        if version_number(tag, variant=default) is not None:
            return default
        for variant in variants:
            if version_number(tag, variant=variant) is not None:
                return variant
    return default
