"""Finding and reading the API's OpenAPI document: where it is looked for, and what it says a
write may carry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from check.drive import drive, one_by_one
from ifmatch.check.messages import Request, Response, TransportError
from ifmatch.check.openapi import Hints, Spec, candidates, find, write_hints

ORIGIN = "http://api.test:8000"


def test_every_directory_above_the_collection_is_tried_up_to_the_root() -> None:
    # Never /api/v1/documents/openapi.json: a route for /api/v1/documents/{id} would take
    # "openapi.json" for an id (and some apps answer that with a 500).
    assert candidates("/api/v1/documents/7/", ORIGIN, None) == [
        "/api/v1/openapi.json",
        "/api/openapi.json",
        "/openapi.json",
    ]
    for path in ("/doc?x=/a/b", "/", ""):
        assert candidates(path, ORIGIN, None) == ["/openapi.json"]


def test_a_service_desc_link_comes_first() -> None:
    link = '</schema/openapi>; rel="service-desc", </docs>; rel="help"'
    assert candidates("/doc", ORIGIN, link)[:2] == ["/schema/openapi", "/openapi.json"]


@pytest.mark.parametrize(
    ("link", "found"),
    [
        (f"<{ORIGIN}/spec.json>; rel=describedby", "/spec.json"),
        ('<spec.json>; rel="describedby other"', "/api/spec.json"),
        ("<http://elsewhere.test/spec.json>; rel=service-desc", None),
        ("<//elsewhere.test/spec.json>; rel=service-desc", None),
    ],
)
def test_links_stay_on_the_origin(link: str, found: str | None) -> None:
    paths = candidates("/api/doc", ORIGIN, link)
    assert (paths[0] if len(paths) > 1 else None) == found


def test_find_stops_at_the_first_openapi_document() -> None:
    spec = {"openapi": "3.1.0", "paths": {}}
    answers = {
        "/a/openapi.json": Response(404),
        "/openapi.json": Response(200, body=json.dumps(spec).encode()),
    }
    sent: list[Request] = []

    def respond(request: Request) -> Response:
        sent.append(request)
        return answers[request.target or ""]

    found, exchanges = drive(find("/a/b/c", ORIGIN, None), respond)  # type: ignore[arg-type]
    assert found == Spec("/openapi.json", spec)
    assert [r.target for r in sent] == ["/a/openapi.json", "/openapi.json"]
    assert len(exchanges) == 2


def test_a_candidate_without_response_is_passed_over() -> None:
    spec = {"swagger": "2.0", "paths": {}}

    def respond(request: Request) -> Response:
        if request.target == "/a/openapi.json":
            raise TransportError("ReadError: [Errno 104] Connection reset by peer")
        return Response(200, body=json.dumps(spec).encode())

    found, exchanges = drive(find("/a/b/c", ORIGIN, None), one_by_one(respond))
    assert found == Spec("/openapi.json", spec) and len(exchanges) == 1


def test_json_that_is_no_openapi_document_is_not_taken() -> None:
    def respond(request: Request) -> Response:
        return Response(200, body=b'{"id": 1, "text": "a document"}')

    found, _ = drive(find("/doc", ORIGIN, None), respond)  # type: ignore[arg-type]
    assert found is None


def schemas(**named: dict[str, Any]) -> dict[str, Any]:
    return {"components": {"schemas": named}}


def body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


DOCUMENT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "readOnly": True},
        "text": {"type": "string"},
        "revision": {"type": "integer"},
    },
}
WRITE = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "additionalProperties": False,
}


def openapi(paths: dict[str, Any], **extra: Any) -> Spec:
    return Spec("/openapi.json", {"openapi": "3.1.0", "paths": paths, **extra})


def test_read_only_members_of_the_response_and_the_closed_request_body() -> None:
    spec = openapi(
        {
            "/documents/{id}": {
                "get": {"responses": {"200": body({"$ref": "#/components/schemas/Doc"})}},
                "put": {"requestBody": body({"$ref": "#/components/schemas/In"})},
            }
        },
        **schemas(Doc=DOCUMENT, In=WRITE),
    )
    hints = write_hints(spec, "/documents/7", "PUT")
    assert hints == Hints(frozenset({"id"}), frozenset({"text"}))
    assert hints.omit(["id", "text", "revision"]) == {"id", "revision"}


def test_an_open_request_body_leaves_out_only_read_only_members() -> None:
    spec = openapi({"/d/{id}": {"put": {"requestBody": body(DOCUMENT)}}})
    hints = write_hints(spec, "/d/1", "put")
    assert hints.accepted is None and hints.omit(["id", "text", "revision"]) == {"id"}


def test_all_of_and_references_to_read_only_properties_are_followed() -> None:
    spec = openapi(
        {
            "/d/{id}": {
                "put": {"requestBody": body({"allOf": [{"$ref": "#/components/schemas/B"}]})}
            }
        },
        **schemas(
            B={
                "properties": {
                    "stamp": {"$ref": "#/components/schemas/Stamp"},
                    "text": {"type": "string"},
                },
                "additionalProperties": False,
            },
            Stamp={"type": "string", "readOnly": True},
        ),
    )
    assert write_hints(spec, "/d/1", "PUT") == Hints(
        frozenset({"stamp"}), frozenset({"stamp", "text"})
    )


def test_one_of_leaves_the_request_body_open() -> None:
    spec = openapi(
        {"/d/{id}": {"put": {"requestBody": body({**WRITE, "oneOf": [{}, {}]})}}},
    )
    assert write_hints(spec, "/d/1", "PUT").accepted is None


def test_a_cyclic_reference_ends() -> None:
    spec = openapi(
        {"/d/{id}": {"put": {"requestBody": body({"$ref": "#/components/schemas/A"})}}},
        **schemas(A={"$ref": "#/components/schemas/A"}),
    )
    assert write_hints(spec, "/d/1", "PUT") == Hints()


@pytest.mark.parametrize(
    ("extra", "resource"),
    [
        ({"servers": [{"url": "https://api.test/v2"}]}, "/v2/d/1"),
        ({}, "/d/1"),
    ],
)
def test_paths_are_matched_under_the_servers_base_path(
    extra: dict[str, Any], resource: str
) -> None:
    spec = openapi({"/d/{id}": {"put": {"requestBody": body(WRITE)}}}, **extra)
    assert write_hints(spec, resource, "PUT").accepted == frozenset({"text"})
    assert write_hints(spec, "/other/1", "PUT") == Hints()


def test_paths_are_matched_under_the_directory_the_document_was_found_in() -> None:
    spec = Spec(
        "/mounted/openapi.json",
        {"openapi": "3.0.2", "paths": {"/d/{id}": {"put": {"requestBody": body(WRITE)}}}},
    )
    assert write_hints(spec, "/mounted/d/1", "PUT").accepted == frozenset({"text"})


def test_swagger_2_body_parameters_and_response_schemas() -> None:
    spec = Spec(
        "/swagger.json",
        {
            "swagger": "2.0",
            "basePath": "/api",
            "paths": {
                "/d/{id}": {
                    "get": {"responses": {"200": {"schema": {"$ref": "#/definitions/Doc"}}}},
                    "put": {"parameters": [{"in": "body", "name": "b", "schema": WRITE}]},
                }
            },
            "definitions": {"Doc": DOCUMENT},
        },
    )
    assert write_hints(spec, "/api/d/1", "PUT") == Hints(frozenset({"id"}), frozenset({"text"}))
