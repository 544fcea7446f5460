"""``Client`` / ``AsyncClient`` over ``httpx.MockTransport``: each strategy is one call."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from client.fake_api import FakeAPI
from ifmatch.client import (
    AsyncClient,
    Backoff,
    Client,
    Document,
    MergeConflict,
    PreconditionFailed,
    PreconditionRequired,
    ResponseCache,
    UnexpectedStatus,
)
from ifmatch.core import ETag

BASE = "http://api.test"
FAST = Backoff(base=0.0001, cap=0.001)


def make(api: FakeAPI, **options: Any) -> Client:
    return Client(
        BASE, transport=httpx.MockTransport(api), backoff=FAST, rng=random.Random(0), **options
    )


def content(document: Document) -> dict[str, Any]:
    return {key: value for key, value in document.data.items() if key != "_links"}


def test_read_returns_a_document_with_its_tag() -> None:
    api = FakeAPI()
    api.put_doc("1", {"title": "T"})
    with make(api) as client:
        document = client.read("/docs/1")
    assert document.url == f"{BASE}/docs/1"
    assert document.etag == ETag("v1")
    assert document.self_url == f"{BASE}/docs/1"
    assert content(document) == {"title": "T"}


def test_read_of_a_missing_document() -> None:
    with make(FakeAPI()) as client, pytest.raises(UnexpectedStatus) as caught:
        client.read("/docs/nope")
    assert caught.value.status == 404


def test_put_raises_typed_errors() -> None:
    api = FakeAPI()
    api.put_doc("1", {"n": 0})
    with make(api) as client:
        with pytest.raises(PreconditionRequired):
            client.put("/docs/1", json={"n": 1})
        client.get("/docs/1")
        api.put_doc("1", {"n": "theirs"})
        with pytest.raises(PreconditionFailed) as caught:
            client.put("/docs/1", json={"n": 1})
    assert caught.value.current_etag == ETag("v2")
    assert caught.value.problem is not None and caught.value.problem["status"] == 412


def test_create_and_overwrite_flags() -> None:
    api = FakeAPI()
    with make(api) as client:
        assert client.put("/docs/1", json={"n": 1}, create=True).status_code == 201
        with pytest.raises(PreconditionFailed):
            client.put("/docs/1", json={"n": 2}, create=True)
        assert client.put("/docs/1", json={"n": 3}, overwrite=True).status_code == 200
        with pytest.raises(ValueError):
            client.put("/docs/1", json={}, create=True, overwrite=True)
    assert api.body("1") == {"n": 3}
    assert api.requests[-1].headers["If-Match"] == "*"


def test_patch_helpers_label_their_bodies() -> None:
    api = FakeAPI()
    api.put_doc("1", {"a": 1, "b": 1})
    with make(api) as client:
        client.get("/docs/1")
        client.merge_patch("/docs/1", {"b": None})
    assert api.requests[-1].headers["Content-Type"] == "application/merge-patch+json"
    assert api.body("1") == {"a": 1}


def test_json_patch_helper_labels_its_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    with Client(BASE, transport=httpx.MockTransport(handler)) as client:
        client.json_patch("/x", [{"op": "remove", "path": "/a"}], headers={"If-Match": '"v1"'})
    assert seen[0].headers["Content-Type"] == "application/json-patch+json"
    assert seen[0].headers["If-Match"] == '"v1"'


def test_save_raise_merge_overwrite() -> None:
    api = FakeAPI()
    api.put_doc("1", {"title": "T", "body": "b"})
    with make(api) as client:
        base = client.read("/docs/1")
        api.put_doc("1", {"title": "T", "body": "theirs"})
        mine = {"title": "Mine", "body": "b"}
        with pytest.raises(PreconditionFailed):
            client.save(base, mine)
        merged = client.save(base, mine, on_conflict="merge")
        assert content(merged) == {"title": "Mine", "body": "theirs"}
        assert api.body("1") == {"title": "Mine", "body": "theirs"}
        with pytest.raises(MergeConflict) as caught:
            client.save(base, {"title": "Other", "body": "b"}, on_conflict="merge")
        assert caught.value.paths == ("/title",)
        assert caught.value.current is not None
        overwritten = client.save(base, {"title": "Last"}, on_conflict="overwrite")
    assert api.body("1") == {"title": "Last"}
    assert overwritten.etag == ETag("v4")


def test_update_rereads_and_reapplies() -> None:
    api = FakeAPI()
    api.put_doc("1", {"tokens": []})
    calls = 0

    def append(document: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # someone else writes between our read and our write
            api.put_doc("1", {"tokens": ["theirs"]})
        document["tokens"].append("mine")

    with make(api) as client:
        result = client.update("/docs/1", append)
    assert calls == 2
    assert api.body("1") == {"tokens": ["theirs", "mine"]}
    assert result.etag == ETag("v3")


def test_update_with_patches() -> None:
    api = FakeAPI()
    api.put_doc("1", {"a": 1, "b": 1})
    with make(api) as client:
        client.update("/docs/1", lambda d: {**d, "b": 2}, patch="merge")
    assert api.requests[-1].method == "PATCH"
    assert api.body("1") == {"a": 1, "b": 2}


def test_relative_urls_join_the_base_url_like_httpx() -> None:
    api = FakeAPI()
    api.put_doc("1", {})
    with Client(f"{BASE}/", transport=httpx.MockTransport(api)) as client:
        assert client.absolute("docs/1") == f"{BASE}/docs/1"
        assert client.read("docs/1").etag == ETag("v1")


def test_client_with_a_cache() -> None:
    api = FakeAPI()
    api.put_doc("1", {"a": 1})
    with make(api, cache=ResponseCache()) as client:
        client.read("/docs/1")
        again = client.read("/docs/1")
        assert client.cache is not None and len(client.cache) == 1
    assert api.requests[-1].headers["If-None-Match"] == '"v1"'
    assert again.etag == ETag("v1") and content(again) == {"a": 1}


@pytest.mark.asyncio
async def test_async_client_strategies() -> None:
    api = FakeAPI()
    api.put_doc("1", {"title": "T", "body": "b", "n": 0})
    async with AsyncClient(
        BASE, transport=httpx.MockTransport(api), backoff=FAST, rng=random.Random(0)
    ) as client:
        base = await client.read("/docs/1")
        api.put_doc("1", {"title": "T", "body": "theirs", "n": 0})
        with pytest.raises(PreconditionFailed):
            await client.save(base, {**content(base), "title": "Mine"})
        await client.save(base, {**content(base), "title": "Mine"}, on_conflict="merge")
        await client.update("/docs/1", lambda d: {**d, "n": d["n"] + 1})
        await client.get("/docs/1")
        await client.merge_patch("/docs/1", {"n": 5})
        await client.json_patch("/docs/1", [{"op": "replace", "path": "/n", "value": 6}])
        with pytest.raises(PreconditionRequired):
            await client.put("/docs/2", json={})
        assert client.store is client.transport.store
    assert api.body("1") == {"title": "Mine", "body": "theirs", "n": 6}


def test_mounted_transports_run_the_flow_too() -> None:
    api = FakeAPI()
    api.put_doc("1", {"n": 0})
    mounted = httpx.MockTransport(api)
    with Client(mounts={"http://other.test": mounted}) as client:
        client.get("http://other.test/docs/1")
        client.put("http://other.test/docs/1", json={"n": 1})
    assert api.requests[-1].headers["If-Match"] == '"v1"'
    assert api.body("1") == {"n": 1}


def test_transport_options_reach_the_inner_transport() -> None:
    import ssl

    with Client(verify=False) as client:
        inner = client.transport._inner
        assert isinstance(inner, httpx.HTTPTransport)
        context = inner._pool._ssl_context
        assert context is not None and context.verify_mode == ssl.CERT_NONE


@pytest.mark.asyncio
async def test_async_mounts_run_the_flow_too() -> None:
    api = FakeAPI()
    api.put_doc("1", {"n": 0})
    async with AsyncClient(mounts={"http://other.test": httpx.MockTransport(api)}) as client:
        await client.get("http://other.test/docs/1")
        await client.delete("http://other.test/docs/1")
    assert api.requests[-1].headers["If-Match"] == '"v1"'
