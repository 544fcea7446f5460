"""Three-way merges: tables (base / mine / theirs -> result or conflict paths) and properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ifmatch.client import MergeConflict, diff3, json_equal, merge, merge_text
from ifmatch.client.merge import Conflict, Resolved

# (name, base, mine, theirs, expected merge)
CLEAN: list[tuple[str, Any, Any, Any, Any]] = [
    ("different members", {"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 1, "b": 3}, {"a": 2, "b": 3}),
    ("same change twice", {"a": 1}, {"a": 2}, {"a": 2}, {"a": 2}),
    ("mine only", {"a": 1}, {"a": 2}, {"a": 1}, {"a": 2}),
    ("theirs only", {"a": 1}, {"a": 1}, {"a": 2}, {"a": 2}),
    ("removed on one side", {"a": 1, "b": 1}, {"b": 1}, {"a": 1, "b": 2}, {"b": 2}),
    ("removed on both sides", {"a": 1, "b": 1}, {"b": 1}, {"b": 1}, {"b": 1}),
    ("added on each side", {}, {"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
    ("same member added twice", {}, {"a": 1}, {"a": 1}, {"a": 1}),
    ("objects added twice merge", {}, {"o": {"x": 1}}, {"o": {"y": 2}}, {"o": {"x": 1, "y": 2}}),
    (
        "nested members",
        {"o": {"x": 1, "y": 1}},
        {"o": {"x": 2, "y": 1}},
        {"o": {"x": 1, "y": 3}},
        {"o": {"x": 2, "y": 3}},
    ),
    (
        "array insert and append",
        {"t": [1, 2, 3]},
        {"t": [0, 1, 2, 3]},
        {"t": [1, 2, 3, 4]},
        {"t": [0, 1, 2, 3, 4]},
    ),
    ("array removals", {"t": [1, 2, 3, 4]}, {"t": [2, 3, 4]}, {"t": [1, 2, 3]}, {"t": [2, 3]}),
    (
        "array elements edited apart",
        {"t": [{"n": "a", "v": 1}, {"n": "b", "v": 1}]},
        {"t": [{"n": "A", "v": 1}, {"n": "b", "v": 1}]},
        {"t": [{"n": "a", "v": 1}, {"n": "b", "v": 2}]},
        {"t": [{"n": "A", "v": 1}, {"n": "b", "v": 2}]},
    ),
    (
        "one element, two fields",
        {"t": [{"n": "a", "v": 1}]},
        {"t": [{"n": "A", "v": 1}]},
        {"t": [{"n": "a", "v": 2}]},
        {"t": [{"n": "A", "v": 2}]},
    ),
    ("true is not 1", {"a": 1}, {"a": True}, {"a": 1}, {"a": True}),
    ("1 is 1.0", {"a": 1}, {"a": 1.0}, {"a": 2}, {"a": 2}),
    ("null is a value", {"a": 1}, {"a": None}, {"a": 1, "b": 2}, {"a": None, "b": 2}),
    ("scalar documents", 1, 1, 2, 2),
]


@pytest.mark.parametrize(
    ("base", "mine", "theirs", "expected"),
    [case[1:] for case in CLEAN],
    ids=[case[0] for case in CLEAN],
)
def test_clean_merges(base: Any, mine: Any, theirs: Any, expected: Any) -> None:
    assert json_equal(merge(base, mine, theirs), expected)
    assert json_equal(merge(base, theirs, mine), expected)


# (name, base, mine, theirs, conflicting paths)
CONFLICTS: list[tuple[str, Any, Any, Any, list[str]]] = [
    ("same member", {"a": 1}, {"a": 2}, {"a": 3}, ["/a"]),
    ("removed and changed", {"a": 1}, {}, {"a": 2}, ["/a"]),
    ("added twice differently", {}, {"a": 1}, {"a": 2}, ["/a"]),
    (
        "several places",
        {"a": 1, "o": {"x": 1}, "b": 1},
        {"a": 2, "o": {"x": 2}, "b": 1},
        {"a": 3, "o": {"x": 3}, "b": 5},
        ["/a", "/o/x"],
    ),
    ("appended twice", {"t": [1, 2, 3]}, {"t": [1, 2, 3, 5]}, {"t": [1, 2, 3, 4]}, ["/t/3"]),
    (
        "same slot of an element",
        {"t": [{"n": "a"}]},
        {"t": [{"n": "b"}]},
        {"t": [{"n": "c"}]},
        ["/t/0/n"],
    ),
    ("type changed", {"a": {"x": 1}}, {"a": [1]}, {"a": {"x": 2}}, ["/a"]),
    ("whole document", {"a": 1}, [1], "x", [""]),
    (
        "pointer escaping",
        {"a/b": 1, "m~n": 1},
        {"a/b": 2, "m~n": 2},
        {"a/b": 3, "m~n": 3},
        ["/a~1b", "/m~0n"],
    ),
    ("strings are atomic", {"s": "one\ntwo\n"}, {"s": "ONE\ntwo\n"}, {"s": "one\nTWO\n"}, ["/s"]),
]


@pytest.mark.parametrize(
    ("base", "mine", "theirs", "paths"),
    [case[1:] for case in CONFLICTS],
    ids=[case[0] for case in CONFLICTS],
)
def test_conflicts_list_every_path(base: Any, mine: Any, theirs: Any, paths: list[str]) -> None:
    for a, b in ((mine, theirs), (theirs, mine)):
        with pytest.raises(MergeConflict) as caught:
            merge(base, a, b)
        assert sorted(caught.value.paths) == sorted(paths)
        assert (caught.value.base, caught.value.mine, caught.value.theirs) == (base, a, b)


def test_text_mode_merges_lines_inside_strings() -> None:
    base = {"body": "one\ntwo\nthree\n", "title": "T"}
    mine = {"body": "ONE\ntwo\nthree\n", "title": "T"}
    theirs = {"body": "one\ntwo\nTHREE\n", "title": "T2"}
    assert merge(base, mine, theirs, text=True) == {"body": "ONE\ntwo\nTHREE\n", "title": "T2"}
    with pytest.raises(MergeConflict) as caught:
        merge(base, mine, {"body": "uno\ntwo\nthree\n"}, text=True)
    assert caught.value.paths == ("/body",)


def test_merge_does_not_modify_its_inputs() -> None:
    base, mine, theirs = (
        {"t": [1], "o": {"a": 1}},
        {"t": [0, 1], "o": {"a": 1}},
        {"t": [1, 2], "o": {"a": 2}},
    )
    snapshot = repr((base, mine, theirs))
    merge(base, mine, theirs)
    assert repr((base, mine, theirs)) == snapshot


# -- text -------------------------------------------------------------------------------------

TEXT_CLEAN = [
    ("a\nb\nc\nd\n", "A\nb\nc\nd\n", "a\nb\nc\nD\n", "A\nb\nc\nD\n"),
    ("a\nb\n", "a\nb\nmine\n", "theirs\na\nb\n", "theirs\na\nb\nmine\n"),
    ("a\nb\nc\n", "a\nc\n", "a\nb\nc\n", "a\nc\n"),
    ("a\nm\nb", "a\nm\nB", "A\nm\nb", "A\nm\nB"),  # no final newline
    ("", "x\n", "", "x\n"),
    ("same\n", "both\n", "both\n", "both\n"),
]


@pytest.mark.parametrize(("base", "mine", "theirs", "expected"), TEXT_CLEAN)
def test_text_merges(base: str, mine: str, theirs: str, expected: str) -> None:
    assert merge_text(base, mine, theirs) == expected
    assert merge_text(base, theirs, mine) == expected


TEXT_CONFLICTS = [
    ("a\nb\nc\n", "a\nX\nc\n", "a\nY\nc\n", ["line 2"]),
    ("a\nb\nc\nd\n", "a\nX\nY\nd\n", "a\nb\nZ\nd\n", ["lines 2-3"]),
    ("a\n", "a\nmine\n", "a\ntheirs\n", ["before line 2"]),
    # Adjacent lines changed on each side: no unchanged line separates them (as in git).
    ("a\nb", "a\nB", "A\nb", ["lines 1-2"]),
    ("a\nb\nc\nd\ne\n", "A\nb\nc\nd\nE\n", "a2\nb\nc\nd\ne2\n", ["line 1", "line 5"]),
]


@pytest.mark.parametrize(("base", "mine", "theirs", "paths"), TEXT_CONFLICTS)
def test_text_conflicts(base: str, mine: str, theirs: str, paths: list[str]) -> None:
    with pytest.raises(MergeConflict) as caught:
        merge_text(base, mine, theirs)
    assert list(caught.value.paths) == paths
    assert all(isinstance(hunk, Conflict) for hunk in caught.value.hunks)


def test_conflict_markers_for_a_merge_view() -> None:
    merged = merge_text("a\nb\nc", "a\nX\nc", "a\nY\nc", markers=True, labels=("Guido", "Ada"))
    assert merged == "a\n<<<<<<< Guido\nX\n=======\nY\n>>>>>>> Ada\nc"


def test_diff3_hunks() -> None:
    hunks = diff3("abcde", "aXcde", "abcdY")
    assert hunks == [
        Resolved(("a",), "base", 0),
        Resolved(("X",), "mine", 1),
        Resolved(("c", "d"), "base", 2),
        Resolved(("Y",), "theirs", 4),
    ]
    assert diff3("ab", "aX", "aY") == [
        Resolved(("a",), "base", 0),
        Conflict(("b",), ("X",), ("Y",), 1),
    ]


# -- properties -------------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "d"])
scalars = st.none() | st.booleans() | st.integers(0, 3) | st.sampled_from(["x", "y", "z"])
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def edited(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with random local edits, so that the two sides often overlap partly."""
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return draw(json_values)
    if isinstance(value, dict) and choice < 5:
        out = {}
        for key, member in value.items():
            action = draw(st.integers(0, 4))
            if action == 0:
                continue  # removed
            out[key] = draw(edited(member)) if action == 1 else member
        out.update(draw(st.dictionaries(KEYS, json_values, max_size=1)))
        return out
    if isinstance(value, list) and choice < 5:
        out_list = [draw(edited(item)) if draw(st.booleans()) else item for item in value]
        if out_list and draw(st.booleans()):
            del out_list[draw(st.integers(0, len(out_list) - 1))]
        if draw(st.booleans()):
            out_list.insert(draw(st.integers(0, len(out_list))), draw(scalars))
        return out_list
    return value


@st.composite
def triples(draw: st.DrawFn) -> tuple[Any, Any, Any]:
    base = draw(json_values)
    return base, draw(edited(base)), draw(edited(base))


def outcome(base: Any, mine: Any, theirs: Any) -> tuple[str, Any]:
    try:
        return "merged", merge(base, mine, theirs)
    except MergeConflict as conflict:
        return "conflict", sorted(conflict.paths)


@settings(max_examples=200)
@given(triples())
def test_an_unchanged_side_yields_the_other_side(triple: tuple[Any, Any, Any]) -> None:
    base, mine, _ = triple
    assert json_equal(merge(base, base, mine), mine)
    assert json_equal(merge(base, mine, base), mine)
    assert json_equal(merge(base, mine, mine), mine)


@settings(max_examples=200)
@given(triples())
def test_merge_is_symmetric(triple: tuple[Any, Any, Any]) -> None:
    base, mine, theirs = triple
    kind, value = outcome(base, mine, theirs)
    swapped_kind, swapped_value = outcome(base, theirs, mine)
    assert kind == swapped_kind
    if kind == "merged":
        assert json_equal(value, swapped_value)
    else:
        assert value == swapped_value


@given(
    st.dictionaries(KEYS, json_values),
    st.dictionaries(st.sampled_from(["m1", "m2"]), json_values),
    st.dictionaries(st.sampled_from(["t1", "t2"]), json_values),
)
def test_changes_to_different_members_all_apply(
    base: dict[str, Any], mine_new: dict[str, Any], theirs_new: dict[str, Any]
) -> None:
    merged = merge(base, {**base, **mine_new}, {**base, **theirs_new})
    assert json_equal(merged, {**base, **mine_new, **theirs_new})


lines = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d\n"]), max_size=8)


@given(lines, lines, lines)
def test_text_merge_properties(base: list[str], mine: list[str], theirs: list[str]) -> None:
    b, m, t = "".join(base), "".join(mine), "".join(theirs)
    assert merge_text(b, b, t) == t
    assert merge_text(b, m, b) == m
    try:
        merged = merge_text(b, m, t)
    except MergeConflict as conflict:
        with pytest.raises(MergeConflict) as swapped:
            merge_text(b, t, m)
        assert swapped.value.paths == conflict.paths
    else:
        assert merge_text(b, t, m) == merged
