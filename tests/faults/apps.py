"""The FastAPI example app (``integrations.example_fastapi``) on the async Redis store, for
uvicorn's ``--factory``: ``faults.apps:create_redis_app``.

Configured by the environment (see ``faults.servers.fastapi_redis_server``): the Redis URL
(through a fault proxy), a key prefix, and whether redis-py retries a command after a
connection error as ``redis.asyncio.Redis(...)`` does by default (``default``) or not at all
(``off``). ``Redis.from_url`` would not retry by default, so the client is built from its
parts.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI

from faults.servers import REDIS_PREFIX_ENV, REDIS_RETRY_ENV, REDIS_URL_ENV, redis_location
from ifmatch.stores.redis import AsyncRedisStore
from integrations.example_fastapi import create_app


def create_redis_app() -> FastAPI:
    from redis.asyncio import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    host, port, db = redis_location(os.environ[REDIS_URL_ENV])
    options: dict[str, Any] = {"host": host, "port": port, "db": db}
    retry = os.environ.get(REDIS_RETRY_ENV, "off")
    if retry == "off":
        options["retry"] = Retry(NoBackoff(), 0)
    elif retry != "default":
        raise ValueError(f"{REDIS_RETRY_ENV} must be 'off' or 'default', not {retry!r}")
    client = Redis(**options, decode_responses=True)
    return create_app(AsyncRedisStore(client, prefix=os.environ[REDIS_PREFIX_ENV]))
