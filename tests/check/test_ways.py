"""The ways of writing: shapes recognised, members left out, bodies built, the order tried and
how each refusal changes it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ifmatch.check.documents import (
    HAL,
    JSON,
    JSON_API,
    JSON_PATCH,
    MERGE_PATCH,
    PLACEHOLDER,
    Representation,
    Shape,
    changed_members,
    fill_template,
    parse_template,
    read_only_paths,
    value_at,
)
from ifmatch.check.messages import Response
from ifmatch.check.ways import Body, Constraints, Plan, Way

PLAIN_DOC = {"id": 7, "title": "Notes", "text": "hello", "updated_at": "2026-01-05T09:00:00Z"}
JSON_API_DOC = {
    "data": {
        "type": "documents",
        "id": "7",
        "attributes": {"text": "hello", "created": "2026-01-05"},
        "links": {"self": "/documents/7"},
    },
    "links": {"self": "/documents/7"},
}
HAL_DOC = {"id": 7, "text": "hello", "_links": {"self": {"href": "/documents/7"}}}


def rep(document: dict[str, Any], content_type: str = JSON, field: str = "text") -> Representation:
    return Representation.read(document, content_type, field)


def ways(plan: Plan) -> list[Way]:
    found = []
    while (way := plan.next()) is not None:
        found.append(way)
    return found


# --- shapes ----------------------------------------------------------------------------------


def test_a_plain_object_keeps_the_member_at_the_top() -> None:
    found = rep(PLAIN_DOC, "application/json; charset=utf-8")
    assert (found.shape, found.path, found.media_type, found.original) == (
        Shape.PLAIN,
        ("text",),
        JSON,
        "hello",
    )


def test_a_json_api_document_keeps_the_member_in_its_attributes() -> None:
    found = rep(JSON_API_DOC, JSON_API)
    assert (found.shape, found.path, found.original) == (
        Shape.JSON_API,
        ("data", "attributes", "text"),
        "hello",
    )


def test_a_json_api_document_is_recognised_by_its_shape_under_plain_json() -> None:
    assert rep(JSON_API_DOC, JSON).shape is Shape.JSON_API


def test_a_top_level_member_named_data_is_not_json_api() -> None:
    document = {"data": {"attributes": {}, "type": "x"}, "text": "hello"}
    assert rep(document).path == ("text",)


def test_hal_is_recognised_by_links_or_by_its_media_type() -> None:
    assert rep(HAL_DOC).shape is Shape.HAL
    assert rep({"text": "x"}, HAL).shape is Shape.HAL


def test_a_non_json_media_type_is_written_as_json() -> None:
    assert rep(PLAIN_DOC, "text/plain").media_type == JSON


# --- members left out ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "id",
        "_id",
        "ID",
        "pk",
        "uuid",
        "etag",
        "_etag",
        "created",
        "_updated",
        "updated_at",
        "modifiedAt",
        "last_modified",
        "date_created",
        "creation_date",
        "timestamp",
    ],
)
def test_read_only_looking_members_are_left_out(name: str) -> None:
    document = {name: "x", "text": "hello", "title": "kept"}
    assert read_only_paths(rep(document), "/documents/7") == ((name,),)


@pytest.mark.parametrize(
    "name", ["title", "version", "_version", "author_id", "identity", "url", "links", "created_by"]
)
def test_writable_looking_members_are_kept(name: str) -> None:
    # A version is kept: an API that checks a version in the body needs it back. A "url" is
    # kept unless it links to the resource itself, "links" unless it holds links.
    document = {name: "https://example.test/other", "text": "hello"}
    assert read_only_paths(rep(document), "/documents/7") == ()


def test_a_link_to_the_resource_itself_is_left_out() -> None:
    document = {"url": "http://api.test/documents/7/", "self": "/documents/7", "text": "x"}
    assert read_only_paths(rep(document), "/documents/7/") == (("url",), ("self",))


def test_the_body_field_is_never_left_out() -> None:
    document = {"id": 1, "updated": "now"}
    assert read_only_paths(rep(document, field="updated"), "/d", also={"updated"}) == (("id",),)


def test_names_from_the_openapi_document_are_left_out_too() -> None:
    document = {"id": 1, "words": 5, "text": "x"}
    assert read_only_paths(rep(document), "/d", also={"words"}) == (("id",), ("words",))


def test_hal_members_are_left_out() -> None:
    assert read_only_paths(rep(HAL_DOC), "/documents/7") == (("_links",), ("id",))


def test_json_api_members_are_left_out_where_they_are() -> None:
    found = read_only_paths(rep(JSON_API_DOC, JSON_API), "/documents/7")
    assert found == (("links",), ("data", "links"), ("data", "attributes", "created"))


# --- bodies ----------------------------------------------------------------------------------


def body(way: Way, representation: Representation, template: Any = None) -> Any:
    return json.loads(way.content(representation, "NEW", template))


def test_a_document_body_is_the_document_with_the_member_changed() -> None:
    assert body(Way("PUT", JSON, Body.DOCUMENT), rep(PLAIN_DOC)) == {**PLAIN_DOC, "text": "NEW"}


def test_a_document_body_leaves_out_what_it_omits() -> None:
    way = Way("PUT", JSON, Body.DOCUMENT, omit=(("id",), ("updated_at",)))
    assert body(way, rep(PLAIN_DOC)) == {"title": "Notes", "text": "NEW"}


def test_leaving_out_members_does_not_touch_the_document_read() -> None:
    representation = rep(JSON_API_DOC, JSON_API)
    way = Way("PUT", JSON_API, Body.DOCUMENT, omit=(("data", "attributes", "created"),))
    assert "created" not in body(way, representation)["data"]["attributes"]
    assert representation.document == JSON_API_DOC


def test_a_member_body_is_a_merge_patch_along_the_path() -> None:
    assert body(Way("PATCH", MERGE_PATCH, Body.MEMBER), rep(PLAIN_DOC)) == {"text": "NEW"}
    nested = body(Way("PATCH", MERGE_PATCH, Body.MEMBER), rep(JSON_API_DOC, JSON_API))
    assert nested == {"data": {"attributes": {"text": "NEW"}}}


def test_a_json_patch_replaces_the_member_or_adds_a_missing_one() -> None:
    way = Way("PATCH", JSON_PATCH, Body.JSON_PATCH)
    assert body(way, rep(PLAIN_DOC)) == [{"op": "replace", "path": "/text", "value": "NEW"}]
    missing = body(way, rep({"a/b": 1}, field="a/b~"))
    assert missing == [{"op": "add", "path": "/a~1b~0", "value": "NEW"}]


def test_a_json_api_resource_object_carries_type_id_and_the_attribute() -> None:
    found = body(Way("PATCH", JSON_API, Body.RESOURCE), rep(JSON_API_DOC, JSON_API))
    assert found == {"data": {"type": "documents", "id": "7", "attributes": {"text": "NEW"}}}


def test_a_template_gets_the_value_wherever_the_placeholder_is() -> None:
    template = {"doc": {"text": PLACEHOLDER, "tags": [PLACEHOLDER, "x"]}, "n": 1}
    found = body(Way("PUT", JSON, Body.TEMPLATE), rep(PLAIN_DOC), template)
    assert found == {"doc": {"text": "NEW", "tags": ["NEW", "x"]}, "n": 1}


@pytest.mark.parametrize(
    ("text", "words"),
    [("{", "not JSON"), ('{"text": "value"}', PLACEHOLDER), ('{"text": "x {{value}}"}', "no")],
)
def test_a_template_must_be_json_with_the_placeholder(text: str, words: str) -> None:
    with pytest.raises(ValueError, match="template") as raised:
        parse_template(text)
    assert words in str(raised.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=10,
)


@given(json_values)
def test_a_template_without_the_placeholder_is_unchanged_by_filling(value: Any) -> None:
    if PLACEHOLDER not in json.dumps(value):
        assert fill_template(value, "NEW") == value


@pytest.mark.parametrize(
    ("way", "words"),
    [
        (Way("PUT", JSON, Body.DOCUMENT), "PUT of the JSON object as application/json"),
        (
            Way("PUT", JSON, Body.DOCUMENT, (("id",), ("words",))),
            'PUT of the JSON object without "id", "words" as application/json',
        ),
        (Way("PATCH", MERGE_PATCH, Body.MEMBER), 'PATCH of "text" alone as ' + MERGE_PATCH),
        (Way("PATCH", JSON_PATCH, Body.JSON_PATCH), 'a JSON Patch replacing "text"'),
        (Way("PUT", JSON, Body.TEMPLATE), "PUT of the body template"),
    ],
)
def test_each_way_says_what_it_sends(way: Way, words: str) -> None:
    assert words in way.describe(rep(PLAIN_DOC))


# --- the order ---------------------------------------------------------------------------


def test_the_default_order_is_put_then_patch_as_merge_patch_then_as_json() -> None:
    assert ways(Plan(rep(PLAIN_DOC))) == [
        Way("PUT", JSON, Body.DOCUMENT),
        Way("PATCH", MERGE_PATCH, Body.MEMBER),
        Way("PATCH", JSON, Body.MEMBER),
    ]


def test_a_json_api_document_ends_with_its_own_resource_object() -> None:
    assert ways(Plan(rep(JSON_API_DOC, JSON_API)))[-1] == Way("PATCH", JSON_API, Body.RESOURCE)


def test_a_document_refused_as_a_bad_body_is_tried_next_without_read_only_members() -> None:
    plan = Plan(rep(PLAIN_DOC))
    first = plan.next()
    assert first is not None and plan.needs_stripping(first, 422)
    plan.strip(first, (("id",),))
    plan.refused(first, Response(422))
    assert plan.next() == Way("PUT", JSON, Body.DOCUMENT, (("id",),))
    assert not plan.needs_stripping(first, 422), "asked once"


@pytest.mark.parametrize("status", [404, 405, 501])
def test_a_method_refused_is_not_tried_again(status: int) -> None:
    plan = Plan(rep(PLAIN_DOC), Constraints(method="PATCH"))
    first = plan.next()
    assert first is not None
    plan.refused(first, Response(status))
    assert plan.next() is None


def test_allow_drops_the_methods_it_does_not_list() -> None:
    plan = Plan(rep(PLAIN_DOC))
    first = plan.next()
    assert first is not None
    plan.refused(first, Response(405, headers=(("Allow", "GET, HEAD, POST"),)))
    assert plan.next() is None


def test_a_415_brings_the_same_body_as_plain_json_then_as_hal() -> None:
    plan = Plan(rep(HAL_DOC, HAL))
    first = plan.next()
    assert first == Way("PUT", HAL, Body.DOCUMENT)
    plan.refused(first, Response(415))
    assert plan.next() == Way("PUT", JSON, Body.DOCUMENT)
    plain = Plan(rep(HAL_DOC, JSON))
    first = plain.next()
    assert first is not None
    plain.refused(first, Response(415))
    assert plain.next() == Way("PUT", HAL, Body.DOCUMENT)


def test_accept_patch_does_not_bring_back_a_refused_method() -> None:
    plan = Plan(rep(PLAIN_DOC))
    first = plan.next()
    assert first is not None
    plan.refused(first, Response(405, headers=(("Allow", "GET, PUT"),)))
    assert plan.next() is None
    plan.observe(Response(200, headers=(("Accept-Patch", JSON_PATCH),)))
    assert plan.next() is None


def test_accept_patch_brings_the_formats_it_lists() -> None:
    plan = Plan(rep(PLAIN_DOC))
    plan.observe(Response(200, headers=(("Accept-Patch", f"{JSON_PATCH}, text/plain"),)))
    assert ways(plan)[-1] == Way("PATCH", JSON_PATCH, Body.JSON_PATCH)


def test_a_put_never_carries_one_member_alone() -> None:
    plan = Plan(rep(PLAIN_DOC), Constraints(method="PUT"))
    plan.observe(Response(200, headers=(("Accept-Patch", JSON_PATCH),)))
    assert ways(plan) == [Way("PUT", JSON, Body.DOCUMENT)]


def test_a_forced_media_type_is_used_for_every_way() -> None:
    plan = Plan(rep(JSON_API_DOC, JSON_API), Constraints(content_type=JSON_API))
    assert ways(plan) == [
        Way("PUT", JSON_API, Body.DOCUMENT),
        Way("PATCH", JSON_API, Body.MEMBER),
        Way("PATCH", JSON_API, Body.RESOURCE),
    ]
    plan = Plan(rep(PLAIN_DOC), Constraints(content_type=JSON_PATCH, method="PATCH"))
    assert ways(plan) == [Way("PATCH", JSON_PATCH, Body.JSON_PATCH)]


def test_a_forced_media_type_is_not_swapped_on_415() -> None:
    plan = Plan(rep(PLAIN_DOC, HAL), Constraints(content_type=HAL, method="PUT"))
    first = plan.next()
    assert first is not None
    plan.refused(first, Response(415))
    assert plan.next() is None


def test_a_template_is_put_then_patched_unless_the_method_is_given() -> None:
    assert [w.method for w in ways(Plan(rep(PLAIN_DOC), Constraints(template=True)))] == [
        "PUT",
        "PATCH",
    ]
    plan = Plan(rep(PLAIN_DOC), Constraints(method="POST", template=True))
    assert ways(plan) == [Way("POST", JSON, Body.TEMPLATE)]


# --- comparing -------------------------------------------------------------------------------


def test_changed_members_ignore_what_a_server_changes_on_every_write() -> None:
    after = {
        **PLAIN_DOC,
        "updated_at": "later",
        "etag": '"v2"',
        "version": 2,
        "_links": {"self": "/x"},
    }
    assert changed_members(rep(PLAIN_DOC), after) == []
    assert changed_members(rep(PLAIN_DOC), {**after, "title": "Other"}) == ["title"]
    assert changed_members(rep(PLAIN_DOC), {"text": "hello"}) == ["id", "title"]


def test_changed_members_of_json_api_compare_attributes_type_and_id() -> None:
    representation = rep(JSON_API_DOC, JSON_API)
    same = json.loads(json.dumps(JSON_API_DOC))
    same["links"] = {"self": "/elsewhere"}
    same["data"]["attributes"]["created"] = "later"
    assert changed_members(representation, same) == []
    same["data"]["id"] = "8"
    same["data"]["attributes"]["text"] = "bye"
    assert changed_members(representation, same) == ["data.id", "text"]


def test_value_at_follows_a_path_and_stops_at_anything_else() -> None:
    assert value_at({"a": {"b": 1}}, ("a", "b")) == 1
    assert value_at({"a": [1]}, ("a", "b")) is None
