"""Body entity-tags (Google AIP-154 / AEP-154, Eve's ``_etag``), in plain values: no framework.

A resource carries its entity-tag as a string member of its JSON body, and a client sends it
back in the body of an update or a delete instead of an ``If-Match`` header. This module turns
such a request into the request every integration already guards, and its answer back into
the body convention:

- :func:`translate_request`: the body's tag becomes the request's ``If-Match`` (so the write
  is the store's compare-and-set, exactly as for the header), the member is taken out of the
  body the application sees, and a malformed tag, or a header and a body that disagree, is a
  400 problem naming the field;
- :func:`translate_response`: a 412 caused by the body's tag names the field (and becomes a
  409 where configured), and JSON representations that carry a version ``ETag`` carry the same
  tag in the body member (a 412's ``current`` member included).

The WSGI and ASGI middleware (``ifmatch.integrations.bodyetag``) and the Django middleware
(``ifmatch.integrations.django_bodyetag``) only move bytes in and out of these two functions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..core import ETag, problem
from ..core.errors import InvalidPreconditionHeader
from ..core.etag import UnquotedEntityTag, parse_etag_list, strong_match
from ..core.tags import is_version_etag
from ._fields import render_problem

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "EVE_ETAG",
    "QUOTED_ETAG",
    "BodyETag",
    "BodyField",
    "Rejected",
    "Translated",
    "is_json",
    "too_large",
    "translate_request",
    "translate_response",
]

#: Largest request body read for its tag, in bytes; a larger one is answered 413.
DEFAULT_MAX_BODY_SIZE = 4 * 1024 * 1024
_CONFLICT_DETAIL = (
    "The resource has changed since you read it: the {name!r} member you sent is not its "
    "current entity-tag. Re-read it, re-apply your change and retry with the new {name!r}."
)


@dataclass(frozen=True, slots=True)
class BodyField:
    """A body member that carries the resource's entity-tag.

    Attributes:
        name: the member's name (``"etag"``, ``"_etag"``).
        quoted: ``True``: the member holds a full entity-tag, ``"\\"v3\\""`` (AIP-154,
            Microsoft's REST API guidelines); ``False``: the bare opaque-tag ``"v3"`` (Eve,
            halchemy). A request must use the field's own form; anything else is a 400.
    """

    name: str
    quoted: bool = True

    def render(self, tag: ETag) -> str:
        """The member's value for ``tag``."""
        return str(tag) if self.quoted else tag.opaque


#: The AIP-154 member: ``"etag": "\"v3\""``.
QUOTED_ETAG = BodyField("etag", quoted=True)
#: Eve's member, bare: ``"_etag": "v3"``.
EVE_ETAG = BodyField("_etag", quoted=False)


@dataclass(frozen=True, slots=True)
class BodyETag:
    """How a resource takes and shows its entity-tag in the body.

    Attributes:
        fields: the members read in requests and written in representations (default: the
            quoted ``etag``). When a request carries several, they must name the same tag. A
            plain name stands for a :class:`BodyField`: quoted, or bare if it starts with
            ``_`` (``("etag", "_etag")``).
        mismatch_status: the status of a write refused because the body's tag is not current,
            412 (as a stale ``If-Match``) or 409 (AIP's ``ABORTED``: conflict).
        methods: the methods whose body may carry the tag.
        strip: take the members out of the request body the application sees, so a view that
            stores what it is sent never stores them.
        represent: write the members into JSON representations that carry a version ``ETag``
            (2xx bodies and a 412's ``current``), with the header's tag.
        max_body_size: the largest request body read, in bytes (larger: 413).
        applies: which request paths the convention is on for (default: all).
        error_format: the format of the middleware's own 400 and 413 answers, as the
            integrations' setting of that name: ``"problem"`` or ``"jsonapi"``.
        type_base: a URI prefix for their problem ``type`` (``type_base + code``).
    """

    fields: tuple[BodyField, ...] | tuple[BodyField | str, ...] = (QUOTED_ETAG,)
    mismatch_status: int = 412
    methods: frozenset[str] = frozenset({"PUT", "PATCH", "DELETE"})
    strip: bool = True
    represent: bool = True
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    applies: Callable[[str], bool] | None = field(default=None, compare=False)
    error_format: str = "problem"
    type_base: str | None = None

    def __post_init__(self) -> None:
        if self.error_format not in ("problem", "jsonapi"):
            raise ValueError(f"error_format must be 'problem' or 'jsonapi': {self.error_format!r}")
        if self.mismatch_status not in (409, 412):
            raise ValueError(f"mismatch_status must be 409 or 412, not {self.mismatch_status!r}")
        if not self.fields:
            raise ValueError("BodyETag needs at least one field")
        fields = tuple(
            spec
            if isinstance(spec, BodyField)
            else BodyField(spec, quoted=not spec.startswith("_"))
            for spec in self.fields
        )
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))

    @property
    def specs(self) -> tuple[BodyField, ...]:
        """The members, each as a :class:`BodyField`."""
        return tuple(spec for spec in self.fields if isinstance(spec, BodyField))

    def covers(self, path: str) -> bool:
        """Whether the convention is on for a request to ``path``."""
        return self.applies is None or self.applies(path)


@dataclass(frozen=True, slots=True)
class Translated:
    """A request as the application is to see it.

    Attributes:
        tag: the entity-tag the body carried (``None``: it carried none).
        field: the member it came from.
        if_match: the ``If-Match`` value to send on (``None``: leave the request's header).
        body: the body to send on (``None``: unchanged).
        had_header: whether the request carried ``If-Match`` itself.
    """

    tag: ETag | None = None
    field: str | None = None
    if_match: str | None = None
    body: bytes | None = None
    had_header: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    """A request refused before the application runs: its problem body (400 or 413)."""

    problem: dict[str, Any]

    @property
    def status(self) -> int:
        """The answer's status."""
        return int(self.problem["status"])

    def render(self, config: BodyETag) -> tuple[bytes, list[tuple[str, str]]]:
        """The problem as bytes and headers, in ``config.error_format`` (RFC 9457
        ``application/problem+json``, or a JSON:API error document), its ``type`` under
        ``config.type_base``."""
        body = dict(self.problem)
        if config.type_base is not None and "code" in body:
            body["type"] = config.type_base + body["code"]
        data, headers = render_problem(body, config.error_format)
        return data, [*headers, _length(data)]


UNCHANGED = Translated()


def too_large(config: BodyETag, path: str) -> Rejected:
    """The 413 for a request body larger than ``config.max_body_size``."""
    detail = f"the request body is larger than {config.max_body_size} bytes"
    return Rejected(problem(413, detail, code="body-too-large", instance=path))


JSONAPI = "application/vnd.api+json"


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` names JSON (``application/json`` or a ``+json`` type)."""
    media = _media(content_type)
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _bad(
    detail: str, *, instance: str | None, code: str = "invalid-body-etag", **more: Any
) -> Rejected:
    return Rejected(problem(400, detail, code=code, instance=instance, **more))


def _read_member(spec: BodyField, value: object, instance: str | None) -> ETag | Rejected:
    """The tag a member names, or the 400 for a malformed one."""
    name = spec.name
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        return _bad(
            f"{name!r} must be a string holding an entity-tag, not {kind}",
            instance=instance,
            field=name,
        )
    if spec.quoted:
        try:
            tags = parse_etag_list(value, header="If-Match", max_tags=1)
        except UnquotedEntityTag:
            shown = value if len(value) <= 40 else value[:37] + "..."
            return _bad(
                f"{name!r} must be a quoted entity-tag, as the resource carries it: "
                f'"\\"{shown}\\""',
                instance=instance,
                field=name,
            )
        except InvalidPreconditionHeader:
            return _bad(
                f"{name!r} is not an entity-tag (RFC 9110 §8.8.3)", instance=instance, field=name
            )
        if not isinstance(tags, tuple) or len(tags) != 1:
            return _bad(f"{name!r} must hold exactly one entity-tag", instance=instance, field=name)
        tag = tags[0]
    else:
        bare = _bare(value)
        if bare is None:
            return _bad(
                f"{name!r} must be the bare entity-tag the resource carries (e.g. v3), "
                "without quotes",
                instance=instance,
                field=name,
            )
        tag = bare
    if tag.weak:
        return _bad(
            f"{name!r} is a weak entity-tag; a write needs the strong one the resource carries",
            instance=instance,
            field=name,
        )
    return tag


def _bare(value: str) -> ETag | None:
    """The strong tag a bare member names (``v3`` is ``"v3"``), or ``None``."""
    if not value or value.startswith("W/"):
        return None
    try:
        return ETag(value)
    except ValueError:
        return None


def _header_agrees(header: str, tag: ETag) -> bool:
    """Whether an ``If-Match`` value names exactly ``tag`` (a lone bare token counts as its
    quoted form, as ``evaluate`` reads it for Eve-style clients)."""
    try:
        tags = parse_etag_list(header, header="If-Match", max_tags=1)
    except UnquotedEntityTag as bare:
        return strong_match(bare.tag, tag)
    except InvalidPreconditionHeader:
        return False
    return isinstance(tags, tuple) and len(tags) == 1 and strong_match(tags[0], tag)


def translate_request(
    config: BodyETag,
    method: str,
    path: str,
    content_type: str | None,
    if_match: str | None,
    body: bytes,
) -> Translated | Rejected:
    """Read the body's entity-tag and say how the request goes on.

    Args:
        config: the convention's settings.
        method: the request method.
        path: the request path (the problem's ``instance``, and ``config.applies``).
        content_type: the request's ``Content-Type``.
        if_match: the request's ``If-Match`` (repeated lines joined), or ``None``.
        body: the whole request body.

    Returns:
        :data:`UNCHANGED` for a request the convention does not touch (another method, not a
        JSON object, no member); a :class:`Translated` request carrying the tag as
        ``If-Match``; or the :class:`Rejected` answer: 400 for a body that is not JSON, a
        member that is not a string, not an entity-tag, weak or in the wrong form, members
        that disagree, or an ``If-Match`` that names another tag.
    """
    if method.upper() not in config.methods or not body or not config.covers(path):
        return UNCHANGED
    if not is_json(content_type):
        return UNCHANGED
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return _bad("the request body is not valid JSON", instance=path, code="invalid-body")
    if not isinstance(document, dict):
        return UNCHANGED
    found: list[tuple[BodyField, ETag]] = []
    for spec in config.specs:
        if spec.name in document:
            read = _read_member(spec, document[spec.name], path)
            if isinstance(read, Rejected):
                return read
            found.append((spec, read))
    if not found:
        return UNCHANGED
    first, tag = found[0]
    for other, other_tag in found[1:]:
        if not strong_match(tag, other_tag):
            return _bad(
                f"{first.name!r} and {other.name!r} name different entity-tags",
                instance=path,
                code="body-etag-conflict",
                fields=[first.name, other.name],
            )
    if if_match is not None and not _header_agrees(if_match, tag):
        return _bad(
            f"the If-Match header and the body's {first.name!r} name different entity-tags: "
            "send one of them, or the same tag in both",
            instance=path,
            code="body-etag-conflict",
            header="If-Match",
            field=first.name,
        )
    rest = body
    if config.strip:
        kept = {
            key: value for key, value in document.items() if key not in {s.name for s, _ in found}
        }
        rest = b"" if not kept and method.upper() == "DELETE" else _dumps(kept)
    return Translated(
        tag=tag,
        field=first.name,
        if_match=str(tag) if if_match is None else None,
        body=None if rest is body else rest,
        had_header=if_match is not None,
    )


def _dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _length(data: bytes) -> tuple[str, str]:
    return ("Content-Length", str(len(data)))


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers:
        if key.lower() == lowered:
            return value
    return None


def _version_tag(headers: Iterable[tuple[str, str]]) -> ETag | None:
    value = _header(headers, "ETag")
    if value is None:
        return None
    try:
        tags = parse_etag_list(value, header="ETag", max_tags=1)
    except InvalidPreconditionHeader:
        return None
    if not isinstance(tags, tuple) or len(tags) != 1 or not is_version_etag(tags[0]):
        return None
    return tags[0]


def translate_response(
    config: BodyETag,
    request: Translated,
    method: str,
    path: str,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """Rewrite an answer for the body convention, or ``None`` to send it as it is.

    - A 412 refusing the body's tag (``header: If-Match`` in its problem) names the member in
      ``field``. When the request sent no ``If-Match`` of its own, ``header`` is dropped and
      the status becomes ``config.mismatch_status``; a request that sent both is answered 412,
      as HTTP answers a stale ``If-Match``. A 428 says the member would do too.
    - With ``config.represent``, a JSON object answering with a version ``ETag`` (a 2xx, or a
      refused write's ``current`` member) gets each member set to that tag.

    Args:
        config: the convention's settings.
        request: what :func:`translate_request` made of the request.
        method: the request method.
        path: the request path (for ``config.applies``).
        status: the answer's status.
        headers: the answer's header fields (``Content-Length`` is replaced when the body is).
        body: the whole answer body.
    """
    if method.upper() == "HEAD" or not body or not config.covers(path):
        return None
    content_type = _header(headers, "Content-Type")
    if not is_json(content_type) or _header(headers, "Content-Encoding") is not None:
        return None
    if _media(content_type) == JSONAPI:
        # A JSON:API document's top level has no room for resource members.
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    changed = False
    tag = _version_tag(headers) if config.represent else None
    if status in (412, 409, 428) and "detail" in document and "status" in document:
        status, changed = _problem(config, request, status, document)
        current = document.get("current")
        if tag is not None and isinstance(current, dict):
            changed = _represent(config, current, tag) or changed
    elif 200 <= status < 300 and tag is not None:
        changed = _represent(config, document, tag)
    if not changed:
        return None
    data = _dumps(document)
    kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
    return status, [*kept, _length(data)], data


def _represent(config: BodyETag, document: dict[str, Any], tag: ETag) -> bool:
    changed = False
    for spec in config.specs:
        value = spec.render(tag)
        if document.get(spec.name) != value:
            document[spec.name] = value
            changed = True
    return changed


def _problem(
    config: BodyETag, request: Translated, status: int, document: dict[str, Any]
) -> tuple[int, bool]:
    """Name the body member in a problem caused by it; the new status and whether it changed."""
    if status == 428:
        names = " or ".join(repr(spec.name) for spec in config.specs)
        document["detail"] = (
            f"{document['detail']} Or send the entity-tag in the body member {names}."
        )
        document["fields"] = [spec.name for spec in config.specs]
        return status, True
    # A 412 about If-Match (or a lost compare-and-set, which some integrations do not
    # attribute to a header): the request's If-Match was the body's tag.
    if request.tag is None or status != 412 or document.get("header", "If-Match") != "If-Match":
        return status, False
    name = request.field
    document["field"] = name
    if request.had_header:
        # The client used If-Match too (the two agreed): it is answered as HTTP says, 412.
        return status, True
    document.pop("header", None)
    if document.get("code") == "etag-mismatch":
        document["detail"] = _CONFLICT_DETAIL.format(name=name)
    if config.mismatch_status != status:
        status = config.mismatch_status
        document["status"] = status
        document["title"] = "Conflict"
    return status, True
