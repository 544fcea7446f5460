"""The Redis stores on a real Redis Cluster (3 primaries, 3 replicas, started on loopback):
the hash-tagged key layout, cross-slot refusals, MOVED/ASK during a slot migration, WAIT, and
the multi-process lost-update race."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import TryAgainError

from ifmatch.stores import ConfigurationError, Expectation, Outcome, ReplicationUnconfirmed
from ifmatch.stores.idempotency import Completion
from ifmatch.stores.redis import AsyncRedisStore, RedisStore
from stores.race import RaceReport, run_race
from stores.redis_cluster import Cluster, redis_cluster

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with redis_cluster() as started:
        yield started


@pytest.fixture
def client(cluster: Cluster) -> Iterator[RedisCluster]:
    with cluster.client() as opened:
        yield opened


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"


def body(store: RedisStore, key: str) -> str:
    record = store.get(key)
    assert record is not None
    return bytes(record[1]["body"]).decode()


def test_each_resource_and_its_write_ids_share_one_slot(client: RedisCluster, prefix: str) -> None:
    store = RedisStore(client, prefix=prefix)
    keys = ["a", "b", "c", "d", "", "x{y}z", "=7"]
    for key in keys:
        created = store.compare_and_set(key, Expectation(exists=False), {"body": key})
        assert created.outcome is Outcome.WON
        assert store.compare_and_set(key, Expectation.version(1), {"body": key + "!"}).outcome is (
            Outcome.WON
        )
        assert body(store, key) == key + "!"
        resource = store.key(key)
        assert key_slot(store._write_id(resource).encode()) == key_slot(resource.encode())
    # Resources spread over the cluster: several slots, served by several primaries.
    primaries = {client.get_node_from_key(store.key(key)).name for key in keys}  # type: ignore[union-attr]
    assert len(primaries) > 1
    # Distinct keys never share a Redis key, whatever braces or escapes they contain.
    assert len({store.key(key) for key in keys}) == len(keys)
    assert store.compare_and_delete("a", Expectation.version(2)).outcome is Outcome.WON
    assert store.read("a") is None


def test_a_batch_across_slots_is_grouped_or_refused(client: RedisCluster, prefix: str) -> None:
    store = RedisStore(client, prefix=prefix)
    keys = [f"k{i}" for i in range(6)]
    assert len({key_slot(store.key(key).encode()) for key in keys}) > 1
    created = store.compare_and_set_many(
        (key, Expectation(exists=False), {"body": key}) for key in keys
    )
    assert [result.outcome for result in created] == [Outcome.WON] * len(keys)
    mixed = store.compare_and_set_many(
        (key, Expectation.version(2 if key == "k3" else 1), {"body": "x"}) for key in keys
    )
    assert [r.outcome for r in mixed] == [Outcome.LOST if k == "k3" else Outcome.WON for k in keys]
    with pytest.raises(ConfigurationError, match="all-or-nothing batch touches .* hash slots"):
        store.compare_and_set_many(
            ((key, Expectation.version(2), {"body": "y"}) for key in keys), all_or_nothing=True
        )
    assert [body(store, key) for key in keys] == ["x", "x", "x", "k3", "x", "x"]


def test_a_hash_tagged_prefix_keeps_everything_in_one_slot(client: RedisCluster) -> None:
    store = RedisStore(client, prefix=f"{{{uuid.uuid4().hex[:8]}}}:")
    keys = ["one", "two", "three"]
    assert len({key_slot(store.key(key).encode()) for key in keys}) == 1
    items = [(key, Expectation(exists=False), {"body": key}) for key in keys]
    assert all(r.outcome is Outcome.WON for r in store.compare_and_set_many(items))
    again = store.compare_and_set_many(
        [(key, Expectation.version(1 if key != "two" else 9), {"body": "z"}) for key in keys],
        all_or_nothing=True,
    )
    assert [r.outcome for r in again] == [Outcome.ABORTED, Outcome.LOST, Outcome.ABORTED]
    assert [body(store, key) for key in keys] == keys


def test_keyed_writes_need_one_slot_and_then_complete_in_the_write(client: RedisCluster) -> None:
    spread = RedisStore(client, prefix=f"{uuid.uuid4().hex[:8]}:")
    with pytest.raises(ConfigurationError, match="prefix with a hash tag"):
        spread.claim("id-1", "fp")
    store = RedisStore(client, prefix=f"{{{uuid.uuid4().hex[:8]}}}:")
    claim = store.claim("id-1", "fp")
    completion = Completion("id-1", claim.record.attempt, 201, None)
    result = store.compare_and_set(
        "doc", Expectation(exists=False), {"body": "a"}, completion=completion
    )
    assert result.outcome is Outcome.WON
    record = store.lookup("id-1")
    assert record is not None and record.done and record.status == 201


def test_a_plain_client_on_a_cluster_node_gets_a_configuration_error_not_crossslot(
    cluster: Cluster, prefix: str
) -> None:
    """A ``redis.Redis`` pointed at one node does not know it is a cluster; the server's
    CROSSSLOT reply becomes a ConfigurationError that says what to do."""
    with cluster.alive()[0].client() as plain:
        store = RedisStore(plain, prefix=prefix)
        keys = [f"p{i}" for i in range(4)]
        with pytest.raises(ConfigurationError, match="several hash slots"):
            store.compare_and_set_many(
                (key, Expectation(exists=False), {"body": key}) for key in keys
            )


def test_waiting_for_replicas(client: RedisCluster, prefix: str) -> None:
    store = RedisStore(client, prefix=prefix, wait_replicas=1, wait_timeout=timedelta(seconds=2))
    assert (
        store.compare_and_set("w", Expectation(exists=False), {"body": "a"}).outcome is Outcome.WON
    )
    assert store.compare_and_set("w", Expectation.version(7), {"body": "b"}).outcome is Outcome.LOST
    # Each primary has one replica: two acknowledgements never come. The write did happen on
    # the primary, but its fate in a failover is unknown, so it is not reported as a success.
    strict = RedisStore(
        client, prefix=prefix, wait_replicas=2, wait_timeout=timedelta(milliseconds=50)
    )
    with pytest.raises(ReplicationUnconfirmed) as raised:
        strict.compare_and_set("w", Expectation.version(1), {"body": "c"})
    assert (raised.value.acknowledged, raised.value.required) == (1, 2)
    assert body(store, "w") == "c"
    # A lost race wrote nothing: it is answered as it is, whatever the replicas say.
    assert (
        strict.compare_and_set("w", Expectation.version(1), {"body": "d"}).outcome is Outcome.LOST
    )


def test_options_are_checked(client: RedisCluster) -> None:
    with pytest.raises(ValueError, match="wait_replicas"):
        RedisStore(client, wait_replicas=-1)
    with pytest.raises(ValueError, match="wait_timeout"):
        RedisStore(client, wait_replicas=1, wait_timeout=timedelta(0))


def test_the_async_store_on_the_async_cluster_client(cluster: Cluster, prefix: str) -> None:
    async def scenario() -> list[Any]:
        client = AsyncRedisCluster(host="127.0.0.1", port=cluster.alive()[0].port)
        try:
            seen: list[Any] = []
            for wait in (0, 1):
                store = AsyncRedisStore(client, prefix=f"{prefix}{wait}:", wait_replicas=wait)
                keys = [f"a{i}" for i in range(4)]
                made = await store.compare_and_set_many(
                    (key, Expectation(exists=False), {"body": key}) for key in keys
                )
                seen.append([r.outcome for r in made])
                cas = await store.compare_and_set("a1", Expectation.version(1), {"body": "n"})
                seen.append(cas.outcome)
                record = await store.get("a1")
                seen.append(record[1]["body"] if record else None)
                strict = AsyncRedisStore(
                    client, prefix=f"{prefix}{wait}:", wait_replicas=2,
                    wait_timeout=timedelta(milliseconds=50),
                )  # fmt: skip
                with pytest.raises(ReplicationUnconfirmed):
                    await strict.compare_and_delete("a2", Expectation.version(1))
                seen.append(await store.read("a2"))
            return seen
        finally:
            await client.aclose()

    won = [Outcome.WON] * 4
    assert asyncio.run(scenario()) == [won, Outcome.WON, b"n", None] * 2


@pytest.mark.parametrize("wait_replicas", [0, 1])
def test_writes_follow_a_slot_migration(
    cluster: Cluster, client: RedisCluster, prefix: str, wait_replicas: int
) -> None:
    """A resource's slot moves to another primary while a store (whose client still has the
    old slot map) keeps writing: ASK during the move, MOVED after it; nothing is lost."""
    store = RedisStore(client, prefix=prefix, wait_replicas=wait_replicas)
    store.compare_and_set("m", Expectation(exists=False), {"body": ""})
    resource = store.key("m")
    acked: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            token = f"t{n}"
            n += 1
            for _ in range(200):
                snapshot = store.read("m")
                assert snapshot is not None
                text = body(store, "m")
                try:
                    outcome = store.compare_and_set(
                        "m", Expectation.version(snapshot.version), {"body": f"{text} {token}"}
                    ).outcome
                except TryAgainError:  # the slot is mid-move; the script did not run
                    continue
                if outcome is Outcome.WON:
                    acked.append(token)
                    break

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        before = cluster.primary_of(resource)
        after = cluster.migrate_slot(key_slot(resource.encode()), before)
    finally:
        stop.set()
        thread.join()
    with cluster.client() as fresh:
        assert cluster.primary_of(resource) == after != before
        present = body(RedisStore(fresh, prefix=prefix), "m").split()
    assert acked and present == acked


def test_no_lost_updates_across_processes(
    cluster: Cluster, client: RedisCluster, prefix: str
) -> None:
    """4 processes × 4 threads appending unique tokens to one resource through RedisCluster."""
    store = RedisStore(client, prefix=prefix)

    def race(key: str, **options: Any) -> RaceReport:
        store.compare_and_set(key, Expectation(exists=False), {"body": ""})
        spec = {
            "backend": "redis",
            "url": cluster.url,
            "prefix": prefix,
            "key": key,
            "cluster": True,
        }
        return run_race({**spec, **options}, lambda: body(store, key), processes=4, threads=4)

    report = race("doc")
    report.assert_no_lost_updates()
    print(f"redis cluster race: {report.summary()}")
    race("acked", wait_replicas=1).assert_no_lost_updates()


def test_an_unconfirmed_write_is_503_and_its_idempotency_key_resolves_it(
    client: RedisCluster,
) -> None:
    """Over HTTP (the Flask integration): the replicas do not confirm in time → 503, outcome
    unknown; the retry with the same Idempotency-Key, once replication is confirmed, gets the
    original answer, and the write was applied exactly once."""
    from integrations import example_flask

    prefix = f"{{{uuid.uuid4().hex[:8]}}}:"
    strict = RedisStore(
        client, prefix=prefix, wait_replicas=2, wait_timeout=timedelta(milliseconds=50)
    )
    relaxed = RedisStore(client, prefix=prefix, wait_replicas=1)
    headers = {"If-None-Match": "*", "Idempotency-Key": '"k-1"'}
    answers = []
    for store in (strict, relaxed):
        app = example_flask.create_app(store, store.get)
        app.config["IFMATCH_IDEMPOTENCY"] = True
        answers.append(app.test_client().put("/documents/a", headers=headers, json={"text": "x"}))
    unconfirmed, retried = answers
    assert unconfirmed.status_code == 503, unconfirmed.data
    assert unconfirmed.headers["Retry-After"] == "1"
    assert "unknown" in unconfirmed.get_json()["detail"]
    assert retried.status_code == 201, retried.data
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.headers["ETag"] == '"v1"'
    snapshot = relaxed.read("a")
    assert snapshot is not None and snapshot.version == 1


def test_the_deployment_page_example(cluster: Cluster) -> None:
    from deployment_docs import run_snippet

    tag = uuid.uuid4().hex[:8]
    found = run_snippet(
        "redis-cluster", {"redis://127.0.0.1:7000": cluster.url, "{docs}:": f"{{{tag}}}:"}
    )
    store = found["store"]
    snapshot = store.read("42")
    assert snapshot is not None and snapshot.version == 1
    found["cluster"].close()


def test_what_follows_each_reply_of_a_waiting_script() -> None:
    """The sans-I/O rule both ``run_acked`` twins follow after one round on one connection."""
    from redis.exceptions import AskError, ClusterDownError, MovedError, NoScriptError

    from ifmatch.stores._redis_cluster import _next, _Step

    assert _next([b"won", 2, b"1"]) == _Step(done=True)
    assert _next(NoScriptError("No matching script")) == _Step(done=False, load_script=True)
    assert _next(AskError("3999 127.0.0.1:7001")) == _Step(done=False, ask=("127.0.0.1", 7001))
    for error in (MovedError("3999 127.0.0.1:7002"), TryAgainError("x"), ClusterDownError("x")):
        assert _next(error) == _Step(done=False, refresh=True)
