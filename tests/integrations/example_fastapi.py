"""The FastAPI example app: a document resource through ``Depends(Conditional(...))``, the same
through the ``@protect`` route decorator, and a body-version (409) route. With
``IFMATCH_EXAMPLE_DATABASE_URL`` set it runs on the async SQLAlchemy store (PostgreSQL)."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Response
from pydantic import BaseModel, Field

from ifmatch.core import Policy
from ifmatch.integrations.fastapi import Conditional, ConditionalRequest, install, protect
from ifmatch.stores.memory import MemoryStore


class Document(BaseModel):
    text: str = Field(max_length=10_000)


class VersionedDocument(Document):
    version: int | None = None


class DocumentOut(Document):
    id: str


def require_user() -> str:
    """Stands in for authentication: resolved before the precondition dependency."""
    return "guido"


def create_app(store: MemoryStore | None = None) -> FastAPI:
    memory = store if store is not None else MemoryStore()
    app = FastAPI(title="ifmatch example", dependencies=[Depends(require_user)])
    documents = Conditional(memory, key="doc_id", create=True)
    versioned = Conditional(memory, key="doc_id", create=True, policy=Policy(frozenset()))
    Condition = Annotated[ConditionalRequest, Depends(documents)]

    def load(condition: ConditionalRequest) -> DocumentOut:
        found = memory.get(condition.key)
        if found is None:
            raise HTTPException(404)
        condition.serve(found[0])
        return DocumentOut(id=str(condition.key), **found[1])

    @app.get("/documents/{doc_id}", response_model=DocumentOut)
    async def get_document(doc_id: str, condition: Condition) -> DocumentOut:
        return load(condition)

    @app.head("/documents/{doc_id}", response_model=DocumentOut)
    async def head_document(doc_id: str, condition: Condition) -> DocumentOut:
        return load(condition)

    @app.put("/documents/{doc_id}", response_model=DocumentOut, responses={201: {}})
    async def put_document(
        doc_id: str, body: Document, condition: Condition, response: Response
    ) -> DocumentOut:
        await condition.write(body.model_dump())
        if condition.snapshot is None:
            response.status_code = 201
        return DocumentOut(id=doc_id, text=body.text)

    @app.patch("/documents/{doc_id}", response_model=DocumentOut)
    @protect(memory, key="doc_id")
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
