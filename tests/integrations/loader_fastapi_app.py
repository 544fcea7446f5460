"""A FastAPI app written as docs/fastapi.md's fast pattern: a loader that yields the row from a
session scoped to the request, the store writing in that session, the handler committing, and
false preconditions answered before the handler (``answer_before_view``), and a revalidation
still current answered from ``store.peek`` alone. For the lost-update race and the stale-304
check under several uvicorn workers (``tests/integrations/test_fastapi_loader.py``)."""

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import async_scoped_session, async_sessionmaker, create_async_engine

from ifmatch.integrations.fastapi import Conditional, ConditionalRequest, install
from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore
from integrations import example_models


class DocumentIn(BaseModel):
    text: str


def create_app() -> FastAPI:
    engine = create_async_engine(os.environ[example_models.DATABASE_URL_ENV], pool_size=2)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    db = async_scoped_session(sessions, scopefunc=asyncio.current_task)
    store = AsyncSQLAlchemyStore(example_models.Document, db)

    async def load(key: str) -> AsyncIterator[example_models.Document | None]:
        try:
            yield await db.get(example_models.Document, key)
        finally:
            await db.remove()

    documents = Conditional(
        store, key="doc_id", load=load, answer_before_view=True, validators=store.peek
    )
    Condition = Annotated[ConditionalRequest, Depends(documents)]
    app = FastAPI()

    @app.get("/documents/{doc_id}")
    async def read(doc_id: str, condition: Condition) -> DocumentIn:
        return DocumentIn(text=condition.instance.text)

    @app.put("/documents/{doc_id}")
    async def replace(doc_id: str, body: DocumentIn, condition: Condition) -> DocumentIn:
        await condition.write(body.model_dump())
        await db.commit()
        return body

    return install(app)
