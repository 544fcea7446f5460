"""Three-way merges: JSON documents and lines of text.

``merge(base, mine, theirs)``: ``base`` is what you read, ``mine`` what you want to write,
``theirs`` what the server holds now. Changes made on one side only are applied; the same
change made on both sides is applied once; different changes to the same place raise
:class:`~ifmatch.client.errors.MergeConflict` listing every conflicting JSON Pointer.

* Objects merge member by member (a member added or removed on one side is added or removed).
* Arrays merge like lines of text (diff3): insertions and removals on one side are kept, and
  conflicting regions of equal length merge element by element.
* Strings, numbers, booleans and ``null`` are atomic, except that with ``text=True`` strings
  holding several lines merge line by line.

``merge_text`` / ``diff3`` are the line-based merge on their own, for a merge view.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, Literal, TypeVar

from .errors import MergeConflict
from .messages import MISSING

__all__ = ["Conflict", "Hunk", "Resolved", "diff3", "json_equal", "merge", "merge_text"]

T = TypeVar("T")


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: ``true`` is not ``1``, ``1`` is ``1.0``, member order is
    irrelevant. :data:`~ifmatch.client.messages.MISSING` equals only itself."""
    if a is MISSING or b is MISSING:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping | list) or isinstance(b, Mapping | list):
        return False
    if isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    return bool(a == b)


# -- diff3 over sequences ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    """A region that merged cleanly.

    Attributes:
        items: the merged items.
        source: ``"base"`` (unchanged everywhere), ``"mine"`` / ``"theirs"`` (changed on that
            side only) or ``"both"`` (the same change on both sides).
        base_start: where the region starts in ``base``.
    """

    items: tuple[Any, ...]
    source: Literal["base", "mine", "theirs", "both"]
    base_start: int


@dataclass(frozen=True, slots=True)
class Conflict:
    """A region both sides changed differently: ``base[base_start:base_start+len(base)]``
    became ``mine`` on one side and ``theirs`` on the other."""

    base: tuple[Any, ...]
    mine: tuple[Any, ...]
    theirs: tuple[Any, ...]
    base_start: int

    def describe(self) -> str:
        """Where the conflict is, in 1-based lines of the base: ``"lines 3-5"``."""
        first, count = self.base_start + 1, len(self.base)
        if count == 0:
            return f"before line {first}"
        return f"line {first}" if count == 1 else f"lines {first}-{first + count - 1}"


Hunk = Resolved | Conflict


def _matching(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[tuple[int, int, int]]:
    return [
        (block.a, block.b, block.size)
        for block in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    ]


def _sync_regions(
    base: Sequence[Hashable], mine: Sequence[Hashable], theirs: Sequence[Hashable]
) -> list[tuple[int, int, int, int, int, int]]:
    """Regions of ``base`` that both sides kept, with where they sit in each side."""
    in_mine, in_theirs = _matching(base, mine), _matching(base, theirs)
    regions = []
    i = j = 0
    while i < len(in_mine) and j < len(in_theirs):
        base_m, at_m, size_m = in_mine[i]
        base_t, at_t, size_t = in_theirs[j]
        start, end = max(base_m, base_t), min(base_m + size_m, base_t + size_t)
        if start < end:
            m0, t0 = at_m + start - base_m, at_t + start - base_t
            regions.append((start, end, m0, m0 + end - start, t0, t0 + end - start))
        if base_m + size_m < base_t + size_t:
            i += 1
        else:
            j += 1
    regions.append((len(base), len(base), len(mine), len(mine), len(theirs), len(theirs)))
    return regions


def diff3(
    base: Sequence[T],
    mine: Sequence[T],
    theirs: Sequence[T],
    *,
    key: Callable[[T], Hashable] | None = None,
) -> list[Hunk]:
    """Split a three-way merge of sequences into resolved and conflicting regions.

    Args:
        base: the version both sides started from (lines of text, array elements).
        mine: your version.
        theirs: the version stored now.
        key: maps an item to a hashable stand-in used for comparing (identity by default).

    Returns:
        The hunks in order; joining the ``items`` of the resolved ones and one side of each
        conflict rebuilds a merged sequence.
    """
    kb = [key(x) for x in base] if key else list(base)
    km = [key(x) for x in mine] if key else list(mine)
    kt = [key(x) for x in theirs] if key else list(theirs)
    hunks: list[Hunk] = []
    zb = zm = zt = 0
    for b0, b1, m0, m1, t0, t1 in _sync_regions(kb, km, kt):
        if zb < b0 or zm < m0 or zt < t0:
            hunks.append(
                _classify(
                    (tuple(base[zb:b0]), tuple(mine[zm:m0]), tuple(theirs[zt:t0])),
                    (kb[zb:b0], km[zm:m0], kt[zt:t0]),
                    zb,
                )
            )
        if b1 > b0:
            hunks.append(Resolved(tuple(base[b0:b1]), "base", b0))
        zb, zm, zt = b1, m1, t1
    return hunks


def _classify(
    items: tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]],
    keys: tuple[list[Any], list[Any], list[Any]],
    start: int,
) -> Hunk:
    base, mine, theirs = items
    kb, km, kt = keys
    if km == kt:
        return Resolved(mine, "both", start)
    if km == kb:
        return Resolved(theirs, "theirs", start)
    if kt == kb:
        return Resolved(mine, "mine", start)
    return Conflict(base, mine, theirs, start)


def merge_text(
    base: str,
    mine: str,
    theirs: str,
    *,
    markers: bool = False,
    labels: tuple[str, str] = ("mine", "theirs"),
) -> str:
    """Merge three versions of a text line by line.

    Args:
        base: the text you read.
        mine: the text you want.
        theirs: the text stored now.
        markers: instead of raising on a conflict, write both sides between
            ``<<<<<<<`` / ``=======`` / ``>>>>>>>`` marker lines for a person to resolve.
        labels: the names written after the ``<<<<<<<`` and ``>>>>>>>`` markers.

    Returns:
        The merged text.

    Raises:
        MergeConflict: some lines changed differently on both sides (and ``markers`` is
            false); ``paths`` says which lines of the base (``"lines 3-5"``), ``hunks`` holds
            the :class:`Conflict` regions.
    """
    hunks = diff3(
        base.splitlines(keepends=True),
        mine.splitlines(keepends=True),
        theirs.splitlines(keepends=True),
    )
    conflicts = [hunk for hunk in hunks if isinstance(hunk, Conflict)]
    if conflicts and not markers:
        raise MergeConflict(
            [hunk.describe() for hunk in conflicts],
            base=base,
            mine=mine,
            theirs=theirs,
            hunks=conflicts,
        )
    out: list[str] = []
    for hunk in hunks:
        if isinstance(hunk, Resolved):
            out.extend(hunk.items)
            continue
        out.append(f"<<<<<<< {labels[0]}\n")
        out.extend(_terminated(hunk.mine))
        out.append("=======\n")
        out.extend(_terminated(hunk.theirs))
        out.append(f">>>>>>> {labels[1]}\n")
    return "".join(out)


def _terminated(lines: tuple[str, ...]) -> list[str]:
    if lines and not lines[-1].endswith("\n"):
        return [*lines[:-1], lines[-1] + "\n"]
    return list(lines)


# -- JSON -------------------------------------------------------------------------------------


def merge(base: Any, mine: Any, theirs: Any, *, text: bool = False) -> Any:
    """Three-way merge of JSON documents.

    Args:
        base: the document as you read it.
        mine: the document as you want it.
        theirs: the document as the server holds it now.
        text: merge multi-line strings changed on both sides line by line.

    Returns:
        ``theirs`` with your changes (``base`` → ``mine``) applied.

    Raises:
        MergeConflict: both sides changed the same place differently; ``paths`` lists every
            such place as an RFC 6901 JSON Pointer (``""`` is the whole document).

    >>> merge({"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 1, "b": 3})
    {'a': 2, 'b': 3}
    """
    conflicts: list[str] = []
    result = _merge(base, mine, theirs, "", conflicts, text)
    if conflicts:
        raise MergeConflict(conflicts, base=base, mine=mine, theirs=theirs)
    return result


def _pointer_token(key: str) -> str:
    # RFC 6901 §3: "~" is written "~0" and "/" is written "~1".
    return key.replace("~", "~0").replace("/", "~1")


def _merge(base: Any, mine: Any, theirs: Any, path: str, conflicts: list[str], text: bool) -> Any:
    if json_equal(mine, theirs):
        return mine
    if json_equal(mine, base):
        return theirs
    if json_equal(theirs, base):
        return mine
    # A member or element added on both sides merges as if it had been empty before.
    if isinstance(mine, Mapping) and isinstance(theirs, Mapping):
        if isinstance(base, Mapping):
            return _merge_objects(base, mine, theirs, path, conflicts, text)
        if base is MISSING:
            return _merge_objects({}, mine, theirs, path, conflicts, text)
    if isinstance(mine, list) and isinstance(theirs, list):
        if isinstance(base, list):
            return _merge_arrays(base, mine, theirs, path, conflicts, text)
        if base is MISSING:
            return _merge_arrays([], mine, theirs, path, conflicts, text)
    if (
        text
        and isinstance(mine, str)
        and isinstance(theirs, str)
        and isinstance(base, str)
        and "\n" in base + mine + theirs
    ):
        try:
            return merge_text(base, mine, theirs)
        except MergeConflict:
            pass
    conflicts.append(path)
    return base


def _merge_objects(
    base: Mapping[str, Any],
    mine: Mapping[str, Any],
    theirs: Mapping[str, Any],
    path: str,
    conflicts: list[str],
    text: bool,
) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key in [*mine, *(key for key in theirs if key not in mine)]:
        value = _merge(
            base.get(key, MISSING),
            mine.get(key, MISSING),
            theirs.get(key, MISSING),
            f"{path}/{_pointer_token(key)}",
            conflicts,
            text,
        )
        if value is not MISSING:
            merged[key] = value
    # Members removed on both sides stay removed: neither list of keys names them.
    return merged


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _merge_arrays(
    base: list[Any],
    mine: list[Any],
    theirs: list[Any],
    path: str,
    conflicts: list[str],
    text: bool,
) -> list[Any]:
    merged: list[Any] = []
    for hunk in diff3(base, mine, theirs, key=_canonical):
        if isinstance(hunk, Resolved):
            merged.extend(hunk.items)
        elif len(hunk.base) == len(hunk.mine) == len(hunk.theirs):
            # The same slots edited on both sides: merge them element by element.
            for b, m, t in zip(hunk.base, hunk.mine, hunk.theirs, strict=True):
                merged.append(_merge(b, m, t, f"{path}/{len(merged)}", conflicts, text))
        else:
            conflicts.append(f"{path}/{len(merged)}")
            merged.extend(hunk.base)
    return merged
