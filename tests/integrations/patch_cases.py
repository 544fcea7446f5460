"""The table every integration's PATCH support is checked against: one row per answer RFC 5789
§2.2 (and RFC 9110 / RFC 6585) gives a PATCH with a patch document.

Each row starts from the document ``{"title": "draft", "tokens": {"a": true}}`` at version 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
ACCEPT_PATCH = f"{MERGE}, {JSON_PATCH}"
START = {"title": "draft", "tokens": {"a": True}}


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names in lower case
    body: Any


#: send(method, path, headers, body) -> Reply
Send = Callable[[str, str, dict[str, str], bytes | None], Reply]


@dataclass(frozen=True)
class PatchCase:
    name: str
    content_type: str
    body: Any  # JSON-encoded unless bytes
    status: int
    code: str | None = None  # the problem's code
    if_match: str | None = '"v1"'
    path: str = "/documents/"
    result: dict[str, Any] | None = None  # the document after a 200
    members: dict[str, Any] = field(default_factory=dict)  # more problem members expected

    def __str__(self) -> str:
        return self.name


CASES = [
    # 415: a media type the resource does not take for PATCH, with Accept-Patch.
    PatchCase("415-plain-json", "application/json", {"title": "x"}, 415, "unsupported-patch-type"),
    PatchCase("415-text", "text/plain", b"title=x", 415, "unsupported-patch-type"),
    # 400: a malformed patch document.
    PatchCase("400-merge-not-json", MERGE, b"{title: 1", 400, "malformed-patch"),
    PatchCase("400-merge-nan", MERGE, b'{"title": NaN}', 400, "malformed-patch"),
    PatchCase("400-merge-not-utf8", MERGE, b'{"title": "\xff"}', 400, "malformed-patch"),
    PatchCase(
        "400-merge-too-deep",
        MERGE,
        ('{"title":' * 500 + "1" + "}" * 500).encode(),
        400,
        "malformed-patch",
    ),
    PatchCase(
        "400-json-patch-object",
        JSON_PATCH,
        {"op": "add", "path": "/title", "value": "x"},
        400,
        "malformed-patch",
        members={"pointer": ""},
    ),
    PatchCase(
        "400-json-patch-unknown-op",
        JSON_PATCH,
        [{"op": "append", "path": "/title", "value": "x"}],
        400,
        "malformed-patch",
        members={"pointer": "/0/op"},
    ),
    PatchCase(
        "400-json-patch-no-value",
        JSON_PATCH,
        [{"op": "replace", "path": "/title"}],
        400,
        "malformed-patch",
    ),
    PatchCase(
        "400-json-patch-bad-pointer",
        JSON_PATCH,
        [{"op": "replace", "path": "title", "value": "x"}],
        400,
        "malformed-patch",
        members={"pointer": "/0/path"},
    ),
    # 422: no state could take the patch.
    PatchCase("422-merge-array", MERGE, [1, 2], 422, "unprocessable-patch"),
    PatchCase("422-merge-bad-title", MERGE, {"title": 5}, 422, "unprocessable-patch"),
    PatchCase("422-merge-unknown-member", MERGE, {"owner": "ada"}, 422, "unprocessable-patch"),
    PatchCase(
        "422-json-patch-root-string",
        JSON_PATCH,
        [{"op": "replace", "path": "", "value": "x"}],
        422,
        "unprocessable-patch",
    ),
    # 409: the current state cannot take the patch.
    PatchCase(
        "409-json-patch-test-failed",
        JSON_PATCH,
        [{"op": "test", "path": "/title", "value": "final"}, {"op": "remove", "path": "/tokens"}],
        409,
        "patch-conflict",
    ),
    PatchCase(
        "409-json-patch-missing-path",
        JSON_PATCH,
        [{"op": "remove", "path": "/tokens/zz"}],
        409,
        "patch-conflict",
    ),
    # 412 / 428 / 400: the request's preconditions, answered before its body is looked at.
    PatchCase("412-stale", MERGE, {"title": "x"}, 412, "etag-mismatch", if_match='"v0"'),
    PatchCase("412-before-415", "text/plain", b"x", 412, "etag-mismatch", if_match='"v9"'),
    PatchCase(
        "428-no-if-match", MERGE, {"title": "x"}, 428, "precondition-required", if_match=None
    ),
    PatchCase("400-bad-if-match", MERGE, {"title": "x"}, 400, "invalid-header", if_match='"v1'),
    # 200: applied and written.
    PatchCase(
        "200-merge",
        MERGE,
        {"title": "final", "tokens": {"a": None, "b": True}},
        200,
        result={"title": "final", "tokens": {"b": True}},
    ),
    PatchCase(
        "200-merge-charset",
        MERGE + "; charset=utf-8",
        {"title": "ü"},
        200,
        result={"title": "ü", "tokens": {"a": True}},
    ),
    PatchCase(
        "200-json-patch",
        JSON_PATCH,
        [
            {"op": "test", "path": "/title", "value": "draft"},
            {"op": "add", "path": "/tokens/b", "value": True},
            {"op": "replace", "path": "/title", "value": "final"},
        ],
        200,
        result={"title": "final", "tokens": {"a": True, "b": True}},
    ),
    PatchCase(
        "200-star",
        MERGE,
        {"tokens": {"c": True}},
        200,
        if_match="*",
        result={"title": "draft", "tokens": {"a": True, "c": True}},
    ),
    PatchCase(
        "200-open-unconditional",
        MERGE,
        {"tokens": {"c": True}},
        200,
        if_match=None,
        path="/open/",
        result={"title": "draft", "tokens": {"a": True, "c": True}},
    ),
]


def encoded(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def create(send: Send, path: str) -> None:
    """Make the case's starting document at version 1."""
    made = send(
        "PUT", path, {"If-None-Match": "*", "Content-Type": "application/json"}, encoded(START)
    )
    assert made.status == 201, made


def run_case(send: Send, case: PatchCase, key: str) -> None:
    """Send the case's PATCH to a fresh document and check the answer and what is stored."""
    path = case.path + key
    create(send, path)
    headers = {"Content-Type": case.content_type}
    if case.if_match is not None:
        headers["If-Match"] = case.if_match
    reply = send("PATCH", path, headers, encoded(case.body))
    assert reply.status == case.status, reply
    after = send("GET", path, {}, None)
    if case.status == 200:
        assert reply.body == case.result
        assert reply.headers["etag"] == '"v2"'
        assert after.body == case.result and after.headers["etag"] == '"v2"'
        return
    assert reply.headers["content-type"] == "application/problem+json", reply
    assert reply.body["status"] == case.status and reply.body["code"] == case.code, reply
    assert reply.body["detail"]
    for name, value in case.members.items():
        assert reply.body[name] == value, reply.body
    if case.status == 415:
        assert reply.headers["accept-patch"] == ACCEPT_PATCH
        assert reply.body["accept_patch"] == [MERGE, JSON_PATCH]
    # Nothing was written.
    assert after.body == START and after.headers["etag"] == '"v1"'


def check_accept_patch(send: Send, key: str) -> None:
    """GET and OPTIONS name the patch formats (RFC 5789 §3.1)."""
    path = "/documents/" + key
    create(send, path)
    read = send("GET", path, {}, None)
    assert read.status == 200 and read.headers["accept-patch"] == ACCEPT_PATCH
    options = send("OPTIONS", path, {}, None)
    assert options.status in {200, 204}, options
    assert options.headers["accept-patch"] == ACCEPT_PATCH
    assert "PATCH" in options.headers["allow"]


def check_idempotent_retry(send: Send, key: str) -> None:
    """A PATCH retried with its Idempotency-Key gets its first answer, not a second
    application (which this JSON Patch's ``test`` would refuse with 409)."""
    path = "/documents/" + key
    create(send, path)
    ops = [
        {"op": "test", "path": "/title", "value": "draft"},
        {"op": "replace", "path": "/title", "value": "final"},
    ]
    headers = {"If-Match": '"v1"', "Content-Type": JSON_PATCH, "Idempotency-Key": '"patch-1"'}
    first = send("PATCH", path, headers, encoded(ops))
    assert first.status == 200 and first.headers["etag"] == '"v2"', first
    again = send("PATCH", path, headers, encoded(ops))
    assert again.status == 200, again
    assert again.headers["idempotent-replayed"] == "true" and again.headers["etag"] == '"v2"'
    after = send("GET", path, {}, None)
    assert after.body == {"title": "final", "tokens": {"a": True}}
    assert after.headers["etag"] == '"v2"'
