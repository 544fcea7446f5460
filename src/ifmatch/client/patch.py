"""PATCH bodies: JSON Merge Patch (RFC 7396), JSON Patch (RFC 6902) and JSON:API updates.

``merge_patch(before, after)`` / ``json_patch(before, after)`` compute the body that turns the
document you read into the one you want; ``apply_*`` apply one (servers, tests, previews).
RFC 5789 §2: clients applying patches "SHOULD" make the request conditional, which the client
does with the tag of ``before``.

JSON Patch is computed and applied by the ``jsonpatch`` package (imported only when used).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final, Literal

from ..core.patching import apply_merge_patch

__all__ = [
    "JSONAPI_MEDIA_TYPE",
    "JSON_PATCH_MEDIA_TYPE",
    "MERGE_PATCH_MEDIA_TYPE",
    "PatchFormat",
    "apply_json_patch",
    "apply_merge_patch",
    "json_patch",
    "jsonapi_patch",
    "merge_patch",
]

MERGE_PATCH_MEDIA_TYPE: Final = "application/merge-patch+json"
JSON_PATCH_MEDIA_TYPE: Final = "application/json-patch+json"
JSONAPI_MEDIA_TYPE: Final = "application/vnd.api+json"

#: How ``Client.update`` / ``Client.save`` send a change: the whole document with PUT, or a
#: PATCH with an RFC 7396 merge patch, an RFC 6902 JSON Patch, or a JSON:API resource object.
PatchFormat = Literal["merge", "json", "jsonapi"]


def merge_patch(before: Any, after: Any) -> Any:
    """The smallest RFC 7396 merge patch turning ``before`` into ``after``.

    Raises:
        ValueError: ``after`` holds a ``null`` that ``before`` did not have at that place; a
            merge patch cannot set a value to null (RFC 7396 §1). Use JSON Patch instead.
    """
    if not isinstance(after, Mapping):
        if _holds_null(after):
            raise ValueError("a merge patch cannot set a value to null; use JSON Patch")
        return copy.deepcopy(after)
    if not isinstance(before, Mapping):
        return merge_patch({}, after)
    patch: dict[str, Any] = {}
    for name in before:
        if name not in after:
            patch[name] = None
    for name, value in after.items():
        if name in before and _same(before[name], value):
            continue
        if value is None:
            raise ValueError(
                f"a merge patch cannot set {name!r} to null (RFC 7396); use JSON Patch"
            )
        patch[name] = merge_patch(before.get(name), value)
    return patch


def _holds_null(value: Any) -> bool:
    # Nulls inside arrays are plain values in a merge patch; only object members are special.
    if isinstance(value, Mapping):
        return any(member is None or _holds_null(member) for member in value.values())
    return False


def _same(a: Any, b: Any) -> bool:
    from .merge import json_equal

    return json_equal(a, b)


def json_patch(before: Any, after: Any) -> list[dict[str, Any]]:
    """An RFC 6902 JSON Patch turning ``before`` into ``after``."""
    import jsonpatch

    operations: list[dict[str, Any]] = jsonpatch.make_patch(before, after).patch
    return operations


def apply_json_patch(document: Any, operations: list[dict[str, Any]]) -> Any:
    """Apply an RFC 6902 JSON Patch atomically; return the new document.

    RFC 6902 §5: "If a normative requirement is violated by a JSON Patch document, or if an
    operation is not successful, evaluation of the JSON Patch document SHOULD terminate and
    application of the entire patch document SHALL NOT be deemed successful."

    Raises:
        ValueError: the patch is malformed, a path does not exist, or a ``test`` failed.
    """
    import jsonpatch
    import jsonpointer

    try:
        return jsonpatch.apply_patch(document, operations, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
        raise ValueError(str(error)) from error
    except (TypeError, KeyError, IndexError) as error:
        raise ValueError(f"malformed JSON Patch: {error}") from error


def _primary(document: Any) -> Mapping[str, Any]:
    data = document.get("data") if isinstance(document, Mapping) else None
    if not isinstance(data, Mapping):
        raise ValueError("a JSON:API update needs a document whose primary data is one resource")
    return data


def jsonapi_patch(before: Any, after: Any) -> dict[str, Any]:
    """The JSON:API update document (``PATCH``, ``application/vnd.api+json``) turning the
    resource document ``before`` into ``after``: the resource's ``type`` and ``id`` with the
    attributes and relationships that changed. JSON:API: "If a request does not include all of
    the attributes for a resource, the server MUST interpret the missing attributes as if they
    were included with their current values", so the rest (and what the server manages:
    ``links``, ``meta``) is left out.

    Raises:
        ValueError: a document's primary data is not one resource object, or ``after`` drops an
            attribute ``before`` had (an update cannot remove one; set it to ``null``).
    """
    old, new = _primary(before), _primary(after)
    resource: dict[str, Any] = {"type": new.get("type", old.get("type"))}
    if "id" in new or "id" in old:
        resource["id"] = new.get("id", old.get("id"))
    was, now = old.get("attributes") or {}, new.get("attributes") or {}
    dropped = sorted(set(was) - set(now))
    if dropped:
        raise ValueError(f"a JSON:API update cannot remove attributes: {dropped}")
    attributes = {k: v for k, v in now.items() if k not in was or not _same(was[k], v)}
    if attributes:
        resource["attributes"] = attributes
    linked, links = old.get("relationships") or {}, new.get("relationships") or {}
    relationships = {
        name: {"data": value["data"]}
        for name, value in links.items()
        if isinstance(value, Mapping)
        and "data" in value
        and not (
            isinstance(linked.get(name), Mapping) and _same(linked[name].get("data"), value["data"])
        )
    }
    if relationships:
        resource["relationships"] = relationships
    return {"data": resource}
