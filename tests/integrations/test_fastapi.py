"""ifmatch.integrations.fastapi: the shared conformance table against a FastAPI app, the route
decorator, the body-version scheme, exception handlers and the OpenAPI schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anyio.from_thread import BlockingPortal

from conformance import HTTP_CASES, Case
from integrations.example_fastapi import create_app
from integrations.http_conformance import Runner
from integrations.test_starlette import AsgiClient, portal  # noqa: F401 (fixture)


@pytest.fixture
def client(portal: BlockingPortal) -> AsgiClient:  # noqa: F811
    return AsgiClient(create_app(), portal)


@pytest.fixture
def runner(client: AsgiClient) -> Iterator[Runner]:
    runner = Runner(client.send)
    yield runner
    runner.lint_all()


@pytest.mark.parametrize("case", HTTP_CASES, ids=str)
def test_conformance_fastapi(runner: Runner, case: Case) -> None:
    runner.run(case)
