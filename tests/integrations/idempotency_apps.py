"""Apps that honour Idempotency-Key, as docs/idempotency.md shows them, one per integration,
over any store that keeps idempotency records. Each serves ``/docs/<id>`` (GET, PUT that may
create, PATCH, DELETE), answers a write with the document, and requires a key on DELETE."""

from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from flask import Flask, jsonify, request
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from ifmatch.integrations import Idempotency
from ifmatch.integrations.fastapi import Conditional, ConditionalRequest, install
from ifmatch.integrations.flask import IfMatch, current_condition
from ifmatch.integrations.starlette import EXCEPTION_HANDLERS, conditional

KEYS = Idempotency(required={"DELETE"})
SHORT = Idempotency(required={"DELETE"}, retention=timedelta(0))


def text_of(store: Any, key: Any) -> str | None:
    found = store.get(key)
    if found is None:
        return None
    value = found[1]["text"]
    return value.decode() if isinstance(value, bytes) else str(value)


def flask_app(store: Any, keys: Idempotency = KEYS) -> Flask:
    app = Flask("idempotency")
    ifmatch = IfMatch(app, store=store)

    @app.route("/docs/<doc_id>", methods=["GET", "PUT", "PATCH", "DELETE"])
    @ifmatch.protect(create=True, idempotency=keys, idempotency_scope=lambda: "guido")
    def document(doc_id: str) -> Any:
        condition = current_condition()
        if request.method == "DELETE":
            condition.delete()
            return "", 204
        if request.method in {"PUT", "PATCH"}:
            condition.write({"text": request.get_json()["text"]})
            status = 201 if condition.snapshot is None else 200
            return jsonify(text=text_of(store, doc_id)), status
        return jsonify(text=text_of(store, doc_id))

    return app


class Body(BaseModel):
    text: str


def fastapi_app(store: Any, keys: Idempotency = KEYS) -> FastAPI:
    app = install(FastAPI())
    documents = Conditional(
        store, key="doc_id", create=True, idempotency=keys, idempotency_scope=lambda r: "guido"
    )
    Condition = Annotated[ConditionalRequest, Depends(documents)]

    @app.api_route("/docs/{doc_id}", methods=["GET", "HEAD"])
    async def read(doc_id: str, condition: Condition) -> Any:
        return {"id": doc_id}

    @app.api_route("/docs/{doc_id}", methods=["PUT", "PATCH"])
    async def write(doc_id: str, body: Body, condition: Condition, response: Response) -> Any:
        await condition.write({"text": body.text})
        if condition.snapshot is None:
            response.status_code = 201
        return {"text": body.text}

    @app.delete("/docs/{doc_id}", status_code=204)
    async def delete(doc_id: str, condition: Condition) -> Response:
        await condition.delete()
        return Response(status_code=204)

    return app


def starlette_app(store: Any, keys: Idempotency = KEYS) -> Starlette:
    @conditional(store, key="doc_id", create=True, idempotency=keys)
    async def document(request: Request) -> Any:
        condition = request.state.ifmatch
        if request.method == "DELETE":
            await condition.delete()
            return Response(status_code=204)
        if request.method in {"PUT", "PATCH"}:
            text = (await request.json())["text"]
            await condition.write({"text": text})
            status = 201 if condition.snapshot is None else 200
            return JSONResponse({"text": text}, status_code=status)
        return JSONResponse({"id": request.path_params["doc_id"]})

    route = Route("/docs/{doc_id}", document, methods=["GET", "PUT", "PATCH", "DELETE"])
    return Starlette(routes=[route], exception_handlers=dict(EXCEPTION_HANDLERS))
