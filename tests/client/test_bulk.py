"""``Client.bulk_update`` / ``AsyncClient.bulk_update`` end to end: against the Flask bulk
endpoint in process (the store shared with the test, so a competing writer can step in), the
FastAPI one over ASGI, and concurrent clients through gunicorn workers on PostgreSQL."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from flask import Flask, request

import services
from ifmatch.client import (
    AsyncClient,
    Backoff,
    BulkUpdateFailed,
    Client,
    NoValidator,
    OutcomeUnknown,
    UnexpectedStatus,
)
from ifmatch.client.bulk import changed_members, default_item_url
from ifmatch.stores import Expectation
from ifmatch.stores.memory import MemoryStore
from integrations import bulk_apps, example_flask
from integrations.example_models import DATABASE_URL_ENV, create_tables
from services import Database, free_port, running_server, subprocess_env

FAST = Backoff(base=0.001, cap=0.01)


class Server:
    """The Flask example app with its bulk endpoint, in memory; records each batch's ids."""

    def __init__(self, keys: tuple[str, ...] = ("a", "b", "c")) -> None:
        self.store = MemoryStore()
        for key in keys:
            self.store.compare_and_set(key, Expectation(exists=False), {"text": "old"})
        self.app: Flask = example_flask.create_app(self.store, self.store.get)
        bulk = bulk_apps.flask_bulk.BulkUpdate(self.store, fields={"text"})
        self.app.add_url_rule(
            "/documents:batchUpdate", "bulk", bulk_apps.flask_bulk.bulk_view(bulk), methods=["POST"]
        )
        self.batches: list[tuple[bool, list[str]]] = []
        self.app.before_request(self._record)

    def _record(self) -> None:
        if request.method == "POST":
            body = json.loads(request.get_data())
            self.batches.append((body["atomic"], [item["id"] for item in body["items"]]))

    def client(self, transport: httpx.BaseTransport | None = None) -> Client:
        return Client(
            "http://testserver",
            transport=transport or httpx.WSGITransport(app=self.app),
            backoff=FAST,
            rng=random.Random(3),
        )

    def text(self, key: str) -> str:
        found = self.store.get(key)
        assert found is not None
        return str(found[1]["text"])

    def version(self, key: str) -> int:
        found = self.store.read(key)
        assert found is not None
        return found.version

    def compete(self, key: str, times: int = 1) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """A change function that lets another writer change ``key`` first, ``times`` times
        (the first runs), as a concurrent client would between our read and our batch."""
        left = [times]

        def change(data: dict[str, Any]) -> dict[str, Any]:
            if left[0] > 0:
                left[0] -= 1
                current = self.store.get(key)
                assert current is not None
                other = {"text": current[1]["text"] + " theirs"}
                self.store.compare_and_set(key, Expectation(exists=True), other)
            return {**data, "text": data["text"] + " mine"}

        return change


def mine(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "text": data["text"] + " mine"}


URL = "/documents:batchUpdate"


def test_every_item_applies_in_one_batch_and_new_tags_are_remembered() -> None:
    server = Server()
    with server.client() as client:
        outcome = client.bulk_update(URL, {"a": mine, "b": mine, "c": mine})
        assert outcome.batches == 1 and outcome.failed == {}
        assert {key: str(doc.etag) for key, doc in outcome.documents.items()} == {
            "a": '"v2"',
            "b": '"v2"',
            "c": '"v2"',
        }
        assert outcome.documents["a"].url == "http://testserver/documents/a"
        assert outcome.documents["a"].data["text"] == "old mine"
        # The next plain write to an item carries the remembered tag.
        assert client.store.get("http://testserver/documents/b") is not None
        put = client.put("/documents/b", json={"text": "later"})
        assert put.status_code == 200
    assert [server.text(key) for key in "abc"] == ["old mine", "later", "old mine"]
    assert server.batches == [(False, ["a", "b", "c"])]


def test_only_the_item_that_lost_is_reread_reapplied_and_resent() -> None:
    server = Server()
    with server.client() as client:
        outcome = client.bulk_update(URL, {"a": mine, "b": server.compete("b"), "c": mine})
    assert server.batches == [(False, ["a", "b", "c"]), (False, ["b"])]
    assert outcome.batches == 2
    assert outcome.items["b"].attempts == 2 and outcome.items["a"].attempts == 1
    # Their change is kept, ours applied on top of it: nothing lost.
    assert server.text("b") == "old theirs mine" and server.version("b") == 3
    assert server.text("a") == "old mine"


def test_atomic_batches_are_resent_whole_after_a_conflict() -> None:
    server = Server()
    with server.client() as client:
        outcome = client.bulk_update(
            URL, {"a": mine, "b": server.compete("b"), "c": mine}, atomic=True
        )
    assert server.batches == [(True, ["a", "b", "c"]), (True, ["a", "b", "c"])]
    assert [outcome.items[key].status for key in "abc"] == [200, 200, 200]
    assert [server.version(key) for key in "abc"] == [2, 3, 2]
    assert server.text("a") == "old mine"  # applied once, by the second batch


def test_retries_are_bounded_and_the_failure_says_what_applied() -> None:
    server = Server()
    with server.client() as client, pytest.raises(BulkUpdateFailed) as raised:
        client.bulk_update(URL, {"a": mine, "b": server.compete("b", times=99)}, retries=2)
    outcome = raised.value.outcome
    assert outcome.batches == 3 and len(server.batches) == 3
    assert outcome.items["a"].applied and list(outcome.failed) == ["b"]
    failed = outcome.failed["b"]
    assert failed.status == 412 and failed.attempts == 3
    assert failed.problem is not None and failed.problem["code"] == "etag-mismatch"
    assert "1 of 2 items did not apply" in str(raised.value)


def test_a_missing_item_fails_at_once_without_retry() -> None:
    server = Server()
    server.app.add_url_rule(
        "/gone/<doc_id>", "gone", lambda doc_id: ({"text": "x"}, 200, {"ETag": '"v1"'})
    )
    with server.client() as client, pytest.raises(BulkUpdateFailed) as raised:
        client.bulk_update(
            URL,
            {"a": mine, "zz": mine},
            item_url=lambda key: f"/gone/{key}" if key == "zz" else f"/documents/{key}",
        )
    assert len(server.batches) == 1
    assert raised.value.outcome.failed["zz"].status == 404
    assert raised.value.outcome.items["a"].applied


def test_unchanged_items_are_not_sent() -> None:
    server = Server()
    with server.client() as client:
        outcome = client.bulk_update(URL, {"a": mine, "b": lambda data: None})
    assert server.batches == [(False, ["a"])]
    assert outcome.items["b"].status is None and not outcome.failed


def test_a_lost_reply_is_never_resent() -> None:
    server = Server()
    inner = httpx.WSGITransport(app=server.app)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            inner.handle_request(request)  # the batch applies; its reply is lost
            raise httpx.ReadTimeout("reply lost", request=request)
        return inner.handle_request(request)

    with server.client(httpx.MockTransport(handler)) as client, pytest.raises(OutcomeUnknown):
        client.bulk_update(URL, {"a": mine})
    assert len(server.batches) == 1 and server.text("a") == "old mine"


def test_a_batch_refused_whole_is_an_unexpected_status() -> None:
    server = Server()
    with server.client() as client, pytest.raises(UnexpectedStatus) as raised:
        client.bulk_update("/documents/a", {"a": mine}, item_url=lambda key: f"/documents/{key}")
    assert raised.value.status == 405


def test_an_item_without_a_strong_tag_is_not_sent() -> None:
    server = Server()
    server.app.add_url_rule(
        "/weak/<doc_id>", "weak", lambda doc_id: ({"text": "x"}, 200, {"ETag": 'W/"v1"'})
    )
    with server.client() as client, pytest.raises(NoValidator):
        client.bulk_update(URL, {"a": mine}, item_url=lambda key: f"/weak/{key}")
    assert server.batches == []


@pytest.mark.parametrize(
    ("batch", "key", "expected"),
    [
        ("http://h/docs:batchUpdate", 7, "http://h/docs/7"),
        ("http://h/docs:batchUpdate/", 7, "http://h/docs/7/"),
        ("http://h/api/docs/:batchUpdate", "a b", "http://h/api/docs/a%20b"),
        ("http://h/docs:batchUpdate?x=1", "a/b", "http://h/docs/a%2Fb"),
    ],
)
def test_default_item_urls(batch: str, key: Any, expected: str) -> None:
    assert default_item_url(batch)(key) == expected


def test_default_item_url_needs_the_suffix() -> None:
    with pytest.raises(ValueError, match="item_url="):
        default_item_url("http://h/docs/bulk")


def test_changed_members() -> None:
    assert changed_members({"a": 1, "b": [1]}, {"a": 1, "b": [1, 2], "c": None}) == {
        "b": [1, 2],
        "c": None,
    }
    with pytest.raises(ValueError, match="'b' was dropped"):
        changed_members({"a": 1, "b": 2}, {"a": 1})
    with pytest.raises(ValueError, match="JSON objects"):
        changed_members([1], {"a": 1})


def test_async_client_over_asgi() -> None:
    app = bulk_apps.create_fastapi_app()

    async def main() -> tuple[Any, list[str]]:
        transport = httpx.ASGITransport(app=app)
        async with AsyncClient("http://testserver", transport=transport, backoff=FAST) as client:
            for key in ("x", "y"):
                created = await client.put(f"/documents/{key}", json={"text": "old"}, create=True)
                assert created.status_code == 201
            outcome = await client.bulk_update(URL, {"x": mine, "y": mine}, atomic=True)
            texts = [(await client.get(f"/documents/{key}")).json()["text"] for key in "xy"]
        return outcome, texts

    outcome, texts = anyio.run(main)
    assert [str(outcome.documents[key].etag) for key in "xy"] == ['"v2"', '"v2"']
    assert texts == ["old mine", "old mine"]


# --- concurrent clients through gunicorn workers on PostgreSQL ----------------------------


@pytest.fixture
def flask_server(postgres_db: Database) -> Iterator[str]:
    url = postgres_db.sqlalchemy_url()
    create_tables(url)
    port = free_port()
    argv = [
        services.PYTHON,
        "-m",
        "gunicorn",
        "--workers",
        "4",
        "--bind",
        f"127.0.0.1:{port}",
        "integrations.bulk_apps:create_flask_app()",
    ]
    with running_server(argv, port, env=subprocess_env(**{DATABASE_URL_ENV: url})):
        yield f"http://127.0.0.1:{port}"


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.parametrize("atomic", [True, False], ids=["atomic", "per-item"])
def test_concurrent_clients_lose_nothing(flask_server: str, atomic: bool) -> None:
    prefix = f"client-bulk-{atomic}-{random.Random().getrandbits(32)}"
    keys = [f"{prefix}-{n}" for n in range(4)]
    for key in keys:
        created = httpx.put(
            f"{flask_server}/documents/{key}",
            json={"text": ""},
            headers={"If-None-Match": "*"},
            timeout=60,
        )
        assert created.status_code == 201
    writers, rounds = 6, 4
    errors: list[BaseException] = []
    batches: list[int] = []

    def writer(number: int) -> None:
        with Client(flask_server, backoff=Backoff(base=0.01, cap=0.2), timeout=60) as client:
            for round_ in range(rounds):
                token = f"w{number}r{round_}"
                chosen = [keys[(number + step) % len(keys)] for step in range(3)]

                def append(data: dict[str, Any], token: str = token) -> dict[str, Any]:
                    return {**data, "text": f"{data['text']} {token}"}

                try:
                    outcome = client.bulk_update(
                        URL, dict.fromkeys(chosen, append), atomic=atomic, retries=60
                    )
                except BaseException as error:
                    errors.append(error)
                    return
                batches.append(outcome.batches)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    words = {
        key: httpx.get(f"{flask_server}/documents/{key}").json()["text"].split() for key in keys
    }
    expected = {
        key: {
            f"w{n}r{r}"
            for n in range(writers)
            for r in range(rounds)
            if key in [keys[(n + step) % len(keys)] for step in range(3)]
        }
        for key in keys
    }
    # Every token once in each of its items: nothing lost, nothing applied twice.
    for key in keys:
        assert sorted(words[key]) == sorted(expected[key])
    print(f"client bulk_update: {len(batches)} updates, {sum(batches)} batches sent")
    assert sum(batches) > len(batches), "no item ever lost a race: the test proved nothing"
