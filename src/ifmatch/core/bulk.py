"""Bulk conditional writes: the request body, per-item results and the batch's answer.

Sans-I/O, like the rest of the core: plain values in, frozen values out. The convention (see
``docs/bulk.md``) is one ``POST`` to the collection's batch URL (``/documents:batchUpdate``, the
form of Google's AIP-136 custom methods and AIP-234 batch updates) with an ``application/json``
body::

    {"atomic": true,
     "items": [{"id": "a", "ifMatch": "\\"v3\\"", "data": {"text": "..."}},
               {"id": "b", "version": 7, "data": {"text": "..."}}]}

Each item carries its own precondition: ``ifMatch`` (an If-Match field value, the same
grammar and the same answers as the header: 412 when false) or ``version`` (the stored version
the client read, the body-version scheme: 409 when stale). ``atomic`` (default ``true``) asks
for all-or-nothing; ``false`` applies every item whose precondition holds.

The answer lists one result per item, in request order::

    200  applied; "etag" is the item's new entity-tag
    400  the item is malformed; its problem names the member (a JSON Pointer into the body)
    403  the caller may not write this item
    404  no such item
    409  "version" is not the stored version ("currentEtag", "currentVersion")
    412  "ifMatch" is false ("currentEtag")
    424  atomic batch only: this item would have applied, but another item failed
    428  the item carries no precondition and the policy requires one

The batch's own status: ``200`` when every item applied, and for every non-atomic batch that
was processed (each item's ``status`` tells what happened to it); an atomic batch that applied
nothing answers with the first of 400, 403, 428, 412, 409 that any item has (404 counts as
409: the batch conflicts with the collection's current state), as an RFC 9457 problem whose
``items`` member holds the per-item results. A body that is not a batch at all (not JSON, no
``items`` list, too many items, a key given twice) is a plain 400 problem naming the member.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .problems import problem

__all__ = [
    "ATOMIC_FAILURE_ORDER",
    "BULK_MEDIA_TYPE",
    "DEFAULT_MAX_ITEMS",
    "BulkBodyError",
    "BulkItem",
    "BulkRequest",
    "ItemResult",
    "batch_answer",
    "batch_schema",
    "duplicate_key",
    "invalid_item",
    "parse_bulk",
    "results_schema",
]

#: The media type of a bulk request and of a processed batch's answer.
BULK_MEDIA_TYPE: Final = "application/json"
#: Most items one batch may carry unless configured otherwise (Salesforce's sObject
#: Collections allow 200, Google's batch methods leave it to the API; 100 keeps one
#: transaction short).
DEFAULT_MAX_ITEMS: Final = 100
#: An atomic batch that applied nothing answers with the first of these that any item has.
ATOMIC_FAILURE_ORDER: Final = (400, 403, 428, 412, 409)

_ITEM_MEMBERS: Final = frozenset({"id", "ifMatch", "version", "data"})
_BODY_MEMBERS: Final = frozenset({"items", "atomic"})


class BulkBodyError(ValueError):
    """The body is not a batch: the whole request is answered 400 and nothing is written.

    Attributes:
        detail: what was wrong, for a person.
        pointer: the JSON Pointer (RFC 6901) of the offending member (``""``: the body).
    """

    def __init__(self, detail: str, pointer: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer

    def problem(self, *, type_base: str | None = None) -> dict[str, Any]:
        """The RFC 9457 problem object for this error (status 400, code ``invalid-batch``)."""
        return problem(
            400, self.detail, code="invalid-batch", type_base=type_base, pointer=self.pointer
        )


@dataclass(frozen=True, slots=True)
class BulkItem:
    """One well-formed item of a batch.

    Attributes:
        index: its position in ``items``.
        id: the item's key as sent (a string or an integer).
        data: the members to write, as sent (the application validates them).
        if_match: the ``ifMatch`` member: an If-Match field value, or ``None``.
        version: the ``version`` member: the stored version the client read, or ``None``.
    """

    index: int
    id: str | int
    data: Mapping[str, Any]
    if_match: str | None = None
    version: int | None = None

    @property
    def pointer(self) -> str:
        """The JSON Pointer of this item in the request body."""
        return f"/items/{self.index}"


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What happened to one item; :meth:`as_json` is its member of the answer's ``items``.

    Attributes:
        index: the item's position in the request.
        id: the item's key as sent (``None`` when the item had no usable ``id``).
        status: the item's own status code (see the module's table).
        etag: the new entity-tag after a write (200).
        current_etag: the current entity-tag (409, 412, 424, 428), for a re-read.
        current_version: the stored version (409).
        problem: an RFC 9457 problem object for an item that did not apply.
    """

    index: int
    id: str | int | None
    status: int
    etag: str | None = None
    current_etag: str | None = None
    current_version: int | None = None
    problem: dict[str, Any] | None = None

    @property
    def applied(self) -> bool:
        """Whether this item was written."""
        return self.status == 200

    def as_json(self) -> dict[str, Any]:
        """The JSON object for this result (``None`` members left out)."""
        body: dict[str, Any] = {"index": self.index, "id": self.id, "status": self.status}
        if self.etag is not None:
            body["etag"] = self.etag
        if self.current_etag is not None:
            body["currentEtag"] = self.current_etag
        if self.current_version is not None:
            body["currentVersion"] = self.current_version
        if self.problem is not None:
            body["problem"] = self.problem
        return body


@dataclass(frozen=True, slots=True)
class BulkRequest:
    """A parsed batch.

    Attributes:
        atomic: all-or-nothing (``True``) or per item.
        items: the well-formed items, in request order.
        invalid: a 400 result for each malformed item (never written).
    """

    atomic: bool
    items: tuple[BulkItem, ...]
    invalid: tuple[ItemResult, ...] = field(default=())

    @property
    def size(self) -> int:
        """How many items the request carried, well-formed or not."""
        return len(self.items) + len(self.invalid)


def parse_bulk(
    body: object,
    *,
    max_items: int = DEFAULT_MAX_ITEMS,
    default_atomic: bool = True,
    allow_non_atomic: bool = True,
) -> BulkRequest:
    """Read a decoded JSON body as a batch.

    A malformed item does not make the body malformed: it becomes a 400 result of its own
    (see :attr:`BulkRequest.invalid`), so a non-atomic batch still applies the other items,
    and an atomic one applies none.

    Args:
        body: the request body, decoded from JSON.
        max_items: most items accepted.
        default_atomic: ``atomic`` when the body does not say.
        allow_non_atomic: whether ``"atomic": false`` is accepted (else 400).

    Returns:
        The parsed batch.

    Raises:
        BulkBodyError: the body is not a batch (not an object, unknown members, ``items``
            missing, empty, not a list or too long, ``atomic`` not a boolean or not allowed).

    >>> parse_bulk({"items": [{"id": 1, "ifMatch": '"v1"', "data": {}}]}).atomic
    True
    """
    if not isinstance(body, Mapping):
        raise BulkBodyError("The body must be a JSON object with an 'items' array.")
    unknown = sorted(str(name) for name in body if name not in _BODY_MEMBERS)
    if unknown:
        raise BulkBodyError(
            f"Unknown member {unknown[0]!r}: a batch has only 'items' and 'atomic'.",
            f"/{_escape(unknown[0])}",
        )
    atomic = body.get("atomic", default_atomic)
    if not isinstance(atomic, bool):
        raise BulkBodyError("'atomic' must be true or false.", "/atomic")
    if not atomic and not allow_non_atomic:
        raise BulkBodyError("This collection applies batches only atomically.", "/atomic")
    items = body.get("items")
    if not isinstance(items, list):
        raise BulkBodyError("'items' must be an array of items.", "/items")
    if not items:
        raise BulkBodyError("'items' is empty: a batch needs at least one item.", "/items")
    if len(items) > max_items:
        raise BulkBodyError(
            f"'items' has {len(items)} items; at most {max_items} are accepted in one batch.",
            "/items",
        )
    parsed: list[BulkItem] = []
    invalid: list[ItemResult] = []
    for index, item in enumerate(items):
        result = _parse_item(index, item)
        (parsed if isinstance(result, BulkItem) else invalid).append(result)  # type: ignore[arg-type]
    return BulkRequest(atomic, tuple(parsed), tuple(invalid))


def _parse_item(index: int, item: object) -> BulkItem | ItemResult:
    at = f"/items/{index}"
    if not isinstance(item, Mapping):
        return invalid_item(index, None, "Each item must be a JSON object.", at)
    key = item.get("id")
    key_ok = isinstance(key, str | int) and not isinstance(key, bool)
    shown = key if key_ok else None
    unknown = sorted(str(name) for name in item if name not in _ITEM_MEMBERS)
    if unknown:
        return invalid_item(
            index,
            shown,
            f"Unknown member {unknown[0]!r}: an item has 'id', 'ifMatch' or 'version', and 'data'.",
            f"{at}/{_escape(unknown[0])}",
        )
    if not key_ok:
        what = "missing" if "id" not in item else "not a string or an integer"
        return invalid_item(index, None, f"The item's 'id' is {what}.", f"{at}/id")
    if_match = item.get("ifMatch")
    if "ifMatch" in item and not isinstance(if_match, str):
        return invalid_item(
            index, shown, "'ifMatch' must be a string: an If-Match field value.", f"{at}/ifMatch"
        )
    version = item.get("version")
    if "version" in item and (type(version) is not int or version < 0):
        return invalid_item(
            index, shown, "'version' must be a non-negative integer.", f"{at}/version"
        )
    if if_match is not None and version is not None:
        return invalid_item(index, shown, "Give 'ifMatch' or 'version', not both.", f"{at}/version")
    data = item.get("data")
    if not isinstance(data, Mapping):
        what = "missing" if "data" not in item else "not an object"
        return invalid_item(index, shown, f"The item's 'data' is {what}.", f"{at}/data")
    return BulkItem(index, shown, data, if_match, version)  # type: ignore[arg-type]


def _escape(name: str) -> str:
    """A member name as a JSON Pointer reference token (RFC 6901 §3)."""
    return name.replace("~", "~0").replace("/", "~1")


def invalid_item(
    index: int, id: str | int | None, detail: str, pointer: str, *, code: str = "invalid-item"
) -> ItemResult:
    """A 400 result for a malformed item, naming the offending member.

    Args:
        index: the item's position.
        id: its key as sent, if usable.
        detail: what was wrong.
        pointer: the JSON Pointer of the offending member.
        code: the problem's ``code``.
    """
    return ItemResult(index, id, 400, problem=problem(400, detail, code=code, pointer=pointer))


def duplicate_key(keys: Iterable[tuple[int, Hashable]]) -> BulkBodyError | None:
    """The error for a batch naming one item twice, or ``None``.

    Two writes to one item in one batch have no meaningful order: the second's precondition
    would be checked against the first's result. So they are refused as a whole.

    Args:
        keys: ``(index, key)`` for each item, the keys as the application reads them (so
            ``"7"`` and ``7`` collide when the application's key function makes both ``7``).
    """
    seen: dict[Hashable, int] = {}
    for index, key in keys:
        first = seen.setdefault(key, index)
        if first != index:
            return BulkBodyError(
                f"Items {first} and {index} name the same item; each may appear once per batch.",
                f"/items/{index}/id",
            )
    return None


def batch_answer(
    results: Sequence[ItemResult], *, atomic: bool, type_base: str | None = None
) -> tuple[int, dict[str, Any]]:
    """The batch's status and JSON body for its per-item results (in request order).

    Args:
        results: one result per item.
        atomic: whether the batch was all-or-nothing.
        type_base: a URI prefix for the problem ``type`` of an atomic failure.

    Returns:
        ``(status, body)``: ``200`` and ``{"atomic", "applied", "items"}`` when the batch was
        processed (every item applied, or any non-atomic batch); for an atomic batch that
        applied nothing, the status chosen by :data:`ATOMIC_FAILURE_ORDER` and an RFC 9457
        problem carrying the same members.
    """
    ordered = sorted(results, key=lambda result: result.index)
    items = [result.as_json() for result in ordered]
    applied = sum(1 for result in ordered if result.applied)
    if not atomic or applied == len(ordered):
        return 200, {"atomic": atomic, "applied": applied, "items": items}
    statuses = {result.status for result in ordered}
    status = next((code for code in ATOMIC_FAILURE_ORDER if code in statuses), 409)
    failed = [result for result in ordered if result.status not in (200, 424)]
    first = failed[0] if failed else ordered[0]
    detail = (
        f"Nothing was applied: item {first.index} failed with {first.status}"
        + (f" and {len(failed) - 1} more" if len(failed) > 1 else "")
        + "; see 'items'."
    )
    body = problem(
        status,
        detail,
        code="batch-not-applied",
        type_base=type_base,
        atomic=True,
        applied=0,
        items=items,
    )
    return status, body


def batch_schema(max_items: int = DEFAULT_MAX_ITEMS) -> dict[str, Any]:
    """The JSON Schema of a batch request (for OpenAPI documents).

    :func:`parse_bulk` is the authority: it also names the member of each item that is wrong.

    Args:
        max_items: most items accepted.
    """
    item = {
        "type": "object",
        "required": ["id", "data"],
        "additionalProperties": False,
        "properties": {
            "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "ifMatch": {
                "type": "string",
                "description": "An If-Match field value: an entity-tag, a list of them, or *.",
            },
            "version": {"type": "integer", "minimum": 0},
            "data": {"type": "object"},
        },
        "not": {"required": ["ifMatch", "version"]},
    }
    return {
        "type": "object",
        "required": ["items"],
        "additionalProperties": False,
        "properties": {
            "atomic": {"type": "boolean", "default": True},
            "items": {"type": "array", "minItems": 1, "maxItems": max_items, "items": item},
        },
    }


def results_schema() -> dict[str, Any]:
    """The JSON Schema of a processed batch's answer (``200``), for OpenAPI documents."""
    result = {
        "type": "object",
        "required": ["index", "id", "status"],
        "properties": {
            "index": {"type": "integer"},
            "id": {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
            "status": {"type": "integer", "enum": [200, 400, 403, 404, 409, 412, 424, 428]},
            "etag": {"type": "string"},
            "currentEtag": {"type": "string"},
            "currentVersion": {"type": "integer"},
            "problem": {"type": "object"},
        },
    }
    return {
        "type": "object",
        "required": ["atomic", "applied", "items"],
        "properties": {
            "atomic": {"type": "boolean"},
            "applied": {"type": "integer"},
            "items": {"type": "array", "items": result},
        },
    }
