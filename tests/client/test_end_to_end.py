"""The client against a real ifmatch-protected server: gunicorn, several worker processes,
one SQLite file, on a loopback port."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ifmatch.client import (
    AsyncClient,
    Backoff,
    Client,
    MergeConflict,
    PreconditionFailed,
    PreconditionRequired,
    ResponseCache,
)
from ifmatch.client.transport import REVALIDATED_EXTENSION
from ifmatch.core import ETag

FAST = Backoff(base=0.001, cap=0.05)


def new_id() -> str:
    return uuid.uuid4().hex[:10]


def content(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("_links", "_etag", "_id", "id", "etag")}


@pytest.fixture
def client(server_url: str) -> Iterator[Client]:
    with Client(server_url, backoff=FAST, rng=random.Random(7)) as http:
        yield http


@pytest.fixture
def other(server_url: str) -> Iterator[Client]:
    """Another user of the same API, with a store of its own."""
    with Client(server_url) as http:
        yield http


def create(other: Client, path: str, body: dict[str, Any]) -> None:
    assert other.put(path, json=body, create=True).status_code == 201


def test_hal_read_and_save(client: Client, other: Client) -> None:
    path = f"/hal/docs/{new_id()}"
    create(other, path, {"title": "T", "body": "b"})
    document = client.read(path)
    assert document.etag == ETag("v1")
    assert document.self_url == document.url
    saved = client.save(document, {"title": "Mine", "body": "b"})
    assert saved.etag == ETag("v2")
    assert content(saved.data) == {"title": "Mine", "body": "b"}


def test_a_stale_write_gets_the_servers_412_with_the_current_tag(
    client: Client, other: Client
) -> None:
    path = f"/hal/docs/{new_id()}"
    create(other, path, {"n": 0})
    client.get(path)
    other.update(path, lambda d: {**d, "n": 1})
    with pytest.raises(PreconditionFailed) as caught:
        client.put(path, json={"n": 2})
    error = caught.value
    assert error.current_etag == ETag("v2")
    assert error.problem is not None
    assert error.problem["current_etag"] == '"v2"'
    assert error.problem["instance"] == path
    assert content(other.read(path).data) == {"n": 1}


def test_a_write_without_a_tag_gets_428(client: Client, other: Client) -> None:
    path = f"/hal/docs/{new_id()}"
    create(other, path, {"n": 0})
    with pytest.raises(PreconditionRequired) as caught:
        client.delete(path)
    assert caught.value.current_etag == ETag("v1")


def test_merge_and_overwrite_strategies(client: Client, other: Client) -> None:
    path = f"/hal/docs/{new_id()}"
    create(other, path, {"title": "T", "body": "one\ntwo\n"})
    base = client.read(path)
    other.update(path, lambda d: {**d, "body": "one\nTWO\n"})
    merged = client.save(base, {**content(base.data), "title": "Mine"}, on_conflict="merge")
    assert content(merged.data) == {"title": "Mine", "body": "one\nTWO\n"}
    with pytest.raises(MergeConflict) as caught:
        client.save(base, {**content(base.data), "title": "Again"}, on_conflict="merge")
    assert caught.value.paths == ("/title",)
    last = client.save(base, {"title": "Last"}, on_conflict="overwrite")
    assert content(last.data) == {"title": "Last"}


def test_patch_bodies_against_the_server(client: Client, other: Client) -> None:
    path = f"/hal/docs/{new_id()}"
    create(other, path, {"a": 1, "b": {"c": 1}, "list": [1, 2]})
    client.update(path, lambda d: {**d, "b": {"c": 2}}, patch="merge")
    client.update(path, lambda d: {**d, "list": [0, 1, 2]}, patch="json")
    assert content(other.read(path).data) == {"a": 1, "b": {"c": 2}, "list": [0, 1, 2]}


def test_eve_style_body_fields_and_list_items(client: Client, other: Client) -> None:
    doc_id = new_id()
    create(other, f"/eve/docs/{doc_id}", {"n": 1})
    listing = client.get("/eve/docs").json()
    assert any(item["_id"] == doc_id for item in listing["_items"])
    # The item's _etag came from the list: no GET of the item is needed to write it.
    response = client.merge_patch(f"/eve/docs/{doc_id}", {"n": 2})
    assert response.request.headers["If-Match"] == '"v1"'
    # The write response's _etag field (no ETag header) is learned for the next write.
    again = client.merge_patch(f"/eve/docs/{doc_id}", {"n": 3})
    assert again.request.headers["If-Match"] == '"v2"'
    assert content(other.read(f"/eve/docs/{doc_id}").data) == {"n": 3}


def test_plain_ids_and_etags_in_a_list(client: Client, other: Client) -> None:
    doc_id = new_id()
    create(other, f"/plain/docs/{doc_id}", {"n": 1})
    client.get("/plain/docs")
    assert client.put(f"/plain/docs/{doc_id}", json={"n": 2}).status_code == 200


def test_last_modified_only_resources_use_if_unmodified_since(
    client: Client, other: Client
) -> None:
    path = f"/lm/docs/{new_id()}"
    create(other, path, {"n": 0})
    document = client.read(path)
    assert document.etag is None and document.last_modified is not None
    client.update(path, lambda d: {**d, "n": 1})
    other.update(path, lambda d: {**d, "n": 2})
    with pytest.raises(PreconditionFailed):
        client.save(document, {"n": 99})
    assert content(other.read(path).data) == {"n": 2}


def test_weak_tags_are_never_sent_in_if_match(client: Client, other: Client) -> None:
    path = f"/weak/docs/{new_id()}"
    create(other, path, {"n": 0})
    client.get(path)
    assert client.store.get(client.absolute(path)) is not None
    response = client.put(path, json={"n": 1})
    assert response.request.headers["If-Match"] == '"v1"'  # the strong form, from a re-read
    assert client.update(path, lambda d: {**d, "n": 2}).data["n"] == 2
    client.get(path)
    other.update(path, lambda d: {**d, "n": "theirs"})
    with pytest.raises(PreconditionFailed):
        client.put(path, json={"n": "mine"})
    assert content(other.read(path).data) == {"n": "theirs"}


def test_conditional_get_cache_against_the_server(server_url: str, other: Client) -> None:
    path = f"/hal/docs/{new_id()}"
    create(other, path, {"n": 0})
    with Client(server_url, cache=ResponseCache()) as cached:
        first = cached.get(path)
        second = cached.get(path)
        assert second.extensions.get(REVALIDATED_EXTENSION) is True
        assert second.json() == first.json()
        other.update(path, lambda d: {**d, "n": 1})
        third = cached.get(path)
        assert REVALIDATED_EXTENSION not in third.extensions
        assert third.json()["n"] == 1


def test_delete_and_create(client: Client, other: Client) -> None:
    created = client.post("/hal/docs", json={"n": 1})
    location = created.headers["Location"]
    assert client.put(location, json={"n": 2}).status_code == 200
    assert client.delete(location).status_code == 204
    assert client.absolute(location) not in client.store
    assert other.get(location).status_code == 404


@pytest.mark.asyncio
async def test_async_client_against_the_server(server_url: str, other: Client) -> None:
    path = f"/hal/docs/{new_id()}"
    create(other, path, {"tokens": []})
    async with AsyncClient(server_url, backoff=FAST) as client:
        for token in ("a", "b"):
            await client.update(path, lambda d, t=token: {**d, "tokens": [*d["tokens"], t]})
        base = await client.read(path)
        other.update(path, lambda d: {**d, "x": 1})
        merged = await client.save(base, {**content(base.data), "y": 2}, on_conflict="merge")
    assert content(merged.data) == {"tokens": ["a", "b"], "x": 1, "y": 2}
