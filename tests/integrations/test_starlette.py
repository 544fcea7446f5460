"""ifmatch.integrations.starlette in process (httpx's ASGI transport): the shared conformance
table against a plain Starlette app, then the endpoint-facing API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anyio.from_thread import BlockingPortal

from conformance import HTTP_CASES, Case
from ifmatch.stores.memory import MemoryStore
from integrations.example_starlette import create_app
from integrations.fast_writes import check_fast_writes
from integrations.http_conformance import AsgiClient, Runner


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


def test_fast_writes_never_send_a_last_modified_later_than_date(portal: BlockingPortal) -> None:
    store = MemoryStore()
    runner = Runner(AsgiClient(create_app(store), portal).send)
    runner.create("/documents/fast")
    check_fast_writes(runner, "/documents/fast", lambda: store.get("fast")[0].last_modified)  # type: ignore[index]
