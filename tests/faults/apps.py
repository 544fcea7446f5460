"""The example apps as the fault tests serve them, for gunicorn and uvicorn to import:

- ``create_redis_app`` (uvicorn ``--factory``): the FastAPI example app
  (``integrations.example_fastapi``) on the async Redis store;
- ``create_flask_app`` (gunicorn ``"faults.apps:create_flask_app()"``): the Flask example app
  (``integrations.example_flask``) on the SQLAlchemy store keeping idempotency records, with
  ``Idempotency-Key`` honoured.

Configured by the environment (see ``faults.servers``): the store's URL (through a fault
proxy), the Redis key prefix, whether the apps honour ``Idempotency-Key``, and whether
redis-py retries a command after a connection error as ``redis.asyncio.Redis(...)`` does by
default (``default``) or not at all (``off``). ``Redis.from_url`` would not retry by default,
so the client is built from its parts.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from faults.servers import (
    IDEMPOTENCY_ENV,
    REDIS_PREFIX_ENV,
    REDIS_RETRY_ENV,
    REDIS_URL_ENV,
    redis_location,
)
from integrations.example_models import DATABASE_URL_ENV

if TYPE_CHECKING:
    from fastapi import FastAPI
    from flask import Flask
    from sqlalchemy import Table


def create_redis_app() -> FastAPI:
    from redis.asyncio import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from ifmatch.stores.redis import AsyncRedisStore
    from integrations.example_fastapi import create_app

    host, port, db = redis_location(os.environ[REDIS_URL_ENV])
    options: dict[str, Any] = {"host": host, "port": port, "db": db}
    retry = os.environ.get(REDIS_RETRY_ENV, "off")
    if retry == "off":
        options["retry"] = Retry(NoBackoff(), 0)
    elif retry != "default":
        raise ValueError(f"{REDIS_RETRY_ENV} must be 'off' or 'default', not {retry!r}")
    client = Redis(**options, decode_responses=True)
    store = AsyncRedisStore(client, prefix=os.environ[REDIS_PREFIX_ENV])
    return create_app(store, idempotency=bool(os.environ.get(IDEMPOTENCY_ENV)))


def records_table() -> Table:
    """The idempotency records' table, on a metadata of its own."""
    from sqlalchemy import MetaData

    from ifmatch.stores.sqlalchemy import idempotency_table

    return idempotency_table(MetaData())


def create_records(url: str) -> None:
    """Create the records' table once, before any server worker starts."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        records_table().metadata.create_all(engine)
    finally:
        engine.dispose()


def create_flask_app() -> Flask:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from ifmatch.stores.sqlalchemy import SQLAlchemyStore
    from integrations.example_flask import create_app
    from integrations.example_models import Document

    engine = create_engine(os.environ[DATABASE_URL_ENV], pool_size=2, max_overflow=0)
    store: SQLAlchemyStore[str] = SQLAlchemyStore(
        Document, sessionmaker(engine), idempotency=records_table()
    )
    app = create_app(store, store.get)
    app.config["IFMATCH_IDEMPOTENCY"] = True
    return app
