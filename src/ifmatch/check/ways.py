"""How the write probes change one member: the document shapes they recognise and the ways
of writing they try, in order, until the API accepts one.

A person who meets an API that refuses the document they read does not give up: they leave out
what the server manages itself (ids, links, ``etag``, timestamps, what the OpenAPI document
marks ``readOnly``), then send only the member they change (``PATCH``, as a JSON merge patch,
then as plain JSON), then speak the API's own format (a JSON:API resource object). :class:`Plan`
does the same, and learns from each refusal: a ``405`` drops the method (and ``Allow`` names
the ones left), a ``415`` brings the other JSON media type, an ``Accept-Patch`` field
(RFC 5789 §3.1) brings the patch formats it lists.

Everything here is pure: documents in, bodies out. The probes (``writes``) send them.
"""

from __future__ import annotations

import copy
import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from .messages import Response

__all__ = [
    "HAL",
    "JSON",
    "JSON_API",
    "JSON_PATCH",
    "MERGE_PATCH",
    "PLACEHOLDER",
    "Body",
    "Path",
    "Plan",
    "Representation",
    "Shape",
    "Way",
    "changed_members",
    "fill_template",
    "parse_template",
    "read_only_paths",
]

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
JSON_API = "application/vnd.api+json"
HAL = "application/hal+json"

#: The string a ``--body-template`` holds where the probes put each value.
PLACEHOLDER = "{{value}}"

#: Where a member sits in a document: the names leading to it.
Path = tuple[str, ...]


class Shape(enum.Enum):
    """The document shapes the probes recognise."""

    PLAIN = "JSON object"
    HAL = "HAL document"
    JSON_API = "JSON:API resource document"


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


# --- the document ------------------------------------------------------------------------------


def _media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def _is_json_type(media_type: str) -> bool:
    return media_type.endswith(("/json", "+json"))


@dataclass(frozen=True, slots=True)
class Representation:
    """The JSON document the first GET returned, and where the body field sits in it.

    Attributes:
        document: the document.
        media_type: its media type (``application/json`` when GET sent no JSON type).
        shape: plain JSON, HAL or JSON:API.
        field: the member the probes change (``--body-field``).
        path: where that member is: ``("text",)``, or ``("data", "attributes", "text")`` in a
            JSON:API document.
    """

    document: Mapping[str, Any]
    media_type: str
    shape: Shape
    field: str
    path: Path

    @classmethod
    def read(
        cls, document: Mapping[str, Any], content_type: str | None, body_field: str
    ) -> Representation:
        """Recognise the shape of ``document`` (sent with ``content_type``)."""
        media_type = _media_type(content_type)
        if not _is_json_type(media_type):
            media_type = JSON
        data = document.get("data")
        attributes = value_at(document, ("data", "attributes"))
        if _is_resource_object(data, media_type) and (
            body_field in attributes or body_field not in document
        ):
            path = ("data", "attributes", body_field)
            return cls(document, media_type, Shape.JSON_API, body_field, path)
        hal = isinstance(document.get("_links"), dict) or media_type == HAL
        return cls(
            document, media_type, Shape.HAL if hal else Shape.PLAIN, body_field, (body_field,)
        )

    @property
    def original(self) -> Any:
        """The body field's value in the document as read."""
        return value_at(self.document, self.path)

    @property
    def members(self) -> Path:
        """Where the resource's own members are: the top level, or a JSON:API ``attributes``."""
        return self.path[:-1]


def _is_resource_object(data: Any, media_type: str) -> bool:
    """A JSON:API primary resource object: attributes, and a type (or the JSON:API type)."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("attributes"), dict)
        and (media_type == JSON_API or isinstance(data.get("type"), str))
    )


def value_at(document: Any, path: Path) -> Any:
    """The value at ``path`` in ``document``, or ``None``."""
    for name in path:
        if not isinstance(document, dict):
            return None
        document = document.get(name)
    return document


def _set(document: dict[str, Any], path: Path, value: Any) -> None:
    for name in path[:-1]:
        inner = document.get(name)
        if not isinstance(inner, dict):
            inner = document[name] = {}
        document = inner
    document[path[-1]] = value


def _remove(document: dict[str, Any], path: Path) -> None:
    inner = value_at(document, path[:-1]) if len(path) > 1 else document
    if isinstance(inner, dict):
        inner.pop(path[-1], None)


def _nested(path: Path, value: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    _set(result, path, value)
    return result


# --- members the server manages ------------------------------------------------------------

_IDS = frozenset({"id", "pk", "uuid", "guid"})
_TIMESTAMP = re.compile(
    r"(date)?(created|updated|modified|lastmodified|lastupdated|changed|inserted)"
    r"(at|on|date|time|timestamp)?|(creation|modification|update)(date|time)|timestamp"
)
_VERSIONS = frozenset({"version", "rev", "revision", "lockversion", "rowversion"})
_LINKS = frozenset({"links", "link"})
_SELF = frozenset({"url", "uri", "href", "self"})
#: Members of the document itself, not of the resource, by shape.
_SHAPE_MEMBERS: dict[Shape, tuple[Path, ...]] = {
    Shape.PLAIN: (),
    Shape.HAL: (("_links",), ("_embedded",), ("_templates",)),
    Shape.JSON_API: (
        ("links",),
        ("meta",),
        ("included",),
        ("jsonapi",),
        ("data", "links"),
        ("data", "meta"),
    ),
}


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _names_resource(value: Any, resource_path: str) -> bool:
    """Whether ``value`` is a link to the resource itself (a ``url`` or ``self`` member)."""
    if not isinstance(value, str) or not value.startswith(("/", "http://", "https://")):
        return False
    return urlsplit(value).path.rstrip("/") == resource_path.rstrip("/")


def _looks_read_only(name: str, value: Any, resource_path: str) -> bool:
    normal = _normal(name)
    if normal in _IDS or normal == "etag" or _TIMESTAMP.fullmatch(normal):
        return True
    if normal in _LINKS and isinstance(value, dict | list):
        return True
    return normal in _SELF and _names_resource(value, resource_path)


def read_only_paths(
    rep: Representation, resource_path: str, also: Iterable[str] = ()
) -> tuple[Path, ...]:
    """The members a write may leave out: ids, links, ``etag``/``_etag``, timestamps, a
    link to the resource itself, the document shape's own members, and ``also`` (names the
    API's OpenAPI document marks read-only). Never the body field.

    Args:
        rep: the document.
        resource_path: the path of the URL checked, to recognise a link to itself.
        also: more member names to leave out.
    """
    extra = frozenset(also)
    container = value_at(rep.document, rep.members) if rep.members else rep.document
    found: list[Path] = [
        path for path in _SHAPE_MEMBERS[rep.shape] if value_at(rep.document, path) is not None
    ]
    if isinstance(container, dict):
        for name, value in container.items():
            if name == rep.field:
                continue
            if name in extra or _looks_read_only(name, value, resource_path):
                found.append((*rep.members, name))
    return tuple(dict.fromkeys(found))


def _server_managed(name: str) -> bool:
    """Members a server may change on every write: validators, versions, timestamps, links."""
    normal = _normal(name)
    return (
        normal == "etag"
        or normal in _VERSIONS
        or bool(_TIMESTAMP.fullmatch(normal))
        or normal in _LINKS
        or name in ("_links", "_embedded", "meta")
    )


def changed_members(rep: Representation, document: Mapping[str, Any]) -> list[str]:
    """The members of ``document`` that differ from the document as read, leaving out those
    a server changes on every write (validators, versions, timestamps, links)."""

    def members(doc: Mapping[str, Any]) -> dict[str, Any]:
        if rep.shape is Shape.JSON_API:
            data = doc.get("data")
            data = data if isinstance(data, dict) else {}
            attributes = data.get("attributes")
            attributes = attributes if isinstance(attributes, dict) else {}
            found = {f"data.{k}": data.get(k) for k in ("type", "id")}
            found.update((name, value) for name, value in attributes.items())
            return {k: v for k, v in found.items() if not _server_managed(k.split(".")[-1])}
        return {k: v for k, v in doc.items() if not _server_managed(k)}

    before, after = members(rep.document), members(document)
    return [name for name in {**before, **after} if before.get(name) != after.get(name)]


# --- templates -----------------------------------------------------------------------------


def parse_template(text: str) -> Any:
    """The JSON value of a ``--body-template``.

    Raises:
        ValueError: it is not JSON, or holds no ``"{{value}}"`` string.
    """
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ValueError(f"the body template is not JSON: {error}") from None
    if not _has_placeholder(value):
        raise ValueError(
            f'the body template has no "{PLACEHOLDER}" string for the value the probes write'
        )
    return value


def _has_placeholder(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_placeholder(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_placeholder(item) for item in value)
    return isinstance(value, str) and value == PLACEHOLDER


def fill_template(template: Any, value: Any) -> Any:
    """``template`` with every ``"{{value}}"`` string replaced by ``value``."""
    if isinstance(template, dict):
        return {name: fill_template(item, value) for name, item in template.items()}
    if isinstance(template, list):
        return [fill_template(item, value) for item in template]
    return value if template == PLACEHOLDER else template


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
                _remove(document, path)
            _set(document, rep.path, value)
            payload: Any = document
        elif self.body is Body.MEMBER:
            payload = _nested(rep.path, value)
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
            body = Body.JSON_PATCH if _media_type(forced) == JSON_PATCH else Body.MEMBER
        return replace(way, content_type=forced, body=body)

    def next(self) -> Way | None:
        """The next way to try, or ``None`` when none is left."""
        while self.pending:
            way = self.pending.pop(0)
            if way not in self.tried:
                self.tried.append(way)
                return way
        return None

    def _first(self, *ways: Way) -> None:
        fresh = [self._typed(w) for w in ways if self._typed(w) not in self.tried]
        self.pending[:0] = fresh

    def observe(self, response: Response) -> None:
        """Learn from a response's ``Accept-Patch`` (the patch formats the resource takes)."""
        if self.constraints.template or self.constraints.method in ("PUT", "POST"):
            return
        for media_type in _split(response.header("Accept-Patch")):
            if media_type == JSON_PATCH:
                way = Way("PATCH", JSON_PATCH, Body.JSON_PATCH)
            elif media_type == JSON_API and self.rep.shape is Shape.JSON_API:
                way = Way("PATCH", JSON_API, Body.RESOURCE)
            elif _is_json_type(media_type):
                way = Way("PATCH", media_type, Body.MEMBER)
            else:
                continue
            way = self._typed(way)
            if way not in self.tried and way not in self.pending:
                self.pending.append(way)

    def refused(self, way: Way, response: Response) -> None:
        """Adjust the plan after ``way`` was refused with ``response``."""
        self.observe(response)
        status = response.status
        if status in METHOD_REFUSED:
            # RFC 9110 §15.5.6: a 405 "MUST generate an Allow header field" listing the
            # methods the resource supports.
            allowed = set(_split(response.header("Allow"), upper=True)) if status == 405 else set()
            self.pending = [
                w
                for w in self.pending
                if w.method != way.method and (not allowed or w.method in allowed)
            ]
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
    items = [_media_type(item) for item in (value or "").split(",") if item.strip()]
    return [item.upper() for item in items] if upper else items
