"""The bulk-write status table every integration runs (see ``docs/bulk.md``).

Each case seeds items ``a``, ``b`` and ``c`` at version 1 (``locked`` too, which the apps'
``authorize`` hook refuses), sends one batch ``POST`` and states the batch's
status and each item's. :func:`check` then also verifies the store: an item whose result is
200 is at version 2 with the text it was sent, every other item is untouched.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ifmatch.stores import Expectation

SEEDED = ("a", "b", "c", "locked")
WRITABLE = frozenset({"text"})


@dataclass(frozen=True)
class BulkCase:
    name: str
    body: Any  # a JSON value, or bytes sent as they are
    status: int
    items: tuple[int, ...] | None = None  # each item's status; None: a plain problem, no items
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    code: str | None = None  # the problem's code, when the answer is a problem

    def __str__(self) -> str:
        return self.name

    def encoded(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


def item(
    key: Any, tag: str | None = '"v1"', *, text: str | None = None, **more: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": key, "data": {"text": text or f"new {key}"}}
    if tag is not None:
        body["ifMatch"] = tag
    body.update(more)
    return body


def batch(*items: dict[str, Any], atomic: bool | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"items": list(items)}
    if atomic is not None:
        body["atomic"] = atomic
    return body


def _both(
    name: str, items: list[dict[str, Any]], atomic_status: int, statuses: tuple[int, ...]
) -> list[BulkCase]:
    """The same items atomically (nothing applied, the good items 424) and per item."""
    aborted = tuple(424 if status == 200 else status for status in statuses)
    return [
        BulkCase(f"{name}-atomic", batch(*items), atomic_status, aborted, code="batch-not-applied"),
        BulkCase(f"{name}-per-item", batch(*items, atomic=False), 200, statuses),
    ]


CASES: list[BulkCase] = [
    BulkCase("all-applied", batch(item("a"), item("b")), 200, (200, 200)),
    BulkCase("all-applied-per-item", batch(item("a"), item("b"), atomic=False), 200, (200, 200)),
    BulkCase("star", batch(item("a", "*")), 200, (200,)),
    BulkCase("tag-list", batch(item("a", '"v7", "v1"')), 200, (200,)),
    BulkCase("bare-token", batch(item("a", "v1")), 200, (200,)),
    *_both("stale-tag", [item("a"), item("b", '"v9"')], 412, (200, 412)),
    *_both("weak-tag", [item("a"), item("b", 'W/"v1"')], 412, (200, 412)),
    *_both("stale-version", [item("a"), item("b", None, version=5)], 409, (200, 409)),
    BulkCase("version-applied", batch(item("a", None, version=1)), 200, (200,)),
    *_both("missing", [item("a"), item("zz")], 409, (200, 404)),
    *_both("no-precondition", [item("a"), item("b", None)], 428, (200, 428)),
    *_both("malformed-tag", [item("a"), item("b", '"v1')], 400, (200, 400)),
    *_both(
        "data-not-object", [item("a"), {"id": "b", "ifMatch": '"v1"', "data": []}], 400, (200, 400)
    ),
    *_both(
        "unknown-data-member",
        [item("a"), {"id": "b", "ifMatch": '"v1"', "data": {"version": 9}}],
        400,
        (200, 400),
    ),
    *_both("no-id", [item("a"), {"ifMatch": '"v1"', "data": {"text": "x"}}], 400, (200, 400)),
    *_both("both-tag-and-version", [item("a"), item("b", '"v1"', version=1)], 400, (200, 400)),
    *_both("unknown-item-member", [item("a"), item("b", if_match='"v1"')], 400, (200, 400)),
    *_both("forbidden", [item("a"), item("locked")], 403, (200, 403)),
    *_both(
        "mixed",
        [item("a"), item("b", '"v2"'), item("c", None), item("zz")],
        428,
        (200, 412, 428, 404),
    ),
    BulkCase("duplicate-key", batch(item("a"), item("b"), item("a")), 400, code="invalid-batch"),
    BulkCase("too-many", batch(*[item(f"k{n}") for n in range(6)]), 400, code="invalid-batch"),
    BulkCase("empty", batch(), 400, code="invalid-batch"),
    BulkCase("not-an-object", [item("a")], 400, code="invalid-batch"),
    BulkCase("items-not-list", {"items": {"a": 1}}, 400, code="invalid-batch"),
    BulkCase("atomic-not-bool", {"items": [item("a")], "atomic": "yes"}, 400, code="invalid-batch"),
    BulkCase("unknown-member", {"items": [item("a")], "force": True}, 400, code="invalid-batch"),
    BulkCase("not-json", b'{"items": [', 400, code="invalid-batch"),
    BulkCase("not-utf8", b'\xff\xfe{"items"', 400, code="invalid-batch"),
    BulkCase(
        "merge-patch-type",
        batch(item("a")),
        415,
        content_type="application/merge-patch+json",
        code="unsupported-media-type",
    ),
    BulkCase(
        "if-match-on-batch",
        batch(item("a")),
        400,
        headers={"If-Match": '"v1"'},
        code="batch-precondition-header",
    ),
]

#: The apps accept at most this many items (so "too-many" sends one more).
MAX_ITEMS = 5


def seed(store: Any) -> None:
    for key in SEEDED:
        store.compare_and_set(key, Expectation(exists=False), {"text": "old"})


def authorize(key: Any) -> bool:
    return key != "locked"


def translated(case: BulkCase, ids: Mapping[str, Any], *, denied: int = 403) -> BulkCase:
    """``case`` with its item ids replaced (``ids``: name -> the key an app uses) and, for an
    app that refuses items as missing (``denied=404``), the statuses that follows."""
    if isinstance(case.body, bytes) or not isinstance(case.body, dict):
        return case
    body = json.loads(json.dumps(case.body))
    for entry in body.get("items", []) if isinstance(body.get("items"), list) else []:
        if isinstance(entry, dict) and entry.get("id") in ids:
            entry["id"] = ids[entry["id"]]
    items = case.items
    status = case.status
    if denied == 404 and items is not None and 403 in items:
        items = tuple(404 if s == 403 else s for s in items)
        status = 409 if status == 403 else status
    return replace(case, body=body, items=items, status=status)


def check(
    case: BulkCase,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    get: Any,
    seeded: Collection[Any] = SEEDED,
) -> None:
    """Assert the answer and the store's state; ``get(key)`` returns ``(version, text)`` or
    ``None``; ``seeded`` are the keys of the seeded items."""
    assert status == case.status, body
    answer = json.loads(body) if body else {}
    if case.status == 415:
        assert headers.get("Accept-Post") == "application/json"
    if case.code is not None:
        assert headers["Content-Type"] == "application/problem+json"
        assert answer["code"] == case.code and answer["status"] == case.status
    if case.items is None:
        assert "items" not in answer
        for key in seeded:
            assert get(key) == (1, "old")
        return
    if status == 200:
        assert headers["Content-Type"] == "application/json"
    sent = json.loads(case.encoded())["items"]
    assert [result["status"] for result in answer["items"]] == list(case.items)
    assert answer["applied"] == sum(1 for s in case.items if s == 200)
    for index, (result, request_item) in enumerate(zip(answer["items"], sent, strict=True)):
        assert result["index"] == index
        if result["status"] == 200:
            assert result["etag"] == '"v2"'
            assert get(request_item["id"]) == (2, request_item["data"]["text"])
            continue
        assert "etag" not in result and result["problem"]["status"] == result["status"]
        key = request_item.get("id") if isinstance(request_item, dict) else None
        if key in seeded:
            assert get(key) == (1, "old")
        if result["status"] in (409, 412, 424, 428):
            assert result["currentEtag"] == '"v1"'
        if result["status"] == 400:
            assert result["problem"]["pointer"].startswith(f"/items/{index}")
