"""ifmatch.integrations.starlette in process (httpx's ASGI transport): the shared conformance
table against a plain Starlette app, then the endpoint-facing API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anyio.from_thread import BlockingPortal
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conformance import HTTP_CASES, Case
from ifmatch.core import Policy
from ifmatch.integrations.starlette import EXCEPTION_HANDLERS, conditional
from ifmatch.stores import Expectation
from ifmatch.stores.memory import MemoryStore
from integrations.example_starlette import create_app
from integrations.fast_writes import check_fast_writes
from integrations.http_conformance import AsgiClient, Runner
from integrations.lost_updates import serialization_failure


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


def test_a_serialization_failure_in_the_endpoint_is_412(portal: BlockingPortal) -> None:
    from sqlalchemy.exc import OperationalError

    store = MemoryStore()
    store.compare_and_set("d", Expectation(exists=False), {"text": "x"})

    @conditional(store, key="doc_id")
    async def document(request: Request) -> Response:
        await request.state.ifmatch.write({"text": "y"})
        if request.query_params.get("fail") == "conflict":
            raise serialization_failure()  # as the endpoint's own commit raises it
        raise OperationalError("COMMIT", {}, ValueError("the disk is full"))

    app = Starlette(routes=[Route("/documents/{doc_id}", document, methods=["PUT"])])
    client = AsgiClient(app, portal)
    refused = client.request("PUT", "/documents/d?fail=conflict", headers={"If-Match": '"v1"'})
    assert refused.status_code == 412 and refused.json()["code"] == "write-conflict"
    with pytest.raises(OperationalError):
        client.request("PUT", "/documents/d?fail=other", headers={"If-Match": '"v2"'})


@pytest.mark.parametrize("lenient", [True, False])
def test_accept_bare_version_token(portal: BlockingPortal, lenient: bool) -> None:
    store = MemoryStore()
    store.compare_and_set("d", Expectation(exists=False), {"text": "x"})

    @conditional(store, key="doc_id", policy=Policy(accept_bare_version_token=lenient))
    async def document(request: Request) -> Response:
        await request.state.ifmatch.write({"text": "y"})
        return Response(status_code=204)

    app = Starlette(
        routes=[Route("/documents/{doc_id}", document, methods=["PUT"])],
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )
    answer = AsgiClient(app, portal).request("PUT", "/documents/d", headers={"If-Match": "v1"})
    if lenient:
        assert answer.status_code == 204 and answer.headers["etag"] == '"v2"'
    else:
        assert answer.status_code == 400 and answer.json()["header"] == "If-Match"
        assert store.read("d").version == 1  # type: ignore[union-attr]
