"""How the write probes change one member: the ways of writing they try, in order, until the
API accepts one.

A person who meets an API that refuses the document they read does not give up: they leave out
what the server manages itself (ids, links, ``etag``, timestamps, what the OpenAPI document
marks ``readOnly``), then send only the member they change (``PATCH``, as a JSON merge patch,
then as plain JSON), then speak the API's own format (a JSON:API resource object). :class:`Plan`
does the same, and learns from each refusal: a ``405`` drops the method (and ``Allow`` names
the ones left), a ``415`` brings the other JSON media type, an ``Accept-Patch`` field
(RFC 5789 §3.1) brings the patch formats it lists.

Everything here is pure: documents in, bodies out. The ``write`` probe (``baseline``) sends them.
"""

from __future__ import annotations

import copy
import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from .documents import (
    HAL,
    JSON,
    JSON_API,
    JSON_PATCH,
    MERGE_PATCH,
    Path,
    Representation,
    Shape,
    fill_template,
    is_json_type,
    media_type_of,
    nested,
    remove_at,
    set_at,
    value_at,
)
from .messages import Response

__all__ = ["BODY_REFUSED", "METHOD_REFUSED", "Body", "Constraints", "Plan", "Way"]


class Body(enum.Enum):
    """What a write carries."""

    #: The document as read, with the member changed (and ``Way.omit`` left out).
    DOCUMENT = "document"
    #: Only the member, nested along its path: a JSON merge patch (RFC 7396).
    MEMBER = "member"
    #: A JSON Patch (RFC 6902) replacing the member.
    JSON_PATCH = "json-patch"
    #: A JSON:API resource object with its type, id and the one attribute.
    RESOURCE = "resource"
    #: The user's ``--body-template``.
    TEMPLATE = "template"


# --- ways of writing -----------------------------------------------------------------------


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(json.dumps(name) for name in names)


@dataclass(frozen=True, slots=True)
class Way:
    """One way of writing the body field: a method, a media type and a body.

    Attributes:
        method: ``PUT``, ``PATCH`` or ``POST``.
        content_type: the ``Content-Type`` sent.
        body: what the body carries.
        omit: members left out of a ``DOCUMENT`` body.
    """

    method: str
    content_type: str
    body: Body
    omit: tuple[Path, ...] = ()

    def content(self, rep: Representation, value: Any, template: Any = None) -> bytes:
        """The body that sets the body field to ``value``."""
        if self.body is Body.DOCUMENT:
            document = copy.deepcopy(dict(rep.document))
            for path in self.omit:
                remove_at(document, path)
            set_at(document, rep.path, value)
            payload: Any = document
        elif self.body is Body.MEMBER:
            payload = nested(rep.path, value)
        elif self.body is Body.JSON_PATCH:
            op = "add" if rep.original is None else "replace"
            pointer = "/" + "/".join(n.replace("~", "~0").replace("/", "~1") for n in rep.path)
            payload = [{"op": op, "path": pointer, "value": value}]
        elif self.body is Body.RESOURCE:
            data = value_at(rep.document, ("data",)) or {}
            resource = {"type": data.get("type"), "id": data.get("id")}
            payload = {"data": {**resource, "attributes": {rep.field: value}}}
        else:
            payload = fill_template(template, value)
        return json.dumps(payload).encode()

    def describe(self, rep: Representation) -> str:
        """E.g. ``PATCH of "text" alone as application/merge-patch+json``."""
        member = json.dumps(rep.field)
        if self.body is Body.DOCUMENT:
            left_out = f" without {_quoted(p[-1] for p in self.omit)}" if self.omit else ""
            what = f"of the {rep.shape.value}{left_out}"
        elif self.body is Body.MEMBER:
            what = f"of {member} alone"
        elif self.body is Body.JSON_PATCH:
            what = f"of a JSON Patch replacing {member}"
        elif self.body is Body.RESOURCE:
            what = f"of a JSON:API resource object with the attribute {member}"
        else:
            what = "of the body template"
        return f"{self.method} {what} as {self.content_type}"


@dataclass(frozen=True, slots=True)
class Constraints:
    """What the user fixed: the method, the media type, a body template."""

    method: str | None = None
    content_type: str | None = None
    template: bool = False


#: The statuses that say the method is not there for this URL.
METHOD_REFUSED = frozenset({404, 405, 501})
#: The statuses that say the request's body, or its media type, was refused.
BODY_REFUSED = frozenset({400, 409, 415, 422})


@dataclass(slots=True)
class Plan:
    """The ways still to try, in order, adjusted by each refusal.

    Args:
        rep: the document the probes change.
        constraints: what the user fixed.
    """

    rep: Representation
    constraints: Constraints = field(default_factory=Constraints)
    pending: list[Way] = field(default_factory=list)
    tried: list[Way] = field(default_factory=list)
    stripped: bool = False
    #: Methods the resource refused (405 and the like), and those ``Allow`` last listed.
    refused_methods: set[str] = field(default_factory=set)
    allowed_methods: set[str] | None = None

    def __post_init__(self) -> None:
        self.pending = [self._typed(way) for way in self._initial()]
        self.pending = list(dict.fromkeys(self.pending))

    def _initial(self) -> list[Way]:
        method, rep = self.constraints.method, self.rep
        if self.constraints.template:
            methods = [method] if method else ["PUT", "PATCH"]
            return [Way(m, rep.media_type, Body.TEMPLATE) for m in methods]
        document = [Way(method or "PUT", rep.media_type, Body.DOCUMENT)]
        patch = [Way("PATCH", MERGE_PATCH, Body.MEMBER), Way("PATCH", JSON, Body.MEMBER)]
        if rep.shape is Shape.JSON_API:
            patch.append(Way("PATCH", JSON_API, Body.RESOURCE))
        if method is None:
            return document + patch
        if method == "PATCH":
            return patch
        if method == "POST":
            return [*document, Way("POST", JSON, Body.MEMBER)]
        return document  # a PUT carries the whole representation, never one member

    def _typed(self, way: Way) -> Way:
        """``way`` with the user's media type, when they gave one."""
        forced = self.constraints.content_type
        if forced is None:
            return way
        body = way.body
        if body in (Body.MEMBER, Body.JSON_PATCH):
            body = Body.JSON_PATCH if media_type_of(forced) == JSON_PATCH else Body.MEMBER
        return replace(way, content_type=forced, body=body)

    def next(self) -> Way | None:
        """The next way to try, or ``None`` when none is left."""
        while self.pending:
            way = self.pending.pop(0)
            if way not in self.tried:
                self.tried.append(way)
                return way
        return None

    def _open(self, way: Way) -> bool:
        """Whether ``way`` may still be tried: new, and its method not refused."""
        return (
            way not in self.tried
            and way.method not in self.refused_methods
            and (self.allowed_methods is None or way.method in self.allowed_methods)
        )

    def _first(self, *ways: Way) -> None:
        self.pending[:0] = [w for w in map(self._typed, ways) if self._open(w)]

    def observe(self, response: Response) -> None:
        """Learn from a response's ``Accept-Patch`` (the patch formats the resource takes)."""
        if self.constraints.template or self.constraints.method in ("PUT", "POST"):
            return
        for media_type in _split(response.header("Accept-Patch")):
            if media_type == JSON_PATCH:
                way = Way("PATCH", JSON_PATCH, Body.JSON_PATCH)
            elif media_type == JSON_API and self.rep.shape is Shape.JSON_API:
                way = Way("PATCH", JSON_API, Body.RESOURCE)
            elif is_json_type(media_type):
                way = Way("PATCH", media_type, Body.MEMBER)
            else:
                continue
            way = self._typed(way)
            if self._open(way) and way not in self.pending:
                self.pending.append(way)

    def refused(self, way: Way, response: Response) -> None:
        """Adjust the plan after ``way`` was refused with ``response``."""
        self.observe(response)
        status = response.status
        if status in METHOD_REFUSED:
            self.refused_methods.add(way.method)
            # RFC 9110 §15.5.6: a 405 "MUST generate an Allow header field" listing the
            # methods the resource supports.
            allowed = set(_split(response.header("Allow"), upper=True)) if status == 405 else set()
            if allowed:
                self.allowed_methods = allowed
            self.pending = [w for w in self.pending if self._open(w)]
        elif status == 415 and self.constraints.content_type is None:
            self._first(*self._other_types(way))

    def _other_types(self, way: Way) -> list[Way]:
        if way.body in (Body.DOCUMENT, Body.TEMPLATE):
            others = [JSON] if way.content_type != JSON else []
            if self.rep.shape is Shape.HAL and way.content_type != HAL:
                others.append(HAL)
            return [replace(way, content_type=other) for other in others]
        return []  # patch formats come from Accept-Patch (see observe)

    def needs_stripping(self, way: Way, status: int) -> bool:
        """Whether to try ``way`` again without the read-only members (asked once)."""
        return (
            status in (400, 409, 422)
            and way.body is Body.DOCUMENT
            and not way.omit
            and not self.stripped
        )

    def strip(self, way: Way, omit: tuple[Path, ...]) -> None:
        """Try ``way`` next without the members in ``omit``."""
        self.stripped = True
        if omit:
            self._first(replace(way, omit=omit))


def _split(value: str | None, *, upper: bool = False) -> list[str]:
    items = [media_type_of(item) for item in (value or "").split(",") if item.strip()]
    return [item.upper() for item in items] if upper else items
