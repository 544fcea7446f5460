"""The Redis stores (sync and asyncio) against the shared contract."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from ifmatch.stores import Expectation, Outcome, StoreUnavailable
from ifmatch.stores.redis import AsyncRedisStore, RedisStore
from services import free_port

from .contract import Backend, ContractSuite, IdempotencySuite, SyncFacade
from .redis_server import throwaway_redis

pytestmark = pytest.mark.services


@pytest.fixture
def prefix() -> str:
    return f"ifmatch-test:{uuid.uuid4().hex}:"


class TestRedisContract(ContractSuite, IdempotencySuite):
    @pytest.fixture
    def backend(self, redis_url: str, prefix: str) -> Iterator[Backend]:
        client = redis.Redis.from_url(redis_url)
        yield Backend("redis", RedisStore(client, prefix=prefix), clock=lambda: _clock(client))
        _cleanup(client, prefix)
        client.close()


class TestAsyncRedisContract(ContractSuite, IdempotencySuite):
    @pytest.fixture
    def backend(self, redis_url: str, prefix: str) -> Iterator[Backend]:
        with asyncio.Runner() as runner:
            client = redis.asyncio.Redis.from_url(redis_url)
            store = SyncFacade(AsyncRedisStore(client, prefix=prefix), runner)
            sync = redis.Redis.from_url(redis_url)
            yield Backend("redis-async", store, clock=lambda: _clock(sync))
            sync.close()
            runner.run(client.aclose())
        sync = redis.Redis.from_url(redis_url)
        _cleanup(sync, prefix)
        sync.close()


def _clock(client: redis.Redis) -> datetime:
    seconds, micros = client.time()
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=micros)


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


def test_a_script_run_again_with_its_write_id_answers_as_its_first_run(
    redis_url: str, prefix: str
) -> None:
    """What redis-py's default retry does after a lost reply: the same EVALSHA again. The
    re-run answers the first run's outcome and writes nothing, instead of losing against
    its own write (a 412 for an applied write, then a second application by the client)."""
    client = redis.Redis.from_url(redis_url)
    try:
        store = RedisStore(client, prefix=prefix)
        store.compare_and_set("doc", Expectation(exists=False), {"body": "a"})

        def twice(write: Any) -> tuple[Any, Any]:
            fixed = RedisStore._write_id(store, store.key("doc"))
            store._write_id = lambda resource: fixed  # type: ignore[method-assign]
            try:
                return write(), write()
            finally:
                del store._write_id

        first, again = twice(
            lambda: store.compare_and_set("doc", Expectation.version(1), {"body": "b"})
        )
        assert first.outcome is Outcome.WON and again == first
        assert store.read("doc") == first.snapshot
        # An unconditional write re-run is not applied a second time.
        first, again = twice(lambda: store.compare_and_set("doc", Expectation(), {"body": "c"}))
        assert again == first and store.read("doc") == first.snapshot
        assert first.snapshot is not None and first.snapshot.version == 3
        first, again = twice(lambda: store.compare_and_delete("doc", Expectation(exists=True)))
        assert first.outcome is Outcome.WON and again == first
        # A new write (another id) is evaluated as usual.
        assert store.compare_and_delete("doc", Expectation()).outcome is Outcome.NOT_FOUND
        batch = [("a", Expectation(exists=False), {"body": "x"})]
        first, again = twice(lambda: store.compare_and_set_many(batch))
        assert [r.outcome for r in first] == [Outcome.WON] and again == first
    finally:
        _cleanup(client, prefix)
        client.close()


def test_waiting_for_replicas_on_one_server(prefix: str) -> None:
    """``wait_replicas`` on a plain ``redis.Redis`` (no cluster): the script and ``WAIT`` go
    over one connection. A server of its own, without replicas: the write, applied, is
    reported as unconfirmed (503), sync and async alike; a lost race is answered as it is;
    a script cache flushed under the store is loaded again."""
    from ifmatch.stores import ReplicationUnconfirmed

    with throwaway_redis(free_port()) as server:
        url = f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(url)
        wait = timedelta(milliseconds=20)
        try:
            store = RedisStore(client, prefix=prefix, wait_replicas=1, wait_timeout=wait)
            with pytest.raises(ReplicationUnconfirmed) as raised:
                store.compare_and_set("doc", Expectation(exists=False), {"body": "a"})
            assert (raised.value.acknowledged, raised.value.required) == (0, 1)
            snapshot = store.read("doc")
            assert snapshot is not None and snapshot.version == 1
            lost = store.compare_and_set("doc", Expectation.version(7), {"body": "x"})
            assert lost.outcome is Outcome.LOST
            client.script_flush()  # NOSCRIPT: the script is loaded again on that connection
            with pytest.raises(ReplicationUnconfirmed):
                store.compare_and_set("doc", Expectation.version(1), {"body": "b"})
        finally:
            client.close()

        async def scenario() -> int | None:
            aclient = redis.asyncio.Redis.from_url(url)
            try:
                astore = AsyncRedisStore(aclient, prefix=prefix, wait_replicas=1, wait_timeout=wait)
                with pytest.raises(ReplicationUnconfirmed):
                    await astore.compare_and_set("adoc", Expectation(exists=False), {"body": "a"})
                await aclient.script_flush()
                with pytest.raises(ReplicationUnconfirmed):
                    await astore.compare_and_set("adoc", Expectation.version(1), {"body": "b"})
                found = await astore.read("adoc")
                return None if found is None else found.version
            finally:
                await aclient.aclose()

        assert asyncio.run(scenario()) == 2
