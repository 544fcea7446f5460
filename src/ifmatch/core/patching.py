"""PATCH documents on the server: JSON Merge Patch (RFC 7396) and JSON Patch (RFC 6902).

Sans-I/O: :func:`parse_patch` turns a request's ``Content-Type`` and body into a :class:`Patch`
(or raises :class:`PatchError`), and :meth:`Patch.apply` applies it to a representation. Each
failure carries the status RFC 5789 §2.2 gives it:

=====  ==========================================================================================
415    "Unsupported Patch Document": a media type the resource does not accept (send
       ``Accept-Patch``, RFC 5789 §3.1, with the answer).
400    "Malformed patch document": not JSON, or not a JSON Patch operation list.
422    "Unprocessable request": a patch no state could take (the resource's schema refuses
       the result, a merge patch that replaces the object with a non-object).
409    "Conflicting state": a patch the current state cannot take (a JSON Patch ``test`` that
       fails, a path that is not there).
=====  ==========================================================================================

Merge patch is implemented here. JSON Patch is applied by the ``jsonpatch`` package, imported
only when a JSON Patch is applied (``pip install 'ifmatch[patch]'``); the document's structure
is checked here first, so a malformed one is a 400 before any state is read.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .problems import problem

__all__ = [
    "ACCEPT_PATCH",
    "JSON_PATCH_MEDIA_TYPE",
    "MERGE_PATCH_MEDIA_TYPE",
    "MAX_COPIED_VALUES",
    "MAX_DEPTH",
    "PATCH_MEDIA_TYPES",
    "Patch",
    "PatchError",
    "accept_patch",
    "apply_json_patch",
    "apply_merge_patch",
    "check_json_patch",
    "json_equal",
    "parse_patch",
    "patch_problem",
    "require_appliers",
]

MERGE_PATCH_MEDIA_TYPE: Final = "application/merge-patch+json"
JSON_PATCH_MEDIA_TYPE: Final = "application/json-patch+json"
#: The patch formats a resource accepts unless told otherwise, in order of preference.
PATCH_MEDIA_TYPES: Final = (MERGE_PATCH_MEDIA_TYPE, JSON_PATCH_MEDIA_TYPE)
#: The ``Accept-Patch`` field value (RFC 5789 §3.1) for :data:`PATCH_MEDIA_TYPES`.
ACCEPT_PATCH: Final = ", ".join(PATCH_MEDIA_TYPES)
#: How deeply a patch document may nest arrays and objects: applying one copies and walks it
#: recursively, so a deeper one is refused (400) before it can exhaust the stack.
MAX_DEPTH: Final = 100
#: How many values (members and elements, at any depth) a JSON Patch's ``copy`` operations may
#: add together: without a bound, thirty copies can grow a document a billion-fold.
MAX_COPIED_VALUES: Final = 100_000

# RFC 6901 §3: json-pointer = *( "/" reference-token ); "~" only in "~0" and "~1".
_POINTER = re.compile(r"(/([^/~]|~[01])*)*")
# RFC 6902 §4: each operation's members besides "op" and "path".
_MEMBERS: Final[Mapping[str, tuple[str, ...]]] = {
    "add": ("value",),
    "remove": (),
    "replace": ("value",),
    "move": ("from",),
    "copy": ("from",),
    "test": ("value",),
}


class PatchError(Exception):
    """A patch that cannot be taken, with the status RFC 5789 §2.2 gives it.

    Attributes:
        status: 415, 400, 422 or 409.
        code: the problem ``code``: ``unsupported-patch-type``, ``malformed-patch``,
            ``unprocessable-patch`` or ``patch-conflict``.
        detail: a sentence saying what was wrong, safe to show to the client.
        pointer: the JSON Pointer (into the patch document) of the part that was wrong, if one.
        errors: field errors of the resource's schema, for a 422 it refused.
    """

    CODES: Final[Mapping[int, str]] = {
        415: "unsupported-patch-type",
        400: "malformed-patch",
        422: "unprocessable-patch",
        409: "patch-conflict",
    }

    def __init__(
        self, status: int, detail: str, *, pointer: str | None = None, errors: Any = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = self.CODES[status]
        self.detail = detail
        self.pointer = pointer
        self.errors = errors


def accept_patch(media_types: Iterable[str] = PATCH_MEDIA_TYPES) -> str:
    """The ``Accept-Patch`` field value naming ``media_types`` (RFC 5789 §3.1)."""
    return ", ".join(media_types)


def require_appliers(media_types: Iterable[str] = PATCH_MEDIA_TYPES) -> None:
    """Check at start-up that every accepted patch format can be applied here.

    Raises:
        ifmatch._extras.MissingExtra: JSON Patch is accepted but the ``jsonpatch`` package is
            not installed (``pip install 'ifmatch[patch]'``).
    """
    import importlib.util

    if JSON_PATCH_MEDIA_TYPE in media_types and importlib.util.find_spec("jsonpatch") is None:
        from .._extras import MissingExtra

        raise MissingExtra("patch", ("jsonpatch",))


def patch_problem(
    error: PatchError,
    *,
    instance: str | None = None,
    type_base: str | None = None,
    accepted: Sequence[str] = PATCH_MEDIA_TYPES,
) -> dict[str, Any]:
    """The RFC 9457 problem object answering ``error``; a 415 lists the accepted types."""
    return problem(
        error.status,
        error.detail,
        code=error.code,
        type_base=type_base,
        instance=instance,
        pointer=error.pointer,
        errors=error.errors,
        accept_patch=list(accepted) if error.status == 415 else None,
    )


def _media_type(content_type: str | None) -> str:
    # RFC 9110 §8.3.1: type/subtype, case-insensitive, parameters after ";".
    return (content_type or "").split(";", 1)[0].strip().lower()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _load_json(body: bytes | str) -> Any:
    try:
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
        return json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError as error:
        raise PatchError(400, f"the patch document is not UTF-8: {error.reason}") from None
    except ValueError as error:  # json.JSONDecodeError is one
        raise PatchError(400, f"the patch document is not JSON: {error}") from None
    except RecursionError:
        raise PatchError(400, "the patch document is nested too deeply") from None


def parse_patch(
    content_type: str | None,
    body: bytes | str,
    *,
    accepted: Sequence[str] = PATCH_MEDIA_TYPES,
    max_depth: int = MAX_DEPTH,
) -> Patch:
    """Read a PATCH request's body as one of the ``accepted`` patch formats.

    Args:
        content_type: the request's ``Content-Type`` field value (parameters are ignored).
        body: the request body.
        accepted: the media types the resource accepts (a subset of :data:`PATCH_MEDIA_TYPES`).
        max_depth: the deepest nesting of arrays and objects accepted.

    Raises:
        PatchError: 415 for a media type not in ``accepted`` (no ``Content-Type`` included),
            400 for a body that is not JSON, nests deeper than ``max_depth`` or, for JSON
            Patch, is not a list of operations.
    """
    media_type = _media_type(content_type)
    if media_type not in accepted:
        shown = repr(media_type) if media_type else "a body without Content-Type"
        raise PatchError(415, f"PATCH takes {', '.join(accepted)}; not {shown} (see Accept-Patch)")
    document = _load_json(body)
    if _deeper_than(document, max_depth):
        raise PatchError(400, f"the patch document nests deeper than {max_depth} levels")
    if media_type == JSON_PATCH_MEDIA_TYPE:
        check_json_patch(document)
    return Patch(media_type, document)


def _deeper_than(document: Any, limit: int) -> bool:
    # Iterative, so the check itself cannot exhaust the stack.
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children: Iterable[Any] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _count_values(value: Any, stop: int) -> int:
    # The number of values in ``value``, counted no further than ``stop``.
    count, pending = 0, [value]
    while pending and count < stop:
        item = pending.pop()
        count += 1
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return count


def check_json_patch(operations: Any) -> list[dict[str, Any]]:
    """Check an RFC 6902 document's structure: a list of operations, each with a known
    ``op``, a JSON Pointer ``path`` (and ``from``), and the members its ``op`` needs.

    Returns:
        ``operations`` itself.

    Raises:
        PatchError: 400 naming the first operation (by JSON Pointer) that is wrong.
    """
    if not isinstance(operations, list):
        kind = type(operations).__name__
        raise PatchError(400, f"a JSON Patch is an array of operations, not {kind}", pointer="")
    for index, operation in enumerate(operations):
        where = f"/{index}"
        if not isinstance(operation, dict):
            raise PatchError(400, f"operation {index} is not an object", pointer=where)
        op = operation.get("op")
        if not isinstance(op, str) or op not in _MEMBERS:
            raise PatchError(
                400,
                f"operation {index} has op {op!r}; RFC 6902 knows {', '.join(_MEMBERS)}",
                pointer=f"{where}/op",
            )
        for member in ("path", *_MEMBERS[op]):
            if member not in operation:
                raise PatchError(400, f"operation {index} ({op}) has no {member!r}", pointer=where)
        for member in ("path", "from"):
            if member in _MEMBERS[op] or member == "path":
                pointer = operation[member]
                if not isinstance(pointer, str) or not _POINTER.fullmatch(pointer):
                    raise PatchError(
                        400,
                        f"operation {index} ({op}): {member} {pointer!r} is not a JSON Pointer",
                        pointer=f"{where}/{member}",
                    )
    return operations


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7396 merge patch; return the new document (inputs are not modified).

    RFC 7396 §2: "If the provided merge patch contains members that do not appear within the
    target, those members are added. If the target does contain the member, the value is
    replaced. Null values in the merge patch are given special meaning to indicate the removal
    of existing values in the target." A patch that is not an object replaces the target.
    """
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = apply_merge_patch(result.get(name), value)
    return result


def apply_json_patch(document: Any, operations: list[dict[str, Any]]) -> Any:
    """Apply an RFC 6902 JSON Patch atomically; return the new document.

    RFC 6902 §5: "If a normative requirement is violated by a JSON Patch document, or if an
    operation is not successful, evaluation of the JSON Patch document SHOULD terminate and
    application of the entire patch document SHALL NOT be deemed successful."

    Raises:
        PatchError: 400 for a malformed document (see :func:`check_json_patch`), 409 when an
            operation cannot apply to ``document`` (a failed ``test``, a missing path).
        ifmatch._extras.MissingExtra: the ``jsonpatch`` package is not installed.
    """
    check_json_patch(operations)
    try:
        import jsonpatch
        import jsonpointer
    except ImportError as error:
        from .._extras import MissingExtra

        raise MissingExtra("patch", ("jsonpatch",)) from error
    result = copy.deepcopy(document)
    budget = MAX_COPIED_VALUES
    try:
        for operation in operations:
            if operation["op"] == "test":
                _test(result, operation, jsonpointer)
                continue
            if operation["op"] == "copy":
                # The one operation that grows a document beyond the patch's own size: each
                # copy may double it. Bound what all copies together may add, and the depth.
                copied = jsonpointer.resolve_pointer(result, operation["from"])
                budget -= _count_values(copied, budget + 1)
                if budget < 0:
                    raise PatchError(422, f"the patch copies more than {MAX_COPIED_VALUES} values")
            result = jsonpatch.JsonPatch([operation]).apply(result, in_place=True)
            if operation["op"] in {"copy", "move"} and _deeper_than(result, MAX_DEPTH):
                raise PatchError(422, f"the patch leaves a document deeper than {MAX_DEPTH}")
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
        raise PatchError(409, f"the patch does not apply to the current state: {error}") from None
    except (TypeError, KeyError, IndexError, ValueError) as error:
        raise PatchError(409, f"the patch does not apply to the current state: {error}") from None
    return result


def _test(document: Any, operation: Mapping[str, Any], jsonpointer: Any) -> None:
    # RFC 6902 §4.6, compared as JSON values: "literals (false, true, and null): are considered
    # equal if they are the same" (so true is not 1), numbers "if their values are
    # numerically equal", objects regardless of member order.
    path, expected = operation["path"], operation["value"]
    try:
        found = jsonpointer.resolve_pointer(document, path)
    except jsonpointer.JsonPointerException:
        raise PatchError(409, f"a test operation failed: {path!r} does not exist") from None
    if not json_equal(found, expected):
        raise PatchError(409, f"a test operation failed: {path!r} is {found!r}, not {expected!r}")


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: ``true`` is not ``1``, ``1`` is ``1.0``, member order does
    not matter."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping | list | str) or isinstance(b, Mapping | list | str):
        return type(a) is type(b) and a == b
    return bool(a == b)


@dataclass(frozen=True, slots=True)
class Patch:
    """A parsed patch document.

    Attributes:
        media_type: :data:`MERGE_PATCH_MEDIA_TYPE` or :data:`JSON_PATCH_MEDIA_TYPE`.
        document: the parsed JSON body.
    """

    media_type: str
    document: Any

    def apply(self, target: Any, *, objects_only: bool = True) -> Any:
        """The representation ``target`` with this patch applied (``target`` is unchanged).

        Args:
            target: the current representation (JSON values: dicts, lists, str, numbers...).
            objects_only: the resource is a JSON object, so a patch leaving anything else is
                refused with 422 (a merge patch that is not an object cannot apply to any
                state; a JSON Patch replacing the root with a non-object does not either).

        Raises:
            PatchError: 409 (JSON Patch: cannot apply to this state), 422 (the result is not
                an object where one is required).
        """
        if self.media_type == JSON_PATCH_MEDIA_TYPE:
            result = apply_json_patch(target, self.document)
        else:
            if objects_only and not isinstance(self.document, Mapping):
                kind = type(self.document).__name__
                raise PatchError(
                    422, f"the resource is a JSON object; a merge patch must be one, not {kind}"
                )
            result = apply_merge_patch(target, self.document)
        if objects_only and not isinstance(result, Mapping):
            kind = type(result).__name__
            raise PatchError(422, f"the patch leaves a {kind}; the resource is a JSON object")
        if _has_non_finite(result):
            raise PatchError(422, "the patch leaves a number that is not finite")
        return result


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, Mapping):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False
