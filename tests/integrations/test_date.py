"""ifmatch.integrations.date: an exact Date stamped on each ASGI response."""

from __future__ import annotations

from datetime import UTC, datetime

from anyio.from_thread import BlockingPortal
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ifmatch.core import parse_http_date
from ifmatch.integrations.date import DateMiddleware
from integrations.http_conformance import AsgiClient


async def plain(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def dated(request: Request) -> Response:
    return JSONResponse({"ok": True}, headers={"Date": "Mon, 05 Jan 2026 09:00:00 GMT"})


def app() -> DateMiddleware:
    routes = [Route("/plain", plain), Route("/dated", dated)]
    return DateMiddleware(Starlette(routes=routes))


def test_each_response_gets_the_current_date(portal: BlockingPortal) -> None:
    client = AsgiClient(app(), portal)
    before = datetime.now(UTC).replace(microsecond=0)
    response = client.request("GET", "/plain")
    after = datetime.now(UTC)
    dates = response.headers.get_list("date")
    assert len(dates) == 1
    stamped = parse_http_date(dates[0])
    assert stamped is not None and before <= stamped <= after
    assert response.json() == {"ok": True}


def test_a_date_the_app_set_is_kept(portal: BlockingPortal) -> None:
    client = AsgiClient(app(), portal)
    dates = client.request("GET", "/dated").headers.get_list("date")
    assert dates == ["Mon, 05 Jan 2026 09:00:00 GMT"]


def test_other_scopes_pass_through(portal: BlockingPortal) -> None:
    seen: list[str] = []

    async def inner(scope: dict[str, object], receive: object, send: object) -> None:
        seen.append(str(scope["type"]))

    middleware = DateMiddleware(inner)  # type: ignore[arg-type]
    portal.call(middleware, {"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]
