"""A protected request leaves no reference cycle behind (FastAPI, Starlette).

The request's scope holds the condition (``request.state.ifmatch``) and the condition holds the
request: left as it was, that cycle, and everything the scope holds (FastAPI's exit stacks, the
response, the dependency cache), would be freed only by the cycle collector, about fifty
objects per request, a cost every request paid. The condition lets go of the request when the
request ends, so the garbage a protected request leaves is what the same route without ifmatch
leaves: nothing. Counted with the collector off, by driving the ASGI app directly (no client
whose own machinery could leave cycles)."""

import asyncio
import gc
from collections.abc import AsyncIterator, Hashable
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ifmatch.integrations.fastapi import Collection, CollectionRequest, Conditional, install
from ifmatch.integrations.fastapi import ConditionalRequest as FastAPICondition
from ifmatch.integrations.starlette import ConditionalRequest, collection, conditional
from ifmatch.stores import Expectation, Snapshot
from ifmatch.stores.memory import MemoryStore

Call = tuple[str, str, dict[str, str], bytes]


def filled() -> MemoryStore:
    store = MemoryStore()
    store.compare_and_set("a", Expectation(exists=False), {"text": "a"})
    return store


def fastapi_app(store: MemoryStore) -> FastAPI:
    async def load(key: Hashable) -> AsyncIterator[tuple[Snapshot, dict[str, Any]] | None]:
        yield store.get(key)

    plain = Annotated[FastAPICondition, Depends(Conditional(store, key="key"))]
    loaded = Annotated[
        FastAPICondition,
        Depends(Conditional(store, key="key", load=load, snapshot=lambda found: found[0])),
    ]
    listing = Annotated[CollectionRequest, Depends(Collection(store))]
    app = FastAPI()

    @app.get("/bare/{key}")
    async def bare(key: str) -> dict[str, Any]:
        found = store.get(key)
        assert found is not None
        return found[1]

    @app.get("/plain/{key}")
    async def read(key: str, condition: plain) -> dict[str, Any]:
        found = store.get(key)
        assert found is not None
        return found[1]

    @app.put("/plain/{key}")
    async def write(key: str, condition: plain) -> dict[str, Any]:
        await condition.write({"text": "new"})
        return {"text": "new"}

    @app.get("/loaded/{key}")
    async def read_loaded(key: str, condition: loaded) -> dict[str, Any]:
        return dict(condition.instance[1])

    @app.get("/items")
    async def items(listing: listing) -> list[str]:
        return ["a"]

    return install(app)


def starlette_app(store: MemoryStore) -> Starlette:
    async def bare(request: Request) -> Response:
        found = store.get(request.path_params["key"])
        assert found is not None
        return JSONResponse(found[1])

    @conditional(store, key="key")
    async def document(request: Request) -> Response:
        condition: ConditionalRequest = request.state.ifmatch
        if request.method == "PUT":
            await condition.write({"text": "new"})
        found = store.get(request.path_params["key"])
        assert found is not None
        return JSONResponse(found[1])

    @collection(store)
    async def items(request: Request) -> Response:
        return JSONResponse(["a"])

    return Starlette(
        routes=[
            Route("/bare/{key}", bare),
            Route("/plain/{key}", document, methods=["GET", "PUT"]),
            Route("/items", items),
        ]
    )


async def exchange(
    app: Any, method: str, path: str, headers: dict[str, str], body: bytes
) -> tuple[int, dict[bytes, bytes]]:
    """One request driven through the ASGI app: the status and the response's headers."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    started: dict[str, Any] = {}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)

    await app(scope, receive, send)
    return started["status"], dict(started.get("headers", []))


async def call(app: Any, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
    return (await exchange(app, method, path, headers, body))[0]


def garbage_per_request(app: Any, request: Call, expect: int, times: int = 20) -> list[str]:
    """The types of the objects only the cycle collector could free, after ``times`` requests."""

    async def run() -> list[str]:
        for _ in range(3):  # warm: caches filled, lazy imports done
            assert await call(app, *request) == expect, request
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(times):
                assert await call(app, *request) == expect, request
            gc.collect()
            return sorted({type(found).__qualname__ for found in gc.garbage})
        finally:
            gc.garbage.clear()
            gc.set_debug(0)
            gc.enable()

    return asyncio.run(run())


def requests(collection_tag: str) -> list[tuple[Call, int]]:
    tag = '"v1"'  # the one version of "a"
    json = {"Content-Type": "application/json"}
    return [
        (("GET", "/bare/a", {}, b""), 200),
        (("GET", "/plain/a", {}, b""), 200),
        (("GET", "/plain/a", {"If-None-Match": tag}, b""), 304),
        (("GET", "/plain/a", {"If-None-Match": "junk"}, b""), 400),
        (("PUT", "/plain/a", {"If-Match": '"v0"', **json}, b"{}"), 412),
        (("GET", "/items", {}, b""), 200),
        (("GET", "/items", {"If-None-Match": collection_tag}, b""), 304),
    ]


def collection_tag(app: Any) -> str:
    status, headers = asyncio.run(exchange(app, "GET", "/items", {}, b""))
    assert status == 200
    return headers[b"etag"].decode()


def test_fastapi_requests_leave_no_cycles() -> None:
    store = filled()
    app = fastapi_app(store)
    calls = [*requests(collection_tag(app)), (("GET", "/loaded/a", {}, b""), 200)]
    calls.append((("GET", "/loaded/a", {"If-None-Match": '"v1"'}, b""), 304))
    for request, status in calls:
        assert garbage_per_request(app, request, status) == [], request


def test_starlette_requests_leave_no_cycles() -> None:
    store = filled()
    app = starlette_app(store)
    for request, status in requests(collection_tag(app)):
        assert garbage_per_request(app, request, status) == [], request


def test_a_write_that_lands_leaves_no_cycles() -> None:
    for make in (fastapi_app, starlette_app):
        store = filled()
        app = make(store)
        version = 1

        async def writes(app: Any, times: int) -> None:
            nonlocal version
            for _ in range(times):
                headers = {"If-Match": f'"v{version}"', "Content-Type": "application/json"}
                assert await call(app, "PUT", "/plain/a", headers, b"{}") == 200
                version += 1

        asyncio.run(writes(app, 3))
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            asyncio.run(writes(app, 10))
            gc.collect()
            left = sorted({type(found).__qualname__ for found in gc.garbage})
        finally:
            gc.garbage.clear()
            gc.set_debug(0)
            gc.enable()
        # asyncio.run's own loop leaves a few objects of its own; none is a request's.
        assert not {"Request", "ConditionalRequest", "AsyncExitStack"} & set(left), left
