"""The JSON documents the write probes change: the shapes they recognise (plain JSON, HAL,
JSON:API), where the body field sits in each, which members the server manages, and body
templates.

Everything here is pure: documents in, documents out.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "HAL",
    "JSON",
    "JSON_API",
    "JSON_PATCH",
    "MERGE_PATCH",
    "PLACEHOLDER",
    "Path",
    "Representation",
    "Shape",
    "changed_members",
    "fill_template",
    "is_json_type",
    "media_type_of",
    "nested",
    "parse_template",
    "read_only_paths",
    "remove_at",
    "set_at",
    "value_at",
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


# --- the document ------------------------------------------------------------------------------


def media_type_of(value: str | None) -> str:
    """The media type of a ``Content-Type`` value, lower case, without parameters."""
    return (value or "").split(";")[0].strip().lower()


def is_json_type(media_type: str) -> bool:
    """Whether ``media_type`` is JSON (``application/json`` or a ``+json`` type)."""
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
        media_type = media_type_of(content_type)
        if not is_json_type(media_type):
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


def set_at(document: dict[str, Any], path: Path, value: Any) -> None:
    """Set the member at ``path`` in ``document`` (in place), creating objects on the way."""
    for name in path[:-1]:
        inner = document.get(name)
        if not isinstance(inner, dict):
            inner = document[name] = {}
        document = inner
    document[path[-1]] = value


def remove_at(document: dict[str, Any], path: Path) -> None:
    """Remove the member at ``path`` from ``document`` (in place), if it is there."""
    inner = value_at(document, path[:-1]) if len(path) > 1 else document
    if isinstance(inner, dict):
        inner.pop(path[-1], None)


def nested(path: Path, value: Any) -> dict[str, Any]:
    """A document holding only ``value`` at ``path``: ``{"data": {"attributes": {...}}}``."""
    result: dict[str, Any] = {}
    set_at(result, path, value)
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
