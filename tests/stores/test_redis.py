"""The Redis stores (sync and asyncio) against the shared contract."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from ifmatch.stores import Expectation, StoreUnavailable
from ifmatch.stores.redis import AsyncRedisStore, RedisStore
from services import free_port

from .contract import Backend, ContractSuite, SyncFacade
from .redis_server import throwaway_redis

pytestmark = pytest.mark.services


@pytest.fixture
def prefix() -> str:
    return f"ifmatch-test:{uuid.uuid4().hex}:"


class TestRedisContract(ContractSuite):
    @pytest.fixture
    def backend(self, redis_url: str, prefix: str) -> Iterator[Backend]:
        client = redis.Redis.from_url(redis_url)
        yield Backend("redis", RedisStore(client, prefix=prefix))
        _cleanup(client, prefix)
        client.close()


class TestAsyncRedisContract(ContractSuite):
    @pytest.fixture
    def backend(self, redis_url: str, prefix: str) -> Iterator[Backend]:
        with asyncio.Runner() as runner:
            client = redis.asyncio.Redis.from_url(redis_url)
            yield Backend("redis-async", SyncFacade(AsyncRedisStore(client, prefix=prefix), runner))
            runner.run(client.aclose())
        sync = redis.Redis.from_url(redis_url)
        _cleanup(sync, prefix)
        sync.close()


def _cleanup(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)


def test_keys_carry_the_prefix(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = RedisStore(client, prefix=prefix)
    store.compare_and_set("doc", Expectation(exists=False), {"body": "hi"})
    assert client.hgetall(f"{prefix}doc")["body"] == "hi"
    assert store.get("doc")[1] == {"body": "hi"}  # type: ignore[index]
    _cleanup(client, prefix)
    client.close()


def test_values_must_be_redis_scalars(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    with pytest.raises(TypeError, match="str, bytes, int or float"):
        RedisStore(client, prefix=prefix).compare_and_set("k", Expectation(), {"body": [1]})
    client.close()


def test_scripts_are_reloaded_after_the_script_cache_is_flushed(redis_url: str) -> None:
    # What a restart does to EVALSHA: NOSCRIPT, then the client loads the script again.
    port = free_port()
    with throwaway_redis(port) as server:
        client = redis.Redis(port=port)
        store = RedisStore(client)
        assert store.compare_and_set("k", Expectation(exists=False), {"body": "a"}).won
        client.script_flush()
        assert store.compare_and_set("k", Expectation.version(1), {"body": "b"}).won
        server.restart()
        assert store.compare_and_set("k", Expectation.version(2), {"body": "c"}).won
        client.close()


def test_an_unreachable_server_is_store_unavailable() -> None:
    client = redis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    with pytest.raises(StoreUnavailable):
        RedisStore(client).compare_and_set("k", Expectation(), {"body": "x"})
    with pytest.raises(StoreUnavailable):
        RedisStore(client).read("k")
    client.close()
