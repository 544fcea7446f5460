"""Bulk conditional writes through FastAPI and Starlette: the status table on a sync store
(run in the thread pool) and on an async one, async hooks, the policy."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ifmatch.core import Policy
from ifmatch.integrations.starlette_bulk import (
    BulkUpdate,
    ItemInvalid,
    bulk_endpoint,
    bulk_response,
)
from ifmatch.stores import CASResult, Expectation, Snapshot
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
from integrations.http_conformance import AsgiClient


class AsyncMemory:
    """The memory store behind coroutine methods, as an async store offers them."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.calls: list[str] = []

    async def read(self, key: Hashable) -> Snapshot | None:
        self.calls.append("read")
        return self.store.read(key)

    async def compare_and_set_many(
        self,
        items: Iterable[tuple[Hashable, Expectation, Mapping[str, Any]]],
        *,
        all_or_nothing: bool = False,
    ) -> list[CASResult]:
        self.calls.append("write")
        return self.store.compare_and_set_many(items, all_or_nothing=all_or_nothing)


def _get(store: MemoryStore) -> Any:
    def get(key: Any) -> tuple[int, str] | None:
        found = store.get(key)
        return None if found is None else (found[0].version, found[1]["text"])

    return get


async def allow(key: Any) -> bool:
    return authorize(key)


def fastapi_app(endpoint: BulkUpdate, **options: Any) -> FastAPI:
    app = FastAPI()

    @app.post("/documents:batchUpdate")
    async def update_documents(request: Request) -> Response:
        return await bulk_response(request, endpoint, **options)

    return app


@pytest.mark.parametrize("flavour", ["sync-store", "async-store"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_status_table_fastapi(case: BulkCase, flavour: str, portal: BlockingPortal) -> None:
    memory = MemoryStore()
    seed(memory)
    store: Any = memory if flavour == "sync-store" else AsyncMemory(memory)
    hook = authorize if flavour == "sync-store" else allow
    endpoint = BulkUpdate(store, fields=WRITABLE, authorize=hook, max_items=MAX_ITEMS)
    client = AsgiClient(fastapi_app(endpoint), portal)
    response = client.request(
        "POST",
        "/documents:batchUpdate",
        content=case.encoded(),
        headers={"Content-Type": case.content_type, **case.headers},
    )
    check(case, response.status_code, response.headers, response.content, _get(memory))


@pytest.mark.parametrize("case", [c for c in CASES if c.name.startswith("stale")], ids=str)
def test_status_table_starlette_route(case: BulkCase, portal: BlockingPortal) -> None:
    store = MemoryStore()
    seed(store)
    endpoint = BulkUpdate(store, fields=WRITABLE, authorize=authorize, max_items=MAX_ITEMS)
    app = Starlette(
        routes=[Route("/documents:batchUpdate", bulk_endpoint(endpoint), methods=["POST"])]
    )
    client = AsgiClient(app, portal)
    response = client.request(
        "POST",
        "/documents:batchUpdate",
        content=case.encoded(),
        headers={"Content-Type": case.content_type},
    )
    check(case, response.status_code, response.headers, response.content, _get(store))


def test_async_store_reads_then_writes_once(portal: BlockingPortal) -> None:
    memory = MemoryStore()
    seed(memory)
    store = AsyncMemory(memory)
    client = AsgiClient(fastapi_app(BulkUpdate(store, fields=WRITABLE)), portal)
    response = client.request("POST", "/documents:batchUpdate", json=batch(item("a"), item("b")))
    assert response.status_code == 200
    assert store.calls == ["read", "read", "write"]


def test_async_prepare_hook_and_its_refusals(portal: BlockingPortal) -> None:
    memory = MemoryStore()
    seed(memory)

    async def prepare(key: Any, data: Mapping[str, Any]) -> dict[str, Any]:
        if len(data.get("text", "")) > 10:
            raise ItemInvalid("'text' is longer than 10 characters.", "text")
        return {"text": data.get("text", "")}

    endpoint = BulkUpdate(AsyncMemory(memory), prepare=prepare)
    body = batch(item("a", text="short"), item("b", text="far too long a text"), atomic=False)
    client = AsgiClient(fastapi_app(endpoint), portal)
    response = client.request("POST", "/documents:batchUpdate", json=body)
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["items"]] == [200, 400]
    assert response.json()["items"][1]["problem"]["pointer"] == "/items/1/data/text"
    assert memory.get("a")[1] == {"text": "short"}  # type: ignore[index]
    assert memory.get("b")[1] == {"text": "old"}  # type: ignore[index]


def test_policy_is_the_callers(portal: BlockingPortal) -> None:
    memory = MemoryStore()
    seed(memory)
    endpoint = BulkUpdate(memory, fields=WRITABLE)
    lenient = Policy(require_precondition=frozenset({"PUT"}))
    strict = Policy(accept_bare_version_token=False)
    client = AsgiClient(fastapi_app(endpoint, policy=lenient), portal)
    assert (
        client.request("POST", "/documents:batchUpdate", json=batch(item("a", None))).status_code
        == 200
    )
    client = AsgiClient(fastapi_app(endpoint, policy=strict), portal)
    refused = client.request("POST", "/documents:batchUpdate", json=batch(item("b", "v1")))
    assert refused.status_code == 400
    assert refused.json()["items"][0]["problem"]["code"] == "invalid-if-match"


def test_an_unreachable_store_is_503_not_500(portal: BlockingPortal) -> None:
    class Unreachable(AsyncMemory):
        async def compare_and_set_many(self, items: Any, *, all_or_nothing: bool = False) -> Any:
            from ifmatch.stores.errors import StoreUnavailable

            raise StoreUnavailable("connection lost")

    memory = MemoryStore()
    seed(memory)
    client = AsgiClient(fastapi_app(BulkUpdate(Unreachable(memory), fields=WRITABLE)), portal)
    response = client.request("POST", "/documents:batchUpdate", json=batch(item("a")))
    assert response.status_code == 503 and "Retry-After" in response.headers
    assert memory.get("a")[1] == {"text": "old"}  # type: ignore[index]


def test_openapi_documents_the_batch(portal: BlockingPortal) -> None:
    from ifmatch.integrations.starlette_bulk import bulk_openapi

    endpoint = BulkUpdate(MemoryStore(), fields=WRITABLE, max_items=7)
    app = FastAPI()

    @app.post("/documents:batchUpdate", openapi_extra=bulk_openapi(endpoint))
    async def update_documents(request: Request) -> Response:
        return await bulk_response(request, endpoint)

    schema = AsgiClient(app, portal).request("GET", "/openapi.json").json()
    operation = schema["paths"]["/documents:batchUpdate"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["items"]["maxItems"] == 7
    assert {"200", "400", "409", "412", "415", "428", "503"} <= set(operation["responses"])
    assert "application/problem+json" in operation["responses"]["412"]["content"]
