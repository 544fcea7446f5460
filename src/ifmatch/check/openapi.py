"""What the API's own OpenAPI document says a write may carry, when the API publishes one.

Looked up only after a write of the document read was refused as a bad body (400, 409, 422).
Where: the targets of the GET response's ``Link`` fields with relation ``service-desc``
(RFC 8631) or ``describedby``, then ``openapi.json`` in each directory above the resource's
collection, up to the root (``/api/v1/documents/7`` → ``/api/v1/openapi.json``,
``/api/openapi.json``, ``/openapi.json``): never next to the resource, where the name would be
read as another item's id. Only on the origin of the URL checked, so the credentials given with
``--header`` go nowhere else. A candidate that fails (an error, no response) is passed over.

From the document it takes, for the operation at the resource's path, the members marked
``readOnly`` (in the GET response or in the write's request body), and the members the write's
request body does not list when it forbids any other (``additionalProperties: false``).
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .messages import Flow, Request, Response, TransportError, exchange

__all__ = ["Hints", "Spec", "candidates", "find", "write_hints"]

#: OpenAPI documents in JSON, looked for in each directory above the resource.
FILE_NAME = "openapi.json"
#: Link relations naming a description of the API (RFC 8631 §4.1, and the older one).
RELATIONS = frozenset({"service-desc", "describedby"})
ACCEPT = "application/openapi+json, application/vnd.oai.openapi+json, application/json"

_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]+)*)")
_REL = re.compile(r'(?i)\brel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))')


@dataclass(frozen=True, slots=True)
class Spec:
    """An OpenAPI (or Swagger 2) document and the path it was read from."""

    path: str
    document: Mapping[str, Any]


def _links(value: str | None) -> Iterator[tuple[str, frozenset[str]]]:
    for target, params in _LINK.findall(value or ""):
        rels = frozenset(
            rel.lower() for m in _REL.finditer(params) for rel in (m.group(1) or m.group(2)).split()
        )
        yield target.strip(), rels


def candidates(resource_path: str, origin: str, link: str | None) -> list[str]:
    """Where to look, as absolute paths on ``origin`` (``scheme://host[:port]``)."""
    found: list[str] = []
    for target, rels in _links(link):
        if not rels & RELATIONS:
            continue
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            if f"{parts.scheme}://{parts.netloc}".lower() != origin.lower():
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        elif not target.startswith("/"):
            target = posixpath.join(posixpath.dirname(resource_path), target)
        if target.startswith("/") and not target.startswith("//"):
            found.append(target)
    collection = posixpath.dirname(resource_path.split("?")[0].rstrip("/") or "/") or "/"
    directory = posixpath.dirname(collection)
    while True:
        found.append(posixpath.join(directory, FILE_NAME))
        if directory == "/":
            break
        directory = posixpath.dirname(directory)
    return list(dict.fromkeys(found))


def find(
    resource_path: str, origin: str, link: str | None
) -> Flow[tuple[Spec | None, list[tuple[Request, Response]]]]:
    """GET each candidate until one is an OpenAPI document; return it and the exchanges."""
    exchanges = []
    for path in candidates(resource_path, origin, link):
        request = Request("GET", (("Accept", ACCEPT),), target=path)
        try:
            response = yield from exchange(request)
        except TransportError:
            continue
        exchanges.append((request, response))
        document = _json_object(response)
        if document is not None and _is_openapi(document):
            return Spec(path, document), exchanges
    return None, exchanges


def _json_object(response: Response) -> dict[str, Any] | None:
    if not response.is_success:
        return None
    try:
        value = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _is_openapi(document: Mapping[str, Any]) -> bool:
    version = document.get("openapi", document.get("swagger"))
    return isinstance(version, str) and isinstance(document.get("paths"), dict)


# --- reading it ----------------------------------------------------------------------------


def _resolve(spec: Mapping[str, Any], schema: Any) -> dict[str, Any]:
    """``schema`` with local ``$ref`` followed (a few levels deep, cycles stop)."""
    for _ in range(16):
        if not isinstance(schema, dict):
            return {}
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return schema
        target: Any = spec
        for name in ref[2:].split("/"):
            name = name.replace("~1", "/").replace("~0", "~")
            target = target.get(name) if isinstance(target, dict) else None
        schema = target
    return {}


@dataclass(frozen=True, slots=True)
class _Object:
    properties: dict[str, Any]
    closed: bool  # additionalProperties: false, and no anyOf/oneOf making it open


def _object(spec: Mapping[str, Any], schema: Any, depth: int = 0) -> _Object:
    schema = _resolve(spec, schema)
    properties = dict(schema.get("properties") or {})
    closed = schema.get("additionalProperties") is False
    if depth < 8:
        for part in schema.get("allOf") or ():
            inner = _object(spec, part, depth + 1)
            properties.update(inner.properties)
            closed = closed or inner.closed
    if schema.get("anyOf") or schema.get("oneOf"):
        closed = False
    return _Object(properties, closed)


def _read_only(spec: Mapping[str, Any], properties: Mapping[str, Any]) -> set[str]:
    return {
        name
        for name, schema in properties.items()
        if isinstance(schema, dict)
        and (schema.get("readOnly") is True or _resolve(spec, schema).get("readOnly") is True)
    }


def _json_schema(spec: Mapping[str, Any], holder: Any) -> Any:
    """The schema of a JSON body: OpenAPI 3 ``content``, or Swagger 2 ``schema``."""
    holder = _resolve(spec, holder)
    content = holder.get("content")
    if isinstance(content, dict):
        for media_type, entry in content.items():
            if media_type.split(";")[0].strip().endswith(("/json", "+json")):
                return entry.get("schema") if isinstance(entry, dict) else None
        return None
    return holder.get("schema")


def _request_schema(spec: Mapping[str, Any], operation: Mapping[str, Any]) -> Any:
    if "requestBody" in operation:
        return _json_schema(spec, operation["requestBody"])
    for parameter in operation.get("parameters") or ():
        parameter = _resolve(spec, parameter)
        if parameter.get("in") == "body":
            return parameter.get("schema")
    return None


def _response_schema(spec: Mapping[str, Any], operation: Mapping[str, Any]) -> Any:
    responses = operation.get("responses") or {}
    for code in ("200", "2XX", "default"):
        if code in responses:
            return _json_schema(spec, responses[code])
    return None


def _bases(spec: Spec) -> list[str]:
    """Path prefixes the document's paths may be relative to."""
    document = spec.document
    bases = [str(document.get("basePath") or "")]
    for server in document.get("servers") or ():
        if isinstance(server, dict) and isinstance(server.get("url"), str):
            bases.append(urlsplit(server["url"]).path)
    bases += [posixpath.dirname(spec.path), ""]
    return list(dict.fromkeys(base.rstrip("/") for base in bases))


def _template(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", path)
    pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(pattern)


def _path_item(spec: Spec, resource_path: str) -> dict[str, Any] | None:
    path = resource_path.split("?")[0]
    paths = spec.document.get("paths") or {}
    for base in _bases(spec):
        if not path.startswith(base + "/"):
            continue
        rest = path[len(base) :]
        for template, item in paths.items():
            if isinstance(item, dict) and _template(template).fullmatch(rest):
                return _resolve(spec.document, item)
    return None


@dataclass(frozen=True, slots=True)
class Hints:
    """What the document says about one write.

    Attributes:
        read_only: members marked ``readOnly`` (GET response or request body).
        accepted: the only members the request body takes (it forbids any other), or
            ``None`` when it takes others too or the document does not say.
    """

    read_only: frozenset[str] = frozenset()
    accepted: frozenset[str] | None = None

    def omit(self, members: Iterable[str]) -> set[str]:
        """Which of ``members`` to leave out."""
        names = set(members)
        refused = names - self.accepted if self.accepted is not None else set()
        return (names & self.read_only) | refused


def write_hints(spec: Spec, resource_path: str, method: str) -> Hints:
    """What ``spec`` says about a ``method`` write to ``resource_path``."""
    item = _path_item(spec, resource_path)
    if item is None:
        return Hints()
    document = spec.document
    read_only: set[str] = set()
    accepted: frozenset[str] | None = None
    read = item.get("get")
    if isinstance(read, dict):
        properties = _object(document, _response_schema(document, read)).properties
        read_only |= _read_only(document, properties)
    write = item.get(method.lower())
    if isinstance(write, dict):
        schema = _request_schema(document, write)
        if schema is not None:
            body = _object(document, schema)
            read_only |= _read_only(document, body.properties)
            if body.closed and body.properties:
                accepted = frozenset(body.properties)
    return Hints(frozenset(read_only), accepted)
