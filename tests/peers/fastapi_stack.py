"""fastapi-etag the way its README shows: an ``Etag`` dependency (here on the version column,
its cheapest honest tag source, as in the benchmarks) on the GET and the PUT route, and its
exception handlers. Pydantic models: the PUT body forbids unknown members (``extra="forbid"``),
the response carries ``id`` and ``revision``, which the request may not. Async SQLAlchemy on
asyncpg, under uvicorn (``--factory peers.fastapi_stack:create_app``).

No ``from __future__ import annotations``: FastAPI reads the handlers' annotations, and
``Session`` is local to ``create_app``."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi_etag import Etag, add_exception_handler
from pydantic import BaseModel, ConfigDict
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from peers.tables import PeerDocument, database_url


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    text: str


class DocumentOut(BaseModel):
    id: int
    title: str
    text: str
    revision: int


def create_app() -> FastAPI:
    engine = create_async_engine(database_url("asyncpg"), pool_size=2, max_overflow=2)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    app = FastAPI()
    add_exception_handler(app)

    async def session() -> Any:
        async with sessions() as opened:
            yield opened

    Session = Annotated[AsyncSession, Depends(session)]

    async def get_or_404(db: AsyncSession, doc_id: int) -> PeerDocument:
        doc = await db.get(PeerDocument, doc_id)
        if doc is None:
            raise HTTPException(404)
        return doc

    async def version_tag(request: Request) -> str:
        async with sessions() as own:
            doc = await get_or_404(own, int(request.path_params["doc_id"]))
            return f"v{doc.version}"

    def out(doc: PeerDocument) -> DocumentOut:
        return DocumentOut(id=doc.id, title=doc.title, text=doc.text, revision=doc.version)

    @app.get("/health")
    async def health() -> str:
        return "ok"

    @app.get("/documents/{doc_id}", dependencies=[Depends(Etag(version_tag))])
    async def read(doc_id: int, db: Session) -> DocumentOut:
        return out(await get_or_404(db, doc_id))

    @app.put("/documents/{doc_id}", dependencies=[Depends(Etag(version_tag))])
    async def replace(doc_id: int, body: DocumentIn, db: Session) -> DocumentOut:
        await get_or_404(db, doc_id)
        statement = update(PeerDocument).where(PeerDocument.id == doc_id)
        values = {"title": body.title, "text": body.text, "version": PeerDocument.version + 1}
        await db.execute(statement.values(**values))
        await db.commit()
        doc = await get_or_404(db, doc_id)
        await db.refresh(doc)
        return out(doc)

    return app
