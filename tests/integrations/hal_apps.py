"""Eve-style HAL list endpoints over the Flask, FastAPI and Starlette integrations, for the
halchemy tests (``tests/integrations/test_halchemy.py``).

Each app serves ``GET /documents/``: every document as an Eve/HAL collection
(``{"_items": [...], "_links": {...}}``), each item carrying its bare ``_etag`` (``v3``) and its
``_links.self.href``; and ``/documents/{doc_id}``: the conditional item resource (GET, PUT with
``If-None-Match: *`` to create, PUT and DELETE with ``If-Match``). One worker, a memory store.

No ``from __future__ import annotations``: FastAPI reads the handlers' annotations at run time,
and they name classes local to ``fastapi_app``.
"""

from typing import Annotated, Any

from ifmatch.stores import Snapshot
from ifmatch.stores.memory import MemoryStore


class Documents:
    """A memory store and the keys it holds, in creation order (the store cannot list them)."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.keys: list[str] = []

    def created(self, key: str) -> None:
        if key not in self.keys:
            self.keys.append(key)

    def item(self, key: str, snapshot: Snapshot, values: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": key,
            "text": values["text"],
            "_etag": snapshot.etag().opaque,  # the bare token, as Eve writes it
            "_links": {"self": {"href": f"/documents/{key}"}},
        }

    def collection(self) -> dict[str, Any]:
        found = ((key, self.store.get(key)) for key in self.keys)
        items = [self.item(key, *record) for key, record in found if record is not None]
        return {"_items": items, "_links": {"self": {"href": "/documents/"}}}


def _text(payload: Any) -> str | None:
    text = payload.get("text") if isinstance(payload, dict) else None
    return text if isinstance(text, str) else None


BAD_BODY = {"title": "Bad Request", "status": 400, "detail": "send {'text': ...}"}


def flask_app() -> Any:
    from flask import Flask, jsonify, request
    from flask.typing import ResponseReturnValue

    from ifmatch.integrations.flask import IfMatch, current_condition

    documents = Documents()
    app = Flask(__name__)
    ifmatch = IfMatch(app, store=documents.store)

    @app.get("/documents/")
    def listing() -> ResponseReturnValue:
        return jsonify(documents.collection())

    @app.route("/documents/<doc_id>", methods=["GET", "PUT", "DELETE"])
    @ifmatch.protect(create=True)
    def document(doc_id: str) -> ResponseReturnValue:
        condition = current_condition()
        if request.method == "GET":
            found = documents.store.get(doc_id)
            if found is None:
                return jsonify(title="Not Found"), 404
            condition.serve(found[0])
            return jsonify(documents.item(doc_id, *found))
        if request.method == "DELETE":
            condition.delete()
            return "", 204
        text = _text(request.get_json(silent=True))
        if text is None:
            return jsonify(BAD_BODY), 400
        snapshot = condition.write({"text": text})
        documents.created(doc_id)
        body = documents.item(doc_id, snapshot, {"text": text})
        return jsonify(body), 201 if condition.snapshot is None else 200

    return app


def fastapi_app() -> Any:
    from fastapi import Depends, FastAPI, HTTPException, Response
    from pydantic import BaseModel

    from ifmatch.integrations.fastapi import Conditional, ConditionalRequest, install

    class Document(BaseModel):
        text: str

    documents = Documents()
    app = FastAPI()
    Condition = Annotated[
        ConditionalRequest, Depends(Conditional(documents.store, key="doc_id", create=True))
    ]

    @app.get("/documents/")
    async def listing() -> dict[str, Any]:
        return documents.collection()

    @app.get("/documents/{doc_id}")
    async def get_document(doc_id: str, condition: Condition) -> dict[str, Any]:
        found = documents.store.get(doc_id)
        if found is None:
            raise HTTPException(404)
        condition.serve(found[0])
        return documents.item(doc_id, *found)

    @app.put("/documents/{doc_id}")
    async def put_document(
        doc_id: str, body: Document, condition: Condition, response: Response
    ) -> dict[str, Any]:
        snapshot = await condition.write({"text": body.text})
        documents.created(doc_id)
        if condition.snapshot is None:
            response.status_code = 201
        return documents.item(doc_id, snapshot, {"text": body.text})

    @app.delete("/documents/{doc_id}", status_code=204)
    async def delete_document(doc_id: str, condition: Condition) -> Response:
        await condition.delete()
        return Response(status_code=204)

    return install(app)


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from ifmatch.integrations.starlette import (
        EXCEPTION_HANDLERS,
        ConditionalRequest,
        conditional,
    )

    documents = Documents()

    async def listing(request: Request) -> Response:
        return JSONResponse(documents.collection())

    @conditional(documents.store, key="doc_id", create=True)
    async def document(request: Request) -> Response:
        condition: ConditionalRequest = request.state.ifmatch
        key = str(condition.key)
        if request.method == "GET":
            found = documents.store.get(key)
            if found is None:
                return JSONResponse({"title": "Not Found"}, status_code=404)
            condition.serve(found[0])
            return JSONResponse(documents.item(key, *found))
        if request.method == "DELETE":
            await condition.delete()
            return Response(status_code=204)
        try:
            text = _text(await request.json())
        except ValueError:  # not JSON
            text = None
        if text is None:
            return JSONResponse(BAD_BODY, status_code=400)
        snapshot = await condition.write({"text": text})
        documents.created(key)
        status = 201 if condition.snapshot is None else 200
        return JSONResponse(documents.item(key, snapshot, {"text": text}), status_code=status)

    return Starlette(
        routes=[
            Route("/documents/", listing, methods=["GET"]),
            Route("/documents/{doc_id}", document, methods=["GET", "PUT", "DELETE"]),
        ],
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )
