"""ifmatch.integrations.flask_patch through Flask's test client: the PATCH table (415, 400,
422, 409, 412, 428, 200), Accept-Patch, and the version a patch is applied to."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from flask import Flask

from ifmatch.stores import Expectation
from ifmatch.stores.memory import MemoryStore
from integrations.patch_apps import create_flask_app
from integrations.patch_cases import (
    CASES,
    MERGE,
    PatchCase,
    Reply,
    Send,
    check_accept_patch,
    check_idempotent_retry,
    run_case,
)

_keys = itertools.count()


def flask_send(app: Flask) -> Send:
    client = app.test_client()

    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> Reply:
        response = client.open(path, method=method, headers=headers, data=body)
        fields = {name.lower(): value for name, value in response.headers.items()}
        return Reply(response.status_code, fields, response.get_json(silent=True))

    return send


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_patch_table(store: MemoryStore, case: PatchCase) -> None:
    run_case(flask_send(create_flask_app(store)), case, f"doc{next(_keys)}")


def test_accept_patch_on_get_and_options(store: MemoryStore) -> None:
    check_accept_patch(flask_send(create_flask_app(store)), "doc")


class RacingStore(MemoryStore):
    """Another writer wins between the request's precondition check and the patch's read."""

    def __init__(self, writes: int) -> None:
        super().__init__()
        self.writes = writes

    def get(self, key: Any) -> Any:
        if self.writes:
            self.writes -= 1
            current = super().get(key)
            assert current is not None
            values = {**current[1], "tokens": {**current[1]["tokens"], f"other{self.writes}": True}}
            assert self.compare_and_set(key, Expectation(exists=True), values).won
        return super().get(key)


def test_if_match_patch_is_applied_to_that_version_only() -> None:
    # If-Match: "v1" passes the check, but v2 is what the patch would now be applied to: 412,
    # and the other writer's change stays.
    store = RacingStore(writes=0)
    send = flask_send(create_flask_app(store))
    send(
        "PUT",
        "/documents/d",
        {"If-None-Match": "*", "Content-Type": "application/json"},
        b'{"title": "draft", "tokens": {}}',
    )
    store.writes = 1
    reply = send(
        "PATCH", "/documents/d", {"If-Match": '"v1"', "Content-Type": MERGE}, b'{"title": "mine"}'
    )
    assert reply.status == 412 and reply.body["code"] == "etag-mismatch", reply
    assert reply.headers["etag"] == '"v2"'
    after = send("GET", "/documents/d", {}, None)
    assert after.body == {"title": "draft", "tokens": {"other0": True}}


def test_unconditional_patch_is_reapplied_to_the_newer_version() -> None:
    # No If-Match where the policy allows it: the patch read v1, lost to v2, and is applied
    # again to v2, so neither change is lost.
    store = RacingStore(writes=0)
    send = flask_send(create_flask_app(store))
    send(
        "PUT",
        "/open/d",
        {"If-None-Match": "*", "Content-Type": "application/json"},
        b'{"title": "draft", "tokens": {}}',
    )

    real_cas = store.compare_and_set
    raced = []

    def cas(key: Any, expect: Expectation, values: Any, **kwargs: Any) -> Any:
        if not raced:  # another writer commits just before the patch's write
            raced.append(True)
            current = store.get(key)
            assert current is not None
            other = {**current[1], "tokens": {"theirs": True}}
            assert real_cas(key, Expectation(exists=True), other).won
        return real_cas(key, expect, values, **kwargs)

    store.compare_and_set = cas  # type: ignore[method-assign]
    reply = send("PATCH", "/open/d", {"Content-Type": MERGE}, b'{"tokens": {"mine": true}}')
    assert reply.status == 200, reply
    assert reply.body == {"title": "draft", "tokens": {"theirs": True, "mine": True}}
    assert reply.headers["etag"] == '"v3"'


def test_unconditional_patch_that_keeps_losing_is_409() -> None:
    store = MemoryStore()
    send = flask_send(create_flask_app(store))
    send(
        "PUT",
        "/open/d",
        {"If-None-Match": "*", "Content-Type": "application/json"},
        b'{"title": "draft", "tokens": {}}',
    )
    real_cas = store.compare_and_set

    def cas(key: Any, expect: Expectation, values: Any, **kwargs: Any) -> Any:
        current = store.get(key)
        assert current is not None
        bumped = {**current[1], "title": current[1]["title"] + "!"}
        assert real_cas(key, Expectation(exists=True), bumped).won
        return real_cas(key, expect, values, **kwargs)

    store.compare_and_set = cas  # type: ignore[method-assign]
    reply = send("PATCH", "/open/d", {"Content-Type": MERGE}, b'{"tokens": {"mine": true}}')
    assert reply.status == 409 and reply.body["code"] == "write-conflict", reply
    assert "mine" not in store.get("d")[1]["tokens"]  # type: ignore[index]


def test_idempotent_retry_is_replayed(store: MemoryStore) -> None:
    check_idempotent_retry(flask_send(create_flask_app(store, idempotency=True)), "doc")
