"""The write formats of the reference servers: what a write must look like to be accepted.

``plain`` takes any JSON object as the new document (the reference servers' original
behaviour). The others are the walls the write probes meet in real APIs, each refusing what
such APIs refuse, with the status they use:

- ``strict``: a marshmallow-like schema (flask-smorest, DRF with strict settings, pydantic
  with ``extra="forbid"``): PUT takes ``text`` only, and answers 422 naming each unknown or
  read-only member (``id``, and ``words``, a computed member no name rule can guess). It
  publishes ``/openapi.json``, which marks both ``readOnly``; ``strict-no-openapi`` does not.
- ``patch-only``: no PUT (405 with ``Allow``); PATCH takes a JSON merge patch
  (``application/merge-patch+json``) of ``text``, other media types get 415 with
  ``Accept-Patch``.
- ``json-api``: a JSON:API server: the document is ``{"data": {"type", "id", "attributes"}}``;
  only PATCH, only ``application/vnd.api+json`` (415), the type and id must match (409).
- ``hal``: a HAL document (``application/hal+json``) whose PUT takes ``application/json`` only
  (415), without ``_links`` or ``id`` (422).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ifmatch.core import PROBLEM_MEDIA_TYPE, problem

Headers = list[tuple[str, str]]
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
JSON_API = "application/vnd.api+json"
HAL = "application/hal+json"
CREATED = "2026-01-05T09:00:00Z"


@dataclass(frozen=True)
class Refusal:
    """A write refused before any precondition matters: status, problem detail, headers."""

    status: int
    detail: str
    headers: Headers = field(default_factory=list)

    def reply(self) -> tuple[int, Headers, bytes]:
        body = problem(self.status, self.detail)
        headers = [("Content-Type", PROBLEM_MEDIA_TYPE), *self.headers]
        return self.status, headers, json.dumps(body).encode()


def _media_type(headers: Headers) -> str:
    value = next((v for n, v in headers if n.lower() == "content-type"), "")
    return value.split(";")[0].strip().lower()


def _object(body: bytes) -> dict[str, Any] | Refusal:
    try:
        value = json.loads(body)
    except ValueError:
        return Refusal(400, "The body is not JSON.")
    if not isinstance(value, dict):
        return Refusal(400, "The body must be a JSON object.")
    return value


def _text_only(members: dict[str, Any], where: str = "") -> dict[str, Any] | Refusal:
    unknown = sorted(set(members) - {"text"})
    if unknown:
        return Refusal(422, f"Unknown or read-only members{where}: {', '.join(unknown)}.")
    if not isinstance(members.get("text"), str):
        return Refusal(422, f"'text'{where} must be a string.")
    return {"text": members["text"]}


class Dialect:
    """``plain``: the document as stored, any JSON object accepted by PUT."""

    name = "plain"
    write_methods: tuple[str, ...] = ("PUT",)
    media_type = JSON

    def initial(self, original: dict[str, Any]) -> dict[str, Any]:
        return dict(original)

    def render(self, stored: dict[str, Any]) -> Any:
        return stored

    def apply(
        self, method: str, headers: Headers, body: bytes, stored: dict[str, Any]
    ) -> dict[str, Any] | Refusal:
        document = _object(body)
        return (
            Refusal(400, "The body must be a JSON object.")
            if isinstance(document, Refusal)
            else document
        )

    def openapi(self) -> dict[str, Any] | None:
        return None


class Strict(Dialect):
    name = "strict"
    publishes = True

    def initial(self, original: dict[str, Any]) -> dict[str, Any]:
        return {"text": original["text"]}

    def render(self, stored: dict[str, Any]) -> Any:
        return {"id": 1, "text": stored["text"], "words": len(stored["text"].split())}

    def apply(
        self, method: str, headers: Headers, body: bytes, stored: dict[str, Any]
    ) -> dict[str, Any] | Refusal:
        if not _media_type(headers).endswith(("/json", "+json")):
            return Refusal(415, "Send JSON.")
        members = _object(body)
        return members if isinstance(members, Refusal) else _text_only(members)

    def openapi(self) -> dict[str, Any] | None:
        if not self.publishes:
            return None
        read_only = {"type": "integer", "readOnly": True}
        document = {
            "type": "object",
            "properties": {"id": read_only, "text": {"type": "string"}, "words": read_only},
        }
        body = {"content": {JSON: {"schema": {"$ref": "#/components/schemas/Document"}}}}
        return {
            "openapi": "3.1.0",
            "info": {"title": "reference server", "version": "1"},
            "paths": {
                "/{name}": {
                    "get": {"responses": {"200": {"description": "the document", **body}}},
                    "put": {"requestBody": body, "responses": {"200": {"description": "ok"}}},
                }
            },
            "components": {"schemas": {"Document": document}},
        }


class StrictNoOpenAPI(Strict):
    name = "strict-no-openapi"
    publishes = False


class PatchOnly(Dialect):
    name = "patch-only"
    write_methods = ("PATCH",)

    def initial(self, original: dict[str, Any]) -> dict[str, Any]:
        return {"text": original["text"]}

    def render(self, stored: dict[str, Any]) -> Any:
        return {"id": 1, "text": stored["text"]}

    def apply(
        self, method: str, headers: Headers, body: bytes, stored: dict[str, Any]
    ) -> dict[str, Any] | Refusal:
        if _media_type(headers) != MERGE_PATCH:
            return Refusal(415, "Send a JSON merge patch.", [("Accept-Patch", MERGE_PATCH)])
        patch = _object(body)
        return patch if isinstance(patch, Refusal) else _text_only({**stored, **patch})


class JsonApi(Dialect):
    name = "json-api"
    write_methods = ("PATCH",)
    media_type = JSON_API

    def initial(self, original: dict[str, Any]) -> dict[str, Any]:
        return {"text": original["text"]}

    def render(self, stored: dict[str, Any]) -> Any:
        return {
            "jsonapi": {"version": "1.1"},
            "links": {"self": "/doc"},
            "data": {
                "type": "documents",
                "id": "1",
                "attributes": {"text": stored["text"], "created": CREATED},
                "links": {"self": "/doc"},
            },
        }

    def apply(
        self, method: str, headers: Headers, body: bytes, stored: dict[str, Any]
    ) -> dict[str, Any] | Refusal:
        if _media_type(headers) != JSON_API:
            return Refusal(415, f"Send {JSON_API}.")
        document = _object(body)
        if isinstance(document, Refusal):
            return document
        data = document.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("attributes"), dict):
            return Refusal(400, "Send a resource object with attributes.")
        if (data.get("type"), data.get("id")) != ("documents", "1"):
            return Refusal(409, "The type and id must be those of the resource.")
        return _text_only({**stored, **data["attributes"]}, " in attributes")


class Hal(Dialect):
    name = "hal"
    media_type = HAL

    def initial(self, original: dict[str, Any]) -> dict[str, Any]:
        return {"text": original["text"]}

    def render(self, stored: dict[str, Any]) -> Any:
        return {"id": 1, "text": stored["text"], "_links": {"self": {"href": "/doc"}}}

    def apply(
        self, method: str, headers: Headers, body: bytes, stored: dict[str, Any]
    ) -> dict[str, Any] | Refusal:
        if _media_type(headers) != JSON:
            return Refusal(415, f"Send {JSON}.")
        members = _object(body)
        return members if isinstance(members, Refusal) else _text_only(members)


DIALECTS: dict[str, type[Dialect]] = {
    cls.name: cls for cls in (Dialect, Strict, StrictNoOpenAPI, PatchOnly, JsonApi, Hal)
}
