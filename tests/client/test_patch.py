"""RFC 7396 merge patches (the RFC's own examples) and RFC 6902 JSON Patch."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ifmatch.client import apply_json_patch, apply_merge_patch, json_patch, merge_patch

# RFC 7396 Appendix A: target, patch, result.
RFC7396_EXAMPLES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC7396_EXAMPLES)
def test_apply_merge_patch_rfc7396_examples(target: Any, patch: Any, result: Any) -> None:
    assert apply_merge_patch(target, patch) == result


def test_apply_merge_patch_does_not_modify_its_inputs() -> None:
    target = {"a": {"b": 1}}
    patch = {"a": {"c": [1]}}
    out = apply_merge_patch(target, patch)
    out["a"]["c"].append(2)
    assert target == {"a": {"b": 1}} and patch == {"a": {"c": [1]}}


@pytest.mark.parametrize(
    ("before", "after", "patch"),
    [
        ({"a": 1, "b": 2}, {"a": 1, "b": 3}, {"b": 3}),
        ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"x": 1, "y": 5}}, {"a": {"y": 5}}),
        ({"a": [1, 2]}, {"a": [1, 2, 3]}, {"a": [1, 2, 3]}),
        ({"a": True}, {"a": 1}, {"a": 1}),  # true is not 1 in JSON
        ({"a": 1}, {"a": 1}, {}),
        ("x", {"a": 1}, {"a": 1}),
    ],
)
def test_merge_patch_is_the_smallest_diff(before: Any, after: Any, patch: Any) -> None:
    assert merge_patch(before, after) == patch
    assert apply_merge_patch(before, patch) == after


@pytest.mark.parametrize("after", [{"a": None}, {"a": {"b": None}}])
def test_merge_patch_cannot_set_null(after: Any) -> None:
    with pytest.raises(ValueError, match="null"):
        merge_patch({"a": 1}, after)


json_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=10,
)
# Documents a merge patch can express: no nulls as object members.
null_free = st.recursive(
    st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(null_free, null_free)
def test_merge_patch_round_trips(before: Any, after: Any) -> None:
    assert apply_merge_patch(before, merge_patch(before, after)) == after


@given(json_values, json_values)
def test_json_patch_round_trips(before: Any, after: Any) -> None:
    assert apply_json_patch(before, json_patch(before, after)) == after


def test_json_patch_is_atomic() -> None:
    document = {"a": 1, "b": [1, 2]}
    operations = [
        {"op": "replace", "path": "/a", "value": 2},
        {"op": "test", "path": "/b/0", "value": 99},
    ]
    with pytest.raises(ValueError):
        apply_json_patch(document, operations)
    assert document == {"a": 1, "b": [1, 2]}


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "remove", "path": "/missing"}],
        [{"op": "frobnicate", "path": "/a"}],
        [{"path": "/a"}],
    ],
)
def test_bad_json_patches_are_value_errors(operations: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError):
        apply_json_patch({"a": 1}, operations)
