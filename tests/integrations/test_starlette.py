"""ifmatch.integrations.starlette in process (httpx's ASGI transport): the shared conformance
table against a plain Starlette app, then the endpoint-facing API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from conformance import HTTP_CASES, Case
from integrations.example_starlette import create_app
from integrations.http_conformance import Exchange, Headers, Runner, with_date


class AsgiClient:
    """A synchronous client for an ASGI app: requests run on one event loop in a portal."""

    def __init__(self, app: Callable[..., Any], portal: BlockingPortal) -> None:
        transport = httpx.ASGITransport(app=app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self.portal = portal

    def request(self, method: str, target: str, **kwargs: Any) -> httpx.Response:
        return self.portal.call(lambda: self.client.request(method, target, **kwargs))

    def send(self, method: str, target: str, headers: Headers, body: bytes | None) -> Exchange:
        response = self.request(method, target, headers=headers, content=body)
        return Exchange(
            method,
            target,
            headers,
            body,
            response.status_code,
            with_date(list(response.headers.multi_items())),
            response.content,
        )


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as portal:
        yield portal


@pytest.fixture
def client(portal: BlockingPortal) -> AsgiClient:
    return AsgiClient(create_app(), portal)


@pytest.fixture
def runner(client: AsgiClient) -> Iterator[Runner]:
    runner = Runner(client.send)
    yield runner
    runner.lint_all()


@pytest.mark.parametrize("case", HTTP_CASES, ids=str)
def test_conformance_starlette(runner: Runner, case: Case) -> None:
    runner.run(case)
