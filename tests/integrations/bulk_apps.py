"""The example apps with a bulk endpoint on their document collection (``PATCH /documents``),
for the multi-process races: the Flask app on the SQLAlchemy store (gunicorn), the FastAPI
app on the async SQLAlchemy store (uvicorn). Both read ``IFMATCH_EXAMPLE_DATABASE_URL``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from flask import Flask

from ifmatch.integrations import flask_bulk, starlette_bulk
from ifmatch.stores.memory import MemoryStore
from integrations import example_fastapi, example_flask


def create_flask_app() -> Flask:
    app = example_flask.create_app()
    store = app.extensions["ifmatch"].store
    bulk = flask_bulk.BulkUpdate(store, fields={"text"})
    app.add_url_rule("/documents", "documents_bulk", flask_bulk.bulk_view(bulk), methods=["PATCH"])
    return app


def create_fastapi_app() -> FastAPI:
    store: Any = example_fastapi.database_store() or MemoryStore()
    app = example_fastapi.create_app(store)
    bulk = starlette_bulk.BulkUpdate(store, fields={"text"})

    @app.patch("/documents")
    async def update_documents(request: Request) -> Response:
        return await starlette_bulk.bulk_response(request, bulk)

    return app
