"""ifmatch.integrations.asgi: body-hash ETags and 304 for any ASGI app (bandwidth only)."""

from __future__ import annotations

from typing import Any

from anyio.from_thread import BlockingPortal
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ifmatch.core import content_etag
from ifmatch.integrations.asgi import ConditionalGetMiddleware
from integrations.http_conformance import AsgiClient, Exchange, lint

PAYLOAD = {"hello": "world", "padding": "x" * 600}


async def resource(request: Request) -> Response:
    return JSONResponse(PAYLOAD)


async def tagged(request: Request) -> Response:
    return JSONResponse(PAYLOAD, headers={"ETag": '"v7"', "Cache-Control": "max-age=5"})


async def stream(request: Request) -> Response:
    async def chunks() -> Any:
        for index in range(5):
            yield f"chunk {index}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


async def missing(request: Request) -> Response:
    return JSONResponse({"title": "Not Found"}, status_code=404)


async def write(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close()


def app(**options: Any) -> Any:
    routes = [
        Route("/r", resource, methods=["GET", "HEAD", "PUT"]),
        Route("/tagged", tagged),
        Route("/stream", stream),
        Route("/missing", missing),
        WebSocketRoute("/ws", echo),
    ]
    return ConditionalGetMiddleware(Starlette(routes=routes), **options)


def call(client: AsgiClient, target: str, method: str = "GET", **headers: str) -> Exchange:
    exchange = client.send(method, target, [("Host", "testserver"), *headers.items()], None)
    # Requests are linted too, unless they carry a deliberately malformed header.
    exchange.lint_request = '"unterminated' not in str(exchange.request_headers)
    assert lint(exchange) == []
    return exchange


def test_tags_the_body_and_answers_304(portal: BlockingPortal) -> None:
    client = AsgiClient(app(), portal)
    first = call(client, "/r")
    body = first.body
    assert first.header("ETag") == str(content_etag(body))
    cached = call(client, "/r", **{"If-None-Match": first.header("ETag") or ""})
    assert cached.status == 304 and cached.body == b"" and cached.header("Content-Length") is None
    assert call(client, "/r", **{"If-None-Match": '"x"'}).status == 200
    assert call(client, "/r", "PUT").header("ETag") is None  # writes are not its business


def test_keeps_app_tags_and_304_headers(portal: BlockingPortal) -> None:
    client = AsgiClient(app(), portal)
    cached = call(client, "/tagged", **{"If-None-Match": 'W/"v7"'})
    assert cached.status == 304 and cached.header("Cache-Control") == "max-age=5"
    assert cached.header("Content-Type") is None
    assert call(client, "/tagged", "HEAD", **{"If-None-Match": '"v7"'}).status == 304
    failed = call(client, "/tagged", **{"If-Match": '"v6"'})
    assert failed.status == 412 and failed.json()["current_etag"] == '"v7"'


def test_compressed_bodies_get_weak_tags(portal: BlockingPortal) -> None:
    client = AsgiClient(app(), portal)
    client.client._transport = type(client.client._transport)(  # type: ignore[attr-defined]
        app=ConditionalGetMiddleware(GZipMiddleware(app().app, minimum_size=10))
    )
    first = call(client, "/r", **{"Accept-Encoding": "gzip"})
    assert first.header("Content-Encoding") == "gzip"
    assert (first.header("ETag") or "").startswith("W/")
    again = call(
        client, "/r", **{"Accept-Encoding": "gzip", "If-None-Match": first.header("ETag") or ""}
    )
    assert again.status == 304


def test_streams_errors_and_large_bodies_untouched(portal: BlockingPortal) -> None:
    client = AsgiClient(app(max_body_size=10), portal)
    streamed = call(client, "/stream", **{"If-None-Match": "*"})
    assert streamed.status == 200 and streamed.header("ETag") is None
    assert streamed.body == b"".join(f"chunk {i}\n".encode() for i in range(5))
    assert call(client, "/missing", **{"If-None-Match": "*"}).status == 404
    whole = AsgiClient(app(), portal)
    tag = call(whole, "/stream").header("ETag")
    assert tag is not None and call(whole, "/stream", **{"If-None-Match": tag}).status == 304


def test_passes_other_scopes_through(portal: BlockingPortal) -> None:
    async def probe() -> list[str]:
        sent: list[str] = []
        scope = {"type": "lifespan"}

        async def receive() -> dict[str, Any]:
            return {"type": "lifespan.shutdown"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message["type"])

        async def inner(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "lifespan.shutdown.complete"})

        await ConditionalGetMiddleware(inner)(scope, receive, send)
        return sent

    assert portal.call(probe) == ["lifespan.shutdown.complete"]
