"""The FastAPI example app: a document resource through ``Depends(Conditional(...))``, the same
through the ``@protect`` route decorator, and a body-version (409) route. With
``IFMATCH_EXAMPLE_DATABASE_URL`` set it runs on the async SQLAlchemy store (PostgreSQL).

It stamps its own exact ``Date`` (``DateMiddleware``): run it with uvicorn's
``--no-date-header``."""

import inspect
import os
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Response
from pydantic import BaseModel, Field

from ifmatch.core import Policy
from ifmatch.integrations.date import DateMiddleware
from ifmatch.integrations.fastapi import (
    BodyVersion,
    Conditional,
    ConditionalRequest,
    install,
    protect,
)
from ifmatch.stores import AsyncVersionStore, Snapshot, VersionStore
from ifmatch.stores.memory import MemoryStore
from integrations import example_models


class Document(BaseModel):
    text: str = Field(max_length=10_000)


class VersionedDocument(Document):
    version: BodyVersion | None = None


class DocumentOut(Document):
    id: str


def require_user() -> str:
    """Stands in for authentication: resolved before the precondition dependency."""
    return "guido"


ENGINES: list[Any] = []  # so tests can dispose of them on the loop that made them


def database_store() -> AsyncVersionStore[Any] | None:
    """The async SQLAlchemy store on ``IFMATCH_EXAMPLE_DATABASE_URL``, if it is set."""
    url = os.environ.get(example_models.DATABASE_URL_ENV)
    if not url:
        return None
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore

    engine = create_async_engine(url, pool_size=4, max_overflow=0)
    ENGINES.append(engine)
    return AsyncSQLAlchemyStore(example_models.Document, async_sessionmaker(engine))


def create_app(
    store: VersionStore[Any] | AsyncVersionStore[Any] | None = None, *, idempotency: bool = False
) -> FastAPI:
    """The example app over ``store``: in memory, or the database store when configured;
    with ``idempotency``, the document routes honour ``Idempotency-Key`` (the store must keep
    idempotency records)."""
    chosen: Any = store or database_store() or MemoryStore()
    app = FastAPI(title="ifmatch example", dependencies=[Depends(require_user)])
    app.add_middleware(DateMiddleware)
    documents = Conditional(chosen, key="doc_id", create=True, idempotency=idempotency)
    versioned = Conditional(
        chosen,
        key="doc_id",
        create=True,
        policy=Policy(frozenset()),
        idempotency=idempotency,
    )
    Condition = Annotated[ConditionalRequest, Depends(documents)]

    async def get(key: Any) -> tuple[Snapshot, dict[str, Any]] | None:
        found = chosen.get(key)
        return await found if inspect.isawaitable(found) else found  # type: ignore[no-any-return]

    async def load(condition: ConditionalRequest) -> DocumentOut:
        found = await get(condition.key)
        if found is None:
            raise HTTPException(404)
        condition.serve(found[0])
        return DocumentOut(id=str(condition.key), text=found[1]["text"])

    @app.get("/documents/{doc_id}", response_model=DocumentOut)
    async def get_document(doc_id: str, condition: Condition) -> DocumentOut:
        return await load(condition)

    @app.head("/documents/{doc_id}", response_model=DocumentOut)
    async def head_document(doc_id: str, condition: Condition) -> DocumentOut:
        return await load(condition)

    @app.put("/documents/{doc_id}", response_model=DocumentOut, responses={201: {}})
    async def put_document(
        doc_id: str, body: Document, condition: Condition, response: Response
    ) -> DocumentOut:
        await condition.write(body.model_dump())
        if condition.snapshot is None:
            response.status_code = 201
        return DocumentOut(id=doc_id, text=body.text)

    @app.patch("/documents/{doc_id}", response_model=DocumentOut)
    @protect(chosen, key="doc_id")
    async def patch_document(
        doc_id: str, body: Document, condition: ConditionalRequest
    ) -> DocumentOut:
        await condition.write(body.model_dump())
        return DocumentOut(id=doc_id, text=body.text)

    @app.delete("/documents/{doc_id}", status_code=204)
    async def delete_document(doc_id: str, condition: Condition) -> Response:
        await condition.delete()
        return Response(status_code=204)

    @app.put("/versioned/{doc_id}", response_model=DocumentOut)
    async def put_versioned(
        doc_id: str,
        body: VersionedDocument,
        condition: Annotated[ConditionalRequest, Depends(versioned)],
        response: Response,
    ) -> Any:
        await condition.write({"text": body.text}, version=body.version)
        if condition.snapshot is None:
            response.status_code = 201
        return DocumentOut(id=doc_id, text=body.text)

    return install(app)
