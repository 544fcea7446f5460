"""The httpx transports around ``httpx.MockTransport``: any httpx client gets the flow."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from client.fake_api import FakeAPI
from ifmatch.client import (
    AsyncIfMatchTransport,
    IfMatchTransport,
    PreconditionFailed,
    PreconditionRequired,
    ResponseCache,
    Validators,
    ValidatorStore,
)
from ifmatch.client.transport import REVALIDATED_EXTENSION
from ifmatch.core import ETag

BASE = "http://api.test"


def client(api: FakeAPI, **options: object) -> httpx.Client:
    return httpx.Client(
        base_url=BASE,
        transport=IfMatchTransport(httpx.MockTransport(api), **options),  # type: ignore[arg-type]
    )


def test_get_then_put_sends_if_match() -> None:
    api = FakeAPI()
    api.put_doc("1", {"title": "a"})
    with client(api) as http:
        http.get("/docs/1")
        response = http.put("/docs/1", json={"title": "b"})
    assert response.status_code == 200
    assert api.requests[-1].headers["If-Match"] == '"v1"'
    assert response.headers["ETag"] == '"v2"'


def test_a_second_write_uses_the_tag_of_the_first_writes_response() -> None:
    api = FakeAPI()
    api.put_doc("1", {"n": 0})
    with client(api) as http:
        http.get("/docs/1")
        http.put("/docs/1", json={"n": 1})
        http.put("/docs/1", json={"n": 2})
    assert [r.headers.get("If-Match") for r in api.requests] == [None, '"v1"', '"v2"']
    assert api.body("1") == {"n": 2}


def test_someone_elses_write_makes_ours_fail_and_the_response_says_why() -> None:
    api = FakeAPI()
    api.put_doc("1", {"n": 0})
    with client(api) as http:
        http.get("/docs/1")
        api.put_doc("1", {"n": "theirs"})
        response = http.put("/docs/1", json={"n": "mine"})
    assert response.status_code == 412
    assert response.json()["current_etag"] == '"v2"'
    assert api.body("1") == {"n": "theirs"}


def test_raise_errors() -> None:
    api = FakeAPI()
    api.put_doc("1", {"n": 0})
    with client(api, raise_errors=True) as http:
        with pytest.raises(PreconditionRequired) as required:
            http.put("/docs/1", json={"n": 1})
        assert required.value.current_etag == ETag("v1")
        http.get("/docs/1")
        api.put_doc("1", {"n": "theirs"})
        with pytest.raises(PreconditionFailed) as failed:
            http.delete("/docs/1")
        assert failed.value.current_etag == ETag("v2")
        assert failed.value.url == f"{BASE}/docs/1"


def test_items_of_a_list_can_be_written_without_another_get() -> None:
    api = FakeAPI()
    for n in range(3):
        api.put_doc(str(n), {"n": n})
    with client(api) as http:
        http.get("/docs")
        response = http.patch(
            "/docs/2", json={"n": 20}, headers={"Content-Type": "application/merge-patch+json"}
        )
    assert response.status_code == 200
    assert [r.method for r in api.requests] == ["GET", "PATCH"]
    assert api.body("2") == {"n": 20}


def test_delete_forgets_the_tag() -> None:
    api = FakeAPI()
    api.put_doc("1", {})
    store = ValidatorStore()
    with client(api, store=store) as http:
        http.get("/docs/1")
        assert http.delete("/docs/1").status_code == 204
    assert f"{BASE}/docs/1" not in store


def test_create_only_put_is_left_alone() -> None:
    api = FakeAPI()
    with client(api) as http:
        created = http.put("/docs/9", json={"a": 1}, headers={"If-None-Match": "*"})
        again = http.put("/docs/9", json={"a": 2}, headers={"If-None-Match": "*"})
    assert (created.status_code, again.status_code) == (201, 412)
    assert api.body("9") == {"a": 1}


def test_post_teaches_the_created_resources_tag() -> None:
    api = FakeAPI()
    with client(api) as http:
        created = http.post("/docs", json={"a": 1})
        location = created.headers["Location"]
        assert http.put(location, json={"a": 2}).status_code == 200


def test_streaming_request_bodies_keep_their_stream() -> None:
    api = FakeAPI()
    api.put_doc("1", {"a": 1})

    def chunks() -> object:
        yield b'{"a":'
        yield b" 2}"

    with client(api) as http:
        http.get("/docs/1")
        response = http.put("/docs/1", content=chunks())  # type: ignore[arg-type]
    assert response.status_code == 200
    assert api.body("1") == {"a": 2}


def test_the_conditional_get_cache_turns_304_into_the_representation() -> None:
    api = FakeAPI()
    api.put_doc("1", {"a": 1})
    with client(api, cache=ResponseCache()) as http:
        first = http.get("/docs/1")
        second = http.get("/docs/1")
    assert api.requests[1].headers["If-None-Match"] == '"v1"'
    assert second.status_code == 200
    assert second.json() == first.json()
    assert second.extensions[REVALIDATED_EXTENSION] is True
    assert REVALIDATED_EXTENSION not in first.extensions


def test_gzip_bodies_are_cached_decoded() -> None:
    body = json.dumps({"a": 1}).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return httpx.Response(304, headers={"ETag": '"v1"'})
        return httpx.Response(
            200,
            headers={
                "ETag": '"v1"',
                "Content-Encoding": "gzip",
                "Content-Type": "application/json",
            },
            content=gzip.compress(body),
        )

    transport = IfMatchTransport(httpx.MockTransport(handler), cache=ResponseCache())
    with httpx.Client(transport=transport) as http:
        http.get("http://api.test/x")
        again = http.get("http://api.test/x")
    assert again.json() == {"a": 1}


def test_weak_tag_reread_through_the_transport() -> None:
    api = FakeAPI()
    api.put_doc("1", {"a": 1})
    store = ValidatorStore()
    store.learn(f"{BASE}/docs/1", Validators(ETag("v1", weak=True)))
    with client(api, store=store) as http:
        response = http.put("/docs/1", json={"a": 2})
    probe, write = api.requests
    assert (probe.method, probe.headers["Accept-Encoding"]) == ("GET", "identity")
    assert write.headers["If-Match"] == '"v1"'
    assert response.status_code == 200


def test_a_failing_reread_sends_nothing() -> None:
    api = FakeAPI()
    api.put_doc("1", {"a": 1})
    store = ValidatorStore()
    store.learn(f"{BASE}/docs/1", Validators(ETag("v0", weak=True)))
    with client(api, store=store) as http, pytest.raises(PreconditionFailed):
        http.put("/docs/1", json={"a": 2})
    assert [r.method for r in api.requests] == ["GET"]
    assert api.body("1") == {"a": 1}


def test_one_store_shared_by_two_clients() -> None:
    api = FakeAPI()
    api.put_doc("1", {})
    store = ValidatorStore()
    with client(api, store=store) as reader, client(api, store=store) as writer:
        reader.get("/docs/1")
        assert writer.put("/docs/1", json={"x": 1}).status_code == 200


# -- async ------------------------------------------------------------------------------------


def async_client(api: FakeAPI, **options: object) -> httpx.AsyncClient:
    transport = AsyncIfMatchTransport(httpx.MockTransport(api), **options)  # type: ignore[arg-type]
    return httpx.AsyncClient(base_url=BASE, transport=transport)


@pytest.mark.asyncio
async def test_async_transport_runs_the_same_flow() -> None:
    api = FakeAPI()
    api.put_doc("1", {"n": 0})
    async with async_client(api, cache=ResponseCache()) as http:
        await http.get("/docs/1")
        assert (await http.put("/docs/1", json={"n": 1})).status_code == 200
        api.put_doc("1", {"n": "theirs"})
        stale = await http.put("/docs/1", json={"n": 2})
        assert stale.status_code == 412
        await http.get("/docs/1")
        cached = await http.get("/docs/1")
    assert api.requests[1].headers["If-Match"] == '"v1"'
    assert cached.extensions[REVALIDATED_EXTENSION] is True
    assert cached.json()["n"] == "theirs"


@pytest.mark.asyncio
async def test_async_transport_raises_and_rereads() -> None:
    api = FakeAPI()
    api.put_doc("1", {"n": 0})
    store = ValidatorStore()
    store.learn(f"{BASE}/docs/1", Validators(ETag("v1", weak=True)))
    async with async_client(api, store=store, raise_errors=True) as http:
        response = await http.put("/docs/1", json={"n": 1})
        assert response.status_code == 200
        with pytest.raises(PreconditionRequired):
            await http.put("/docs/2", json={"n": 1})
