"""The bulk body parser and the batch's answer (``ifmatch.core.bulk``)."""

from __future__ import annotations

from typing import Any

import pytest

from ifmatch.core.bulk import (
    BulkBodyError,
    BulkItem,
    ItemResult,
    batch_answer,
    duplicate_key,
    invalid_item,
    parse_bulk,
)


def test_a_batch_parses_in_order_atomic_by_default() -> None:
    parsed = parse_bulk(
        {
            "items": [
                {"id": "a", "ifMatch": '"v1"', "data": {"text": "x"}},
                {"id": 7, "version": 3, "data": {}},
            ]
        }
    )
    assert parsed.atomic is True and parsed.invalid == () and parsed.size == 2
    assert parsed.items == (
        BulkItem(0, "a", {"text": "x"}, '"v1"', None),
        BulkItem(1, 7, {}, None, 3),
    )
    assert parse_bulk({"items": [{"id": 1, "data": {}}], "atomic": False}).atomic is False
    assert parse_bulk({"items": [{"id": 1, "data": {}}]}, default_atomic=False).atomic is False


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ([], ""),
        ("items", ""),
        ({"items": [], "extra": 1}, "/extra"),
        ({"items": [], "a/b": 1}, "/a~1b"),
        ({}, "/items"),
        ({"items": None}, "/items"),
        ({"items": []}, "/items"),
        ({"items": [{}] * 4}, "/items"),
        ({"items": [{}], "atomic": 1}, "/atomic"),
        ({"items": [{}], "atomic": None}, "/atomic"),
    ],
)
def test_a_body_that_is_no_batch_is_refused_naming_the_member(body: Any, pointer: str) -> None:
    with pytest.raises(BulkBodyError) as raised:
        parse_bulk(body, max_items=3)
    assert raised.value.pointer == pointer
    problem = raised.value.problem()
    assert problem["status"] == 400 and problem["code"] == "invalid-batch"
    assert problem["pointer"] == pointer and problem["detail"]


def test_non_atomic_batches_can_be_turned_off() -> None:
    with pytest.raises(BulkBodyError, match="only atomically"):
        parse_bulk({"items": [{}], "atomic": False}, allow_non_atomic=False)


@pytest.mark.parametrize(
    ("item", "pointer", "id"),
    [
        ("a", "/items/0", None),
        ({"data": {}}, "/items/0/id", None),
        ({"id": None, "data": {}}, "/items/0/id", None),
        ({"id": True, "data": {}}, "/items/0/id", None),
        ({"id": 1.5, "data": {}}, "/items/0/id", None),
        ({"id": "k", "ifMatch": 3, "data": {}}, "/items/0/ifMatch", "k"),
        ({"id": "k", "version": -1, "data": {}}, "/items/0/version", "k"),
        ({"id": "k", "version": True, "data": {}}, "/items/0/version", "k"),
        ({"id": "k", "version": "3", "data": {}}, "/items/0/version", "k"),
        ({"id": "k", "version": 1, "ifMatch": '"v1"', "data": {}}, "/items/0/version", "k"),
        ({"id": "k"}, "/items/0/data", "k"),
        ({"id": "k", "data": "text"}, "/items/0/data", "k"),
        ({"id": "k", "data": {}, "etag": '"v1"'}, "/items/0/etag", "k"),
        ({"id": "k", "data": {}, "~x": 1}, "/items/0/~0x", "k"),
    ],
)
def test_a_malformed_item_is_a_400_of_its_own(item: Any, pointer: str, id: Any) -> None:
    good = {"id": "g", "ifMatch": '"v1"', "data": {}}
    parsed = parse_bulk({"items": [item, good]})
    assert [entry.index for entry in parsed.items] == [1]
    (invalid,) = parsed.invalid
    assert (invalid.index, invalid.id, invalid.status) == (0, id, 400)
    assert invalid.problem is not None and invalid.problem["pointer"] == pointer
    assert invalid.problem["code"] == "invalid-item"


def test_duplicate_keys_name_both_items() -> None:
    assert duplicate_key([(0, "a"), (1, "b")]) is None
    error = duplicate_key([(0, 1), (1, "1"), (2, 1)])
    assert error is not None and error.pointer == "/items/2/id"
    assert "Items 0 and 2" in error.detail


def _result(index: int, status: int) -> ItemResult:
    if status == 200:
        return ItemResult(index, f"k{index}", 200, etag='"v2"')
    return ItemResult(index, f"k{index}", status, problem={"status": status})


@pytest.mark.parametrize(
    ("statuses", "atomic", "expected"),
    [
        ((200, 200), True, 200),
        ((200, 200), False, 200),
        ((412, 200), False, 200),
        ((404, 404), False, 200),
        ((424, 412), True, 412),
        ((424, 409), True, 409),
        ((424, 404), True, 409),
        ((412, 428, 424), True, 428),
        ((412, 403, 428), True, 403),
        ((409, 412, 400, 403), True, 400),
    ],
)
def test_the_batch_status(statuses: tuple[int, ...], atomic: bool, expected: int) -> None:
    results = [_result(index, status) for index, status in enumerate(statuses)]
    status, body = batch_answer(list(reversed(results)), atomic=atomic)
    assert status == expected
    assert [item["index"] for item in body["items"]] == list(range(len(statuses)))
    assert [item["status"] for item in body["items"]] == list(statuses)
    assert body["applied"] == statuses.count(200)
    if status == 200:
        assert set(body) == {"atomic", "applied", "items"} and body["atomic"] is atomic
    else:
        assert body["code"] == "batch-not-applied" and body["status"] == expected
        assert body["atomic"] is True and "Nothing was applied" in body["detail"]


def test_item_results_as_json_leave_out_what_they_lack() -> None:
    assert ItemResult(0, "a", 200, etag='"v2"').as_json() == {
        "index": 0,
        "id": "a",
        "status": 200,
        "etag": '"v2"',
    }
    conflict = ItemResult(1, 5, 409, current_etag='"v4"', current_version=4, problem={"a": 1})
    assert conflict.as_json() == {
        "index": 1,
        "id": 5,
        "status": 409,
        "currentEtag": '"v4"',
        "currentVersion": 4,
        "problem": {"a": 1},
    }
    bad = invalid_item(2, None, "No id.", "/items/2/id")
    assert not bad.applied and bad.as_json()["problem"]["pointer"] == "/items/2/id"


def test_a_type_base_names_the_atomic_failure() -> None:
    status, body = batch_answer([_result(0, 412)], atomic=True, type_base="https://e.x/p/")
    assert status == 412 and body["type"] == "https://e.x/p/batch-not-applied"


def test_the_schema_agrees_with_the_parser() -> None:
    import jsonschema

    from ifmatch.core.bulk import batch_schema

    validator = jsonschema.Draft202012Validator(batch_schema(max_items=3))
    good = {"id": "a", "ifMatch": '"v1"', "data": {}}
    accepted = [
        {"items": [good]},
        {"items": [good, {"id": 2, "version": 0, "data": {"x": 1}}], "atomic": False},
    ]
    refused = [
        {"items": []},
        {"items": [good] * 4},
        {"items": [good], "atomic": "yes"},
        {"items": [good], "extra": 1},
        {"items": [{"id": "a", "ifMatch": '"v1"', "version": 1, "data": {}}]},
        {"items": [{"id": True, "data": {}}]},
        {"items": [{"id": "a", "data": []}]},
        {"items": [{"id": "a", "data": {}, "etag": '"v1"'}]},
    ]
    for body in accepted:
        assert validator.is_valid(body)
        assert parse_bulk(body, max_items=3).invalid == ()
    for body in refused:
        assert not validator.is_valid(body)
        try:
            parsed = parse_bulk(body, max_items=3)
        except BulkBodyError:
            continue
        assert parsed.invalid, body
