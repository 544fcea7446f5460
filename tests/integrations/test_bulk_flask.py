"""Bulk conditional writes through Flask: the status table, the config, the hooks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from ifmatch.integrations.flask import IfMatch
from ifmatch.integrations.flask_bulk import BulkUpdate, ItemInvalid, bulk_response, bulk_view
from ifmatch.stores import Expectation
from ifmatch.stores.memory import MemoryStore
from integrations.bulk_cases import (
    CASES,
    MAX_ITEMS,
    WRITABLE,
    BulkCase,
    authorize,
    batch,
    check,
    item,
    seed,
)


def make_app(store: MemoryStore, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    IfMatch(app, store=store)
    endpoint = BulkUpdate(store, fields=WRITABLE, authorize=authorize, max_items=MAX_ITEMS)
    app.add_url_rule("/documents:batchUpdate", "bulk", bulk_view(endpoint), methods=["POST"])
    return app


def _get(store: MemoryStore) -> Any:
    def get(key: Any) -> tuple[int, str] | None:
        found = store.get(key)
        return None if found is None else (found[0].version, found[1]["text"])

    return get


@pytest.mark.parametrize("case", CASES, ids=str)
def test_status_table(case: BulkCase) -> None:
    store = MemoryStore()
    seed(store)
    response = (
        make_app(store)
        .test_client()
        .post(
            "/documents:batchUpdate",
            data=case.encoded(),
            headers={"Content-Type": case.content_type, **case.headers},
        )
    )
    check(case, response.status_code, response.headers, response.get_data(), _get(store))


def test_policy_not_requiring_patch_lets_items_go_without_a_precondition() -> None:
    store = MemoryStore()
    seed(store)
    app = make_app(store, IFMATCH_REQUIRE_PRECONDITION=("PUT", "DELETE"))
    response = app.test_client().post(
        "/documents:batchUpdate", json=batch(item("a", None), item("zz", None))
    )
    assert response.status_code == 409  # atomic: the missing item fails the batch
    assert [r["status"] for r in response.json["items"]] == [424, 404]  # type: ignore[index]
    response = app.test_client().post("/documents:batchUpdate", json=batch(item("a", None)))
    assert response.status_code == 200 and store.get("a") == (store.read("a"), {"text": "new a"})


def test_weak_echo_policy_applies_to_items() -> None:
    store = MemoryStore()
    seed(store)
    app = make_app(store, IFMATCH_ACCEPT_WEAK_ECHO=True)
    response = app.test_client().post("/documents:batchUpdate", json=batch(item("a", 'W/"v1"')))
    assert response.status_code == 200, response.json


def test_jsonapi_error_format_for_an_atomic_failure() -> None:
    store = MemoryStore()
    seed(store)
    app = make_app(store, IFMATCH_ERROR_FORMAT="jsonapi")
    response = app.test_client().post(
        "/documents:batchUpdate", json=batch(item("a"), item("b", '"v5"'))
    )
    assert response.status_code == 412
    assert response.headers["Content-Type"] == "application/vnd.api+json"
    (error,) = response.json["errors"]  # type: ignore[index]
    assert error["code"] == "batch-not-applied"
    assert [r["status"] for r in error["meta"]["items"]] == [424, 412]


def test_prepare_hook_validates_and_converts_each_item() -> None:
    store = MemoryStore()
    seed(store)

    def prepare(key: Any, data: Any) -> dict[str, Any]:
        text = data.get("text")
        if not isinstance(text, str):
            raise ItemInvalid("'text' must be a string.", "text")
        return {"text": text.upper()}

    app = Flask(__name__)
    endpoint = BulkUpdate(store, prepare=prepare)

    @app.post("/documents:batchUpdate")
    def documents() -> Any:
        return bulk_response(endpoint)

    body = batch(item("a"), {"id": "b", "ifMatch": '"v1"', "data": {"text": 3}}, atomic=False)
    response = app.test_client().post("/documents:batchUpdate", json=body)
    assert response.status_code == 200
    first, second = response.json["items"]  # type: ignore[index]
    assert first["status"] == 200 and store.get("a")[1] == {"text": "NEW A"}  # type: ignore[index]
    assert second["status"] == 400 and second["problem"]["pointer"] == "/items/1/data/text"


def test_int_keys_and_a_key_function() -> None:
    store = MemoryStore()
    for key in (1, 2):
        store.compare_and_set(key, Expectation(exists=False), {"text": ""})
    app = Flask(__name__)
    endpoint = BulkUpdate(store, fields={"text"}, key=int)
    app.add_url_rule("/n", "bulk", bulk_view(endpoint), methods=["POST"])
    client = app.test_client()
    # "1" and 1 are the same item once the key function has read them.
    duplicate = client.post("/n", json=batch(item(1), item("1")))
    assert duplicate.status_code == 400 and duplicate.json["pointer"] == "/items/1/id"  # type: ignore[index]
    response = client.post("/n", json=batch(item("2"), item("x"), atomic=False))
    assert [r["status"] for r in response.json["items"]] == [200, 404]  # type: ignore[index]


def test_the_endpoint_needs_fields_or_prepare_and_a_bulk_store() -> None:
    with pytest.raises(TypeError, match="fields="):
        BulkUpdate(MemoryStore())
    with pytest.raises(TypeError, match="compare_and_set_many"):
        BulkUpdate(object(), fields={"text"})
    with pytest.raises(ValueError, match="max_items"):
        BulkUpdate(MemoryStore(), fields={"text"}, max_items=0)


def test_a_large_batch_answers_in_order() -> None:
    store = MemoryStore()
    keys = [f"k{n}" for n in range(50)]
    for key in keys:
        store.compare_and_set(key, Expectation(exists=False), {"text": ""})
    app = Flask(__name__)
    app.add_url_rule(
        "/d", "bulk", bulk_view(BulkUpdate(store, fields={"text"}, max_items=50)), methods=["POST"]
    )
    stale = {7, 21}
    body = batch(
        *[item(k, '"v9"' if n in stale else '"v1"') for n, k in enumerate(keys)], atomic=False
    )
    response = app.test_client().post("/d", data=json.dumps(body), content_type="application/json")
    statuses = [r["status"] for r in response.json["items"]]  # type: ignore[index]
    assert statuses == [412 if n in stale else 200 for n in range(50)]


def test_warn_only_logs_and_lets_unconditional_items_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    seed(store)
    app = make_app(store, IFMATCH_WARN_ONLY=True)
    with caplog.at_level("WARNING", logger="ifmatch.bulk"):
        response = app.test_client().post(
            "/documents:batchUpdate", json=batch(item("a", None), item("b", '"v7"'), atomic=False)
        )
    assert [r["status"] for r in response.json["items"]] == [200, 412]  # type: ignore[index]
    assert "bulk item 0: precondition-required (warn-only mode)" in caplog.text


def test_a_store_failure_mid_batch_is_not_reported_as_success() -> None:
    class Failing(MemoryStore):
        def compare_and_set_many(self, items: Any, *, all_or_nothing: bool = False) -> Any:
            from ifmatch.stores.errors import StoreUnavailable

            raise StoreUnavailable("connection lost")

    store = Failing()
    seed(store)
    response = make_app(store).test_client().post("/documents:batchUpdate", json=batch(item("a")))
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert store.get("a") is not None and store.get("a")[1] == {"text": "old"}  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "status", "items"),
    [
        (b'{"items": ' + b"[" * 100_000, 400, None),
        (json.dumps(batch(item("a", ", ".join(['"v1"'] * 1000)))).encode(), 400, [400]),
        (json.dumps(batch(item("a", '"v1"' + " " * 10_000), atomic=False)).encode(), 200, [400]),
        (json.dumps(batch(item("a" * 100_000), atomic=False)).encode(), 200, [404]),
        (json.dumps(batch(item(2**200), atomic=False)).encode(), 200, [404]),
        (json.dumps(batch(item("a", "\u00e9"), atomic=False)).encode(), 200, [400]),
    ],
    ids=["deep-nesting", "too-many-tags", "too-long-if-match", "long-id", "huge-id", "non-ascii"],
)
def test_hostile_bodies_are_refused_without_writing(
    body: bytes, status: int, items: list[int] | None
) -> None:
    store = MemoryStore()
    seed(store)
    response = (
        make_app(store)
        .test_client()
        .post("/documents:batchUpdate", data=body, content_type="application/json")
    )
    assert response.status_code == status
    found = response.json
    assert found is not None
    if items is None:
        assert found["code"] == "invalid-batch"
    else:
        assert [r["status"] for r in found["items"]] == items
    assert store.get("a") is not None and store.get("a")[1] == {"text": "old"}  # type: ignore[index]
