"""The FastAPI benchmark app (uvicorn): the same documents without ifmatch, with ifmatch and
with fastapi-etag (given the version column, its cheapest honest tag source); pydantic
models, asyncpg, all async."""

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi_etag import Etag, add_exception_handler
from pydantic import BaseModel
from sa_models import DATABASE_URL_ENV, BenchDoc, BenchItem
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import (
    AsyncSession,
    async_scoped_session,
    async_sessionmaker,
    create_async_engine,
)

from ifmatch.integrations.fastapi import Conditional, ConditionalRequest, install
from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore, snapshot


class Item(BaseModel):
    id: int
    position: int
    name: str
    value: float
    tags: str


class Doc(BaseModel):
    id: int
    title: str
    text: str
    items: list[Item]


class TextIn(BaseModel):
    text: str
    title: str | None = None


def request_task() -> object:
    try:
        return asyncio.current_task()
    except RuntimeError:  # at start-up, outside the event loop
        return None


def create_app() -> FastAPI:
    url = os.environ[DATABASE_URL_ENV].replace("postgresql://", "postgresql+asyncpg://")
    engine = create_async_engine(url, pool_size=4, max_overflow=4)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    # One session per request, scoped to the request's task.
    db = async_scoped_session(sessions, scopefunc=request_task)
    app = FastAPI()

    async def session() -> Any:
        try:
            yield db()
        finally:
            await db.remove()

    Session = Annotated[AsyncSession, Depends(session)]
    # ifmatch as docs/fastapi.md shows it: a GET carrying If-None-Match is first checked
    # against the validators alone (store.peek: one SELECT in autocommit, no session), and a
    # copy still current is answered 304 from them before the handler runs (no access check
    # follows the dependency here). Otherwise the loader reads the row without its body (text
    # is deferred) in the request's session and yields it; the validators come from it, and
    # the handler builds the body in that session, closed when the request ends. The store
    # writes in the same session, and the handler commits: one connection per request.
    store = AsyncSQLAlchemyStore(BenchDoc, db)

    async def load(key: int) -> AsyncIterator[BenchDoc | None]:
        try:
            yield await db.get(BenchDoc, key)
        finally:
            await db.remove()

    documents = Conditional(
        store,
        key=lambda request: int(request.path_params["doc_id"]),
        load=load,
        snapshot=snapshot,
        answer_before_view=True,
        validators=store.peek,  # a revalidation still current: one SELECT, then 304
    )
    Condition = Annotated[ConditionalRequest, Depends(documents)]

    async def build(session: AsyncSession, doc: BenchDoc) -> Doc:
        rows = await session.scalars(
            select(BenchItem).where(BenchItem.doc_id == doc.id).order_by(BenchItem.position)
        )
        items = [
            Item(id=r.id, position=r.position, name=r.name, value=r.value, tags=r.tags)
            for r in rows
        ]
        text = await session.scalar(select(BenchDoc.text).where(BenchDoc.id == doc.id))
        return Doc(id=doc.id, title=doc.title, text=text or "", items=items)

    async def get_or_404(session: AsyncSession, doc_id: int) -> BenchDoc:
        doc = await session.get(BenchDoc, doc_id)
        if doc is None:
            raise HTTPException(404)
        return doc

    @app.get("/health")
    async def health() -> str:
        return "ok"

    @app.get("/fastapi/bare/docs/{doc_id}", response_model=Doc)
    async def bare_get(doc_id: int, session: Session) -> Doc:
        return await build(session, await get_or_404(session, doc_id))

    @app.put("/fastapi/bare/docs/{doc_id}", response_model=Doc)
    async def bare_put(doc_id: int, body: TextIn, session: Session) -> Doc:
        doc = await get_or_404(session, doc_id)
        statement = update(BenchDoc).where(BenchDoc.id == doc_id)
        await session.execute(statement.values(text=body.text, version=BenchDoc.version + 1))
        await session.commit()
        return await build(session, doc)

    # The handler runs only after the preconditions passed, and builds the body then.
    @app.get("/fastapi/ifmatch/docs/{doc_id}", response_model=Doc)
    async def ifmatch_get(doc_id: int, condition: Condition) -> Doc:
        return await build(db(), condition.instance)

    @app.put("/fastapi/ifmatch/docs/{doc_id}", response_model=Doc)
    async def ifmatch_put(doc_id: int, body: TextIn, condition: Condition) -> Doc:
        await condition.write({"text": body.text})  # the guarded UPDATE
        await db.commit()
        return await build(db(), condition.instance)

    async def version_tag(request: Request) -> str:
        async with sessions() as own:
            doc = await get_or_404(own, int(request.path_params["doc_id"]))
            return f"v{doc.version}"

    @app.get(
        "/fastapi/fastapi-etag/docs/{doc_id}",
        response_model=Doc,
        dependencies=[Depends(Etag(version_tag))],
    )
    async def fetag_get(doc_id: int, session: Session) -> Doc:
        return await build(session, await get_or_404(session, doc_id))

    add_exception_handler(app)
    return install(app)
