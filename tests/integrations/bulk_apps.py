"""The example apps with a bulk endpoint on their document collection
(``POST /documents:batchUpdate``), for the multi-process races: the Flask app on the
SQLAlchemy store (gunicorn), the FastAPI app on the async SQLAlchemy store (uvicorn). Both
read ``IFMATCH_EXAMPLE_DATABASE_URL``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request, Response
from flask import Flask

from ifmatch.integrations import flask_bulk, starlette_bulk
from ifmatch.stores import CASResult, Expectation, Snapshot
from ifmatch.stores.base import BulkItem
from ifmatch.stores.memory import MemoryStore
from integrations import example_fastapi, example_flask


class CheckThenWrite:
    """A store that forgets each item's expectation when it writes: the batch's preconditions
    are then checked only against the state read before, as check-then-write helpers do. Kept
    only so the race test shows its harness can catch lost updates."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def read(self, key: Any) -> Snapshot | None:
        snapshot: Snapshot | None = self.store.read(key)
        return snapshot

    def compare_and_set_many(
        self, items: Iterable[BulkItem[Any]], *, all_or_nothing: bool = False
    ) -> list[CASResult]:
        time.sleep(0.005)  # the application's own work between the check and the write
        unchecked = [(key, Expectation(exists=True), values) for key, _, values in items]
        results: list[CASResult] = self.store.compare_and_set_many(
            unchecked, all_or_nothing=all_or_nothing
        )
        return results


def create_flask_app() -> Flask:
    app = example_flask.create_app()
    store = app.extensions["ifmatch"].store
    bulk = flask_bulk.BulkUpdate(store, fields={"text"})
    app.add_url_rule(
        "/documents:batchUpdate", "documents_bulk", flask_bulk.bulk_view(bulk), methods=["POST"]
    )
    naive = flask_bulk.BulkUpdate(CheckThenWrite(store), fields={"text"})
    app.add_url_rule(
        "/documents:naiveBatchUpdate", "naive_bulk", flask_bulk.bulk_view(naive), methods=["POST"]
    )
    return app


def create_fastapi_app() -> FastAPI:
    store: Any = example_fastapi.database_store() or MemoryStore()
    app = example_fastapi.create_app(store)
    bulk = starlette_bulk.BulkUpdate(store, fields={"text"})

    @app.post("/documents:batchUpdate")
    async def update_documents(request: Request) -> Response:
        return await starlette_bulk.bulk_response(request, bulk)

    return app
