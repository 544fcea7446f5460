"""The body entity-tag convention (AIP-154 ``etag``, Eve's ``_etag``) as one table of cases,
run against every integration (Flask, Starlette, FastAPI, Django, Django REST framework).

Each case starts from a fresh resource at version 1 (``"v1"``, text ``"x"``) and sends one
request; its check may read the resource again through the same app.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ifmatch.integrations.bodyetag import BodyETag


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


#: One request through an app: method, path, headers, body -> answer.
Send = Callable[[str, str, dict[str, str], bytes | None], Answer]

CONFIGS: dict[str, BodyETag] = {
    "aip": BodyETag(),
    "conflict": BodyETag(mismatch_status=409),
    "eve": BodyETag(fields=("etag", "_etag")),
}


@dataclass(frozen=True)
class Case:
    name: str
    config: str
    method: str
    body: Any
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    check: Callable[[Answer, Send, str], None] | None = None

    def __str__(self) -> str:
        return f"{self.config}-{self.name}"

    def payload(self) -> bytes | None:
        if self.body is None:
            return None
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


def _text(send: Send, path: str) -> str:
    answer = send("GET", path, {}, None)
    assert answer.status == 200, answer.body
    text: str = answer.json()["text"]
    return text


def _unchanged(answer: Answer, send: Send, path: str) -> None:
    assert _text(send, path) == "x"


def _bad_field(name: str, *words: str) -> Callable[[Answer, Send, str], None]:
    def check(answer: Answer, send: Send, path: str) -> None:
        problem = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert problem["status"] == 400 and problem["field"] == name, problem
        for word in words:
            assert word in problem["detail"], problem
        _unchanged(answer, send, path)

    return check


def _represented(answer: Answer, send: Send, path: str) -> None:
    body = answer.json()
    assert answer.headers["etag"] == '"v1"'
    assert body["etag"] == answer.headers["etag"]


def _represented_eve(answer: Answer, send: Send, path: str) -> None:
    body = answer.json()
    assert body["etag"] == '"v1"' and body["_etag"] == "v1" and answer.headers["etag"] == '"v1"'


def _written(answer: Answer, send: Send, path: str) -> None:
    assert answer.headers["etag"] == '"v2"'
    assert answer.json()["etag"] == '"v2"'
    read = send("GET", path, {}, None)
    assert read.json()["text"] == "y" and read.json()["etag"] == read.headers["etag"] == '"v2"'


def _refused(status: int) -> Callable[[Answer, Send, str], None]:
    def check(answer: Answer, send: Send, path: str) -> None:
        problem = answer.json()
        assert problem["status"] == status and problem["field"] == "etag", problem
        assert "header" not in problem  # the request sent no If-Match
        assert problem["current_etag"] == answer.headers["etag"] == '"v1"'
        if status == 409:
            assert problem["title"] == "Conflict"
        _unchanged(answer, send, path)

    return check


def _stale_with_header(answer: Answer, send: Send, path: str) -> None:
    # The client sent If-Match as well: HTTP's answer, 412, whatever mismatch_status says.
    problem = answer.json()
    assert problem["field"] == "etag" and problem["header"] == "If-Match", problem
    assert problem["current_etag"] == answer.headers["etag"] == '"v1"'
    _unchanged(answer, send, path)


def _disagree(answer: Answer, send: Send, path: str) -> None:
    problem = answer.json()
    assert problem["code"] == "body-etag-conflict", problem
    assert problem["header"] == "If-Match" and problem["field"] == "etag"
    _unchanged(answer, send, path)


def _deleted(answer: Answer, send: Send, path: str) -> None:
    assert send("GET", path, {}, None).status == 404


def _required(answer: Answer, send: Send, path: str) -> None:
    problem = answer.json()
    assert "etag" in problem["fields"] and "'etag'" in problem["detail"]
    _unchanged(answer, send, path)


def _both_named(answer: Answer, send: Send, path: str) -> None:
    problem = answer.json()
    assert problem["code"] == "body-etag-conflict" and problem["fields"] == ["etag", "_etag"]
    _unchanged(answer, send, path)


def _cases() -> list[Case]:
    new = {"title": "t", "text": "y"}
    cases = [
        Case("get-carries-the-tag", "aip", "GET", None, 200, check=_represented),
        Case("put-current", "aip", "PUT", {**new, "etag": '"v1"'}, 200, check=_written),
        Case("patch-current", "aip", "PATCH", {"text": "y", "etag": '"v1"'}, 200, check=_written),
        Case("put-stale", "aip", "PUT", {**new, "etag": '"v7"'}, 412, check=_refused(412)),
        Case("put-stale", "conflict", "PUT", {**new, "etag": '"v7"'}, 409, check=_refused(409)),
        Case("patch-stale", "conflict", "PATCH", {"text": "y", "etag": '"v0"'}, 409),
        Case(
            "header-and-body-agree",
            "aip",
            "PUT",
            {**new, "etag": '"v1"'},
            200,
            {"If-Match": '"v1"'},
            _written,
        ),
        Case(
            "header-and-body-disagree",
            "aip",
            "PUT",
            {**new, "etag": '"v1"'},
            400,
            {"If-Match": '"v2"'},
            _disagree,
        ),
        Case(
            "stale-header-current-body",
            "conflict",
            "PUT",
            {**new, "etag": '"v1"'},
            400,
            {"If-Match": '"v0"'},
            _disagree,
        ),
        Case(
            "header-and-body-both-stale",
            "conflict",
            "PUT",
            {**new, "etag": '"v0"'},
            412,
            {"If-Match": '"v0"'},
            _stale_with_header,
        ),
        Case("number", "aip", "PUT", {**new, "etag": 1}, 400, check=_bad_field("etag", "string")),
        Case("null", "aip", "PUT", {**new, "etag": None}, 400, check=_bad_field("etag", "null")),
        Case("object", "aip", "PUT", {**new, "etag": {"v": 1}}, 400, check=_bad_field("etag")),
        Case("bare", "aip", "PUT", {**new, "etag": "v1"}, 400, check=_bad_field("etag", "quoted")),
        Case(
            "weak", "aip", "PUT", {**new, "etag": 'W/"v1"'}, 400, check=_bad_field("etag", "weak")
        ),
        Case("unclosed", "aip", "PUT", {**new, "etag": '"v1'}, 400, check=_bad_field("etag")),
        Case(
            "two-tags", "aip", "PUT", {**new, "etag": '"v1", "v2"'}, 400, check=_bad_field("etag")
        ),
        Case("star", "aip", "PUT", {**new, "etag": "*"}, 400, check=_bad_field("etag")),
        Case("empty", "aip", "PUT", {**new, "etag": ""}, 400, check=_bad_field("etag")),
        Case("no-tag-anywhere", "aip", "PUT", new, 428, check=_required),
        Case("not-json", "aip", "PUT", b'{"etag": "\\"v1\\"", ', 400, check=_unchanged),
        Case("delete-current", "aip", "DELETE", {"etag": '"v1"'}, 204, check=_deleted),
        Case("delete-stale", "aip", "DELETE", {"etag": '"v3"'}, 412, check=_refused(412)),
        Case("delete-stale", "conflict", "DELETE", {"etag": '"v3"'}, 409, check=_refused(409)),
        Case("delete-bare", "aip", "DELETE", {"etag": "v1"}, 400, check=_bad_field("etag")),
        Case("get-carries-both", "eve", "GET", None, 200, check=_represented_eve),
        Case("eve-bare-current", "eve", "PUT", {**new, "_etag": "v1"}, 200, check=_written),
        Case("eve-quoted", "eve", "PUT", {**new, "_etag": '"v1"'}, 400, check=_bad_field("_etag")),
        Case("eve-weak", "eve", "PUT", {**new, "_etag": "W/v1"}, 400, check=_bad_field("_etag")),
        Case("eve-stale", "eve", "PUT", {**new, "_etag": "v5"}, 412),
        Case("both-agree", "eve", "PUT", {**new, "etag": '"v1"', "_etag": "v1"}, 200),
        Case(
            "both-disagree",
            "eve",
            "PUT",
            {**new, "etag": '"v1"', "_etag": "v2"},
            400,
            check=_both_named,
        ),
        Case(
            "bare-header-agrees",
            "eve",
            "PUT",
            {**new, "_etag": "v1"},
            200,
            {"If-Match": "v1"},
            _written,
        ),
    ]
    return cases


CASES = _cases()


def run(case: Case, send: Send, path: str) -> None:
    """Send ``case`` to the resource at ``path`` (at version 1, text ``"x"``) and check it."""
    headers = dict(case.headers)
    payload = case.payload()
    if payload is not None:
        headers["Content-Type"] = "application/json"
    answer = send(case.method, path, headers, payload)
    assert answer.status == case.status, (answer.status, answer.body[:400])
    if case.check is not None:
        case.check(answer, send, path)
