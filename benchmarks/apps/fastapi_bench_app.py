"""The FastAPI app the FastAPI benchmark serves with uvicorn: the same documents through plain
handlers, through ifmatch, and through fastapi-etag, built as pydantic models, all async."""

import asyncio
import os
from typing import Annotated, Any

from bench_models import DATABASE_URL_ENV, BenchDoc, BenchItem
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi_etag import Etag, add_exception_handler
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import (
    AsyncSession,
    async_scoped_session,
    async_sessionmaker,
    create_async_engine,
)

from ifmatch.integrations.fastapi import Conditional, ConditionalRequest, install
from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore, snapshot


class Meta(BaseModel):
    tags: list[str]
    label: str


class Item(BaseModel):
    position: int
    name: str
    value: float
    meta: Meta


class Doc(BaseModel):
    id: str
    text: str
    items: list[Item]


class TextIn(BaseModel):
    text: str


async def build(session: AsyncSession, doc: BenchDoc) -> Doc:
    rows = await session.scalars(
        select(BenchItem).where(BenchItem.doc_id == doc.id).order_by(BenchItem.position)
    )
    items = [
        Item(
            position=row.position,
            name=row.name,
            value=row.value,
            meta=Meta(tags=row.tags.split(","), label=f"#{row.position}"),
        )
        for row in rows
    ]
    text = await session.scalar(select(BenchDoc.text).where(BenchDoc.id == doc.id))
    return Doc(id=doc.id, text=text or "", items=items)


def request_task() -> object:
    try:
        return asyncio.current_task()
    except RuntimeError:  # at start-up, outside the event loop
        return None


def create_app() -> FastAPI:
    url = os.environ[DATABASE_URL_ENV].replace("+psycopg", "+asyncpg")
    engine = create_async_engine(url, pool_size=4, max_overflow=0)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    # One session per request (scoped to the request's task): the store reads and writes in
    # it, the handler commits.
    db = async_scoped_session(sessions, scopefunc=request_task)
    store = AsyncSQLAlchemyStore(BenchDoc, db)
    app = FastAPI()

    async def session() -> Any:
        try:
            yield db()
        finally:
            await db.remove()

    Session = Annotated[AsyncSession, Depends(session)]
    documents = Conditional(store, load=lambda key: db.get(BenchDoc, key), snapshot=snapshot)
    Condition = Annotated[ConditionalRequest, Depends(documents)]

    async def get_or_404(session: AsyncSession, doc_id: str) -> BenchDoc:
        doc = await session.get(BenchDoc, doc_id)
        if doc is None:
            raise HTTPException(404)
        return doc

    @app.get("/health")
    async def health() -> str:
        return "ok"

    # The same handlers without ifmatch: load the row (404 if missing), render or update.
    @app.get("/bare/{doc_id}", response_model=Doc)
    async def bare_get(doc_id: str, session: Session) -> Doc:
        return await build(session, await get_or_404(session, doc_id))

    @app.put("/bare/{doc_id}")
    async def bare_put(doc_id: str, body: TextIn, session: Session) -> dict[str, str]:
        await get_or_404(session, doc_id)
        statement = update(BenchDoc).where(BenchDoc.id == doc_id).values(text=body.text)
        await session.execute(statement)
        await session.commit()
        return {"id": doc_id, "text": body.text}

    # With ifmatch: the dependency loads the row (its version gives the ETag) in the request's
    # session; the handler builds the body only after the preconditions passed.
    @app.get("/ifmatch/{doc_id}", response_model=Doc)
    async def ifmatch_get(doc_id: str, session: Session, condition: Condition) -> Doc:
        return await build(session, condition.instance)

    @app.put("/ifmatch/{doc_id}")
    async def ifmatch_put(
        doc_id: str, body: TextIn, session: Session, condition: Condition
    ) -> dict[str, str]:
        await condition.write({"text": body.text})
        await session.commit()
        return {"id": doc_id, "text": body.text}

    # fastapi-etag, as its README shows: an ETag function run before the handler. Given the
    # same version column (its cheapest honest source), it computes the same tag as ifmatch.
    async def version_tag(request: Request) -> str:
        async with sessions() as own:
            doc = await get_or_404(own, request.path_params["doc_id"])
            return f"v{doc.version}"

    @app.get("/fetag/{doc_id}", response_model=Doc, dependencies=[Depends(Etag(version_tag))])
    async def fetag_get(doc_id: str, session: Session) -> Doc:
        return await build(session, await get_or_404(session, doc_id))

    add_exception_handler(app)
    return install(app)
