"""ifmatch.integrations.starlette_patch in a FastAPI app over the ASGI transport: the PATCH table
(415, 400, 422, 409, 412, 428, 200), Accept-Patch, and the async SQLAlchemy store."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

# At module level: FastAPI resolves a route's annotations in the module's namespace.
from ifmatch.integrations.fastapi import ConditionalRequest
from ifmatch.stores.memory import MemoryStore
from integrations.http_conformance import AsgiClient
from integrations.patch_apps import create_fastapi_app
from integrations.patch_cases import (
    CASES,
    MERGE,
    PatchCase,
    Reply,
    Send,
    check_accept_patch,
    check_idempotent_retry,
    run_case,
)
from services import Database

_keys = itertools.count()


def asgi_send(app: Any, portal: BlockingPortal) -> Send:
    client = AsgiClient(app, portal)

    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> Reply:
        response = client.request(method, path, headers=headers, content=body)
        fields = {name.lower(): value for name, value in response.headers.items()}
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        return Reply(response.status_code, fields, parsed)

    return send


@pytest.mark.parametrize("case", CASES, ids=str)
def test_patch_table(portal: BlockingPortal, case: PatchCase) -> None:
    send = asgi_send(create_fastapi_app(MemoryStore()), portal)
    run_case(send, case, f"doc{next(_keys)}")


def test_accept_patch_on_get_and_options(portal: BlockingPortal) -> None:
    check_accept_patch(asgi_send(create_fastapi_app(MemoryStore()), portal), "doc")


def test_pydantic_validation_errors_are_listed(portal: BlockingPortal) -> None:
    from fastapi import Depends, FastAPI
    from pydantic import BaseModel, ConfigDict

    from ifmatch.integrations.fastapi import Conditional, install
    from ifmatch.integrations.starlette_patch import apply_patch

    class Doc(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        title: str

    store = MemoryStore()
    store.compare_and_set("d", store_expect_absent(), {"title": "t"})
    app = FastAPI()
    documents = Conditional(store, key="doc_id")

    @app.patch("/documents/{doc_id}")
    async def patch(
        doc_id: str,
        condition: ConditionalRequest = Depends(documents),  # noqa: B008
    ) -> dict[str, Any]:
        return await apply_patch(  # type: ignore[no-any-return]
            condition,
            lambda doc: Doc.model_validate(doc).model_dump(),
            represent=lambda values: {"title": values["title"]},
        )

    send = asgi_send(install(app), portal)
    reply = send(
        "PATCH", "/documents/d", {"If-Match": '"v1"', "Content-Type": MERGE}, b'{"title": 3}'
    )
    assert reply.status == 422, reply
    assert reply.body["code"] == "unprocessable-patch"
    assert reply.body["errors"][0]["loc"] == ["title"]
    ok = send(
        "PATCH", "/documents/d", {"If-Match": '"v1"', "Content-Type": MERGE}, b'{"title": "new"}'
    )
    assert ok.status == 200 and ok.body == {"title": "new"} and ok.headers["etag"] == '"v2"'


def store_expect_absent() -> Any:
    from ifmatch.stores import Expectation

    return Expectation(exists=False)


@pytest.fixture(scope="module")
def pg_async_url(postgres_db: Database) -> str:
    from integrations.patch_apps import create_tables

    create_tables(postgres_db.sqlalchemy_url())
    return postgres_db.sqlalchemy_url(asynchronous=True)


@pytest.fixture(scope="module")
def pg_send(pg_async_url: str) -> Iterator[Send]:
    with pytest.MonkeyPatch.context() as patch, start_blocking_portal() as module_portal:
        from integrations.example_models import DATABASE_URL_ENV

        patch.setenv(DATABASE_URL_ENV, pg_async_url)
        yield asgi_send(create_fastapi_app(), module_portal)


@pytest.mark.services
@pytest.mark.parametrize("case", CASES, ids=str)
def test_patch_table_async_sqlalchemy(pg_send: Send, case: PatchCase) -> None:
    run_case(pg_send, case, f"pg-{case.name}-{next(_keys)}-{id(pg_send)}")


def test_idempotent_retry_is_replayed(portal: BlockingPortal) -> None:
    app = create_fastapi_app(MemoryStore(), idempotency=True)
    check_idempotent_retry(asgi_send(app, portal), "doc")


def test_openapi_documents_the_patch_formats(portal: BlockingPortal) -> None:
    send = asgi_send(create_fastapi_app(MemoryStore()), portal)
    schema = send("GET", "/openapi.json", {}, None).body
    operation = schema["paths"]["/documents/{doc_id}"]["patch"]
    content = operation["requestBody"]["content"]
    assert list(content) == [MERGE, "application/json-patch+json"]
    assert content["application/json-patch+json"]["schema"]["type"] == "array"
    assert {"400", "409", "412", "415", "422", "428"} <= set(operation["responses"])


def test_plain_starlette_endpoint(portal: BlockingPortal) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from ifmatch.integrations.starlette import EXCEPTION_HANDLERS, conditional
    from ifmatch.integrations.starlette_patch import AcceptsPatch, apply_patch
    from ifmatch.stores import Expectation
    from integrations.patch_apps import check_document, represent

    store = MemoryStore()
    store.compare_and_set("d", Expectation(exists=False), {"title": "draft", "tokens": {}})
    accepts = AcceptsPatch()

    @conditional(store, key="doc_id")
    async def document(request: Request) -> Response:
        condition = request.state.ifmatch
        if request.method == "PATCH":
            patched = await apply_patch(condition, check_document, represent=represent)
            return condition.apply(JSONResponse(patched))  # type: ignore[no-any-return]
        found = store.get("d")
        assert found is not None
        return accepts.apply(condition.apply(JSONResponse(represent(found[1]))))

    app = Starlette(
        routes=[Route("/documents/{doc_id}", document, methods=["GET", "PATCH"])],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    send = asgi_send(app, portal)
    read = send("GET", "/documents/d", {}, None)
    assert read.headers["accept-patch"] and read.headers["etag"] == '"v1"'
    stale = send("PATCH", "/documents/d", {"If-Match": '"v0"', "Content-Type": MERGE}, b"{}")
    assert stale.status == 412
    bad = send("PATCH", "/documents/d", {"If-Match": '"v1"', "Content-Type": "text/csv"}, b"a")
    assert bad.status == 415 and bad.headers["accept-patch"]
    ok = send(
        "PATCH", "/documents/d", {"If-Match": '"v1"', "Content-Type": MERGE}, b'{"title": "t"}'
    )
    assert ok.status == 200 and ok.body == {"title": "t", "tokens": {}}
    assert ok.headers["etag"] == '"v2"'


def test_represent_is_required_with_the_store_reader(portal: BlockingPortal) -> None:
    # The stored values hold the key and version columns: no default representation.
    from fastapi import Depends, FastAPI

    from ifmatch.integrations.fastapi import Conditional, install
    from ifmatch.integrations.starlette_patch import apply_patch
    from ifmatch.stores import Expectation

    store = MemoryStore()
    store.compare_and_set("d", Expectation(exists=False), {"title": "t"})
    app = FastAPI()
    documents = Conditional(store, key="doc_id")

    @app.patch("/documents/{doc_id}")
    async def patch(
        doc_id: str,
        condition: ConditionalRequest = Depends(documents),  # noqa: B008
    ) -> Any:
        return await apply_patch(condition, dict)

    with pytest.raises(TypeError, match="represent"):
        asgi_send(install(app), portal)(
            "PATCH", "/documents/d", {"If-Match": '"v1"', "Content-Type": MERGE}, b"{}"
        )
