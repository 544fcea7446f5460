"""The plain Starlette example app: one document resource behind ``@conditional``."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ifmatch.integrations.starlette import EXCEPTION_HANDLERS, ConditionalRequest, conditional
from ifmatch.stores.memory import MemoryStore


def create_app(store: MemoryStore | None = None, *, last_modified: bool = True) -> Starlette:
    memory = store if store is not None else MemoryStore()

    @conditional(memory, key="doc_id", create=True, last_modified=last_modified)
    async def document(request: Request) -> Response:
        condition: ConditionalRequest = request.state.ifmatch
        if request.method in {"GET", "HEAD"}:
            found = memory.get(condition.key)
            assert found is not None
            condition.serve(found[0])
            return JSONResponse({"id": condition.key, **found[1]})
        if request.method == "DELETE":
            await condition.delete()
            return Response(status_code=204)
        payload: Any = await request.json()
        await condition.write({"text": str(payload["text"])})
        status = 201 if condition.snapshot is None else 200
        return JSONResponse({"id": condition.key, "text": payload["text"]}, status_code=status)

    methods = ["GET", "HEAD", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[Route("/documents/{doc_id}", document, methods=methods)],
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )
