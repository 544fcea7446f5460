"""ifmatch.core.patching: parsing patch documents (415 / 400) and applying them (422 / 409),
as RFC 5789 §2.2, RFC 7396 and RFC 6902 say."""

from __future__ import annotations

import builtins
import subprocess
import sys
from typing import Any

import pytest

from ifmatch._extras import MissingExtra
from ifmatch.core.patching import (
    ACCEPT_PATCH,
    JSON_PATCH_MEDIA_TYPE,
    MAX_DEPTH,
    MERGE_PATCH_MEDIA_TYPE,
    Patch,
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    parse_patch,
    patch_problem,
)

TARGET = {"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"}}


# RFC 7396 Appendix A, every row.
MERGE_EXAMPLES: list[tuple[Any, Any, Any]] = [
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


@pytest.mark.parametrize(("target", "patch", "result"), MERGE_EXAMPLES)
def test_merge_patch_rfc7396_appendix_a(target: Any, patch: Any, result: Any) -> None:
    before = repr(target)
    assert apply_merge_patch(target, patch) == result
    assert repr(target) == before  # the target is not modified


@pytest.mark.parametrize(
    ("content_type", "body", "status", "pointer"),
    [
        ("application/json", b"{}", 415, None),
        (None, b"{}", 415, None),
        ("", b"{}", 415, None),
        ("application/merge-patch+jsonx", b"{}", 415, None),
        (MERGE_PATCH_MEDIA_TYPE, b"", 400, None),
        (MERGE_PATCH_MEDIA_TYPE, b"{", 400, None),
        (MERGE_PATCH_MEDIA_TYPE, b"Infinity", 400, None),
        (MERGE_PATCH_MEDIA_TYPE, b"\xfe\xff", 400, None),
        (MERGE_PATCH_MEDIA_TYPE, b"[" * 100_000, 400, None),
        (JSON_PATCH_MEDIA_TYPE, b"{}", 400, ""),
        (JSON_PATCH_MEDIA_TYPE, b"[1]", 400, "/0"),
        (JSON_PATCH_MEDIA_TYPE, b'[{"path": "/a"}]', 400, "/0/op"),
        (JSON_PATCH_MEDIA_TYPE, b'[{"op": "add", "value": 1}]', 400, "/0"),
        (JSON_PATCH_MEDIA_TYPE, b'[{"op": "move", "path": "/a"}]', 400, "/0"),
        (JSON_PATCH_MEDIA_TYPE, b'[{"op": "copy", "path": "/a", "from": "a"}]', 400, "/0/from"),
        (JSON_PATCH_MEDIA_TYPE, b'[{"op": "remove", "path": "/a~2"}]', 400, "/0/path"),
        (JSON_PATCH_MEDIA_TYPE, b'[{"op": "remove", "path": 3}]', 400, "/0/path"),
    ],
)
def test_parse_refuses(
    content_type: str | None, body: bytes, status: int, pointer: str | None
) -> None:
    with pytest.raises(PatchError) as caught:
        parse_patch(content_type, body)
    assert caught.value.status == status
    assert caught.value.pointer == pointer
    assert caught.value.detail


@pytest.mark.parametrize("media_type", [MERGE_PATCH_MEDIA_TYPE, JSON_PATCH_MEDIA_TYPE])
def test_deep_documents_are_refused_before_they_are_applied(media_type: str) -> None:
    # A merge patch nested 500 deep would exhaust the stack when applied (a 500, not a 400).
    deep = '{"a":' * 500 + "1" + "}" * 500
    body = (
        deep
        if media_type == MERGE_PATCH_MEDIA_TYPE
        else f'[{{"op": "add", "path": "/b", "value": {deep}}}]'
    )
    with pytest.raises(PatchError) as caught:
        parse_patch(media_type, body)
    assert caught.value.status == 400 and "deeper" in caught.value.detail
    shallow = '{"a":' * 99 + "1" + "}" * 99
    assert parse_patch(MERGE_PATCH_MEDIA_TYPE, shallow).apply({"b": 1})["b"] == 1


def test_parse_reads_media_type_case_insensitively_with_parameters() -> None:
    patch = parse_patch("Application/Merge-Patch+JSON; charset=utf-8", '{"a": 1}')
    assert patch == Patch(MERGE_PATCH_MEDIA_TYPE, {"a": 1})
    ops = parse_patch(JSON_PATCH_MEDIA_TYPE, b'[{"op": "remove", "path": "/a~0b~1c"}]')
    assert ops.media_type == JSON_PATCH_MEDIA_TYPE


def test_parse_only_the_accepted_types() -> None:
    with pytest.raises(PatchError) as caught:
        parse_patch(JSON_PATCH_MEDIA_TYPE, b"[]", accepted=[MERGE_PATCH_MEDIA_TYPE])
    assert caught.value.status == 415
    body = patch_problem(caught.value, accepted=[MERGE_PATCH_MEDIA_TYPE])
    assert body["accept_patch"] == [MERGE_PATCH_MEDIA_TYPE]
    assert body["code"] == "unsupported-patch-type"


@pytest.mark.parametrize(
    ("patch", "status"),
    [
        (Patch(MERGE_PATCH_MEDIA_TYPE, ["x"]), 422),
        (Patch(MERGE_PATCH_MEDIA_TYPE, "x"), 422),
        (Patch(MERGE_PATCH_MEDIA_TYPE, {"n": 1e400}), 422),
        (Patch(JSON_PATCH_MEDIA_TYPE, [{"op": "add", "path": "", "value": 1}]), 422),
        (Patch(JSON_PATCH_MEDIA_TYPE, [{"op": "test", "path": "/title", "value": "x"}]), 409),
        (Patch(JSON_PATCH_MEDIA_TYPE, [{"op": "remove", "path": "/nope"}]), 409),
        (Patch(JSON_PATCH_MEDIA_TYPE, [{"op": "add", "path": "/a/b/c", "value": 1}]), 409),
        (Patch(JSON_PATCH_MEDIA_TYPE, [{"op": "move", "from": "/x", "path": "/y"}]), 409),
        (Patch(JSON_PATCH_MEDIA_TYPE, [{"op": "add", "path": "/title/0", "value": 1}]), 409),
    ],
)
def test_apply_refuses(patch: Patch, status: int) -> None:
    with pytest.raises(PatchError) as caught:
        patch.apply(TARGET)
    assert caught.value.status == status
    assert TARGET["title"] == "Goodbye!"


@pytest.mark.parametrize(
    ("value", "expected", "passes"),
    [
        (True, 1, False),
        (1, True, False),
        (None, 0, False),
        (1, 1.0, True),
        ({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([1, 2], [2, 1], False),
        ("1", 1, False),
    ],
)
def test_json_patch_test_compares_json_values(value: Any, expected: Any, passes: bool) -> None:
    # RFC 6902 §4.6: true is not 1, 1 is 1.0, objects ignore member order.
    ops = [{"op": "test", "path": "/v", "value": expected}]
    if passes:
        assert apply_json_patch({"v": value}, ops) == {"v": value}
    else:
        with pytest.raises(PatchError) as caught:
            apply_json_patch({"v": value}, ops)
        assert caught.value.status == 409


def test_json_patch_copies_are_bounded() -> None:
    # Each copy doubles the document: 40 of them would need 2**40 values.
    doubling = [{"op": "copy", "from": "/a", "path": "/a/-"} for _ in range(40)]
    with pytest.raises(PatchError) as caught:
        apply_json_patch({"a": [1]}, doubling)
    assert caught.value.status == 422 and "copies more than" in caught.value.detail
    # Copying the root into itself deepens the document by one level each time.
    deepening = [{"op": "copy", "from": "", "path": "/x"} for _ in range(MAX_DEPTH + 1)]
    with pytest.raises(PatchError) as caught:
        apply_json_patch({}, deepening)
    assert caught.value.status == 422 and "deeper" in caught.value.detail
    # Ten are fine: about two thousand values.
    assert len(apply_json_patch({"a": [1]}, doubling[:10])["a"]) == 11


def test_json_patch_is_atomic() -> None:
    # RFC 6902 §5: a failing operation leaves nothing of the ones before it.
    ops = [{"op": "replace", "path": "/title", "value": "x"}, {"op": "remove", "path": "/no"}]
    with pytest.raises(PatchError):
        apply_json_patch(TARGET, ops)
    assert TARGET["title"] == "Goodbye!"


def test_json_patch_rfc6902_operations() -> None:
    ops = [
        {"op": "test", "path": "/author/givenName", "value": "John"},
        {"op": "copy", "from": "/author/givenName", "path": "/author/nickName"},
        {"op": "move", "from": "/author/familyName", "path": "/surname"},
        {"op": "add", "path": "/tags", "value": ["a"]},
        {"op": "add", "path": "/tags/-", "value": "b"},
        {"op": "replace", "path": "/title", "value": "Hello!"},
        {"op": "remove", "path": "/tags/0"},
    ]
    assert Patch(JSON_PATCH_MEDIA_TYPE, ops).apply(TARGET) == {
        "title": "Hello!",
        "author": {"givenName": "John", "nickName": "John"},
        "surname": "Doe",
        "tags": ["b"],
    }


def test_non_object_resources() -> None:
    assert Patch(MERGE_PATCH_MEDIA_TYPE, [1]).apply({"a": 1}, objects_only=False) == [1]
    assert ACCEPT_PATCH.split(", ") == [MERGE_PATCH_MEDIA_TYPE, JSON_PATCH_MEDIA_TYPE]


def test_json_patch_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_jsonpatch(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "jsonpatch":
            raise ImportError("No module named 'jsonpatch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_jsonpatch)
    with pytest.raises(MissingExtra) as caught:
        apply_json_patch({}, [{"op": "remove", "path": "/a"}])
    assert "pip install 'ifmatch[patch]'" in str(caught.value)


def test_start_up_check_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from ifmatch.core.patching import require_appliers

    require_appliers()  # installed here
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "jsonpatch" else real(name)
    )
    with pytest.raises(MissingExtra, match=r"ifmatch\[patch\]"):
        require_appliers()
    require_appliers([MERGE_PATCH_MEDIA_TYPE])  # merge patch alone needs nothing


def test_core_imports_no_patch_library() -> None:
    code = (
        "import sys, ifmatch.core.patching, ifmatch.integrations._patch; "
        "print(sorted(m for m in ('jsonpatch', 'jsonpointer', 'flask', 'starlette') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
