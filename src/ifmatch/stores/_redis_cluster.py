"""Redis Cluster support of the Redis stores: the key layout, slot checks, and writes that wait
for replica acknowledgement (``WAIT``).

**Key layout.** On a cluster a script may only touch keys of one hash slot, and only the part
of a key between the first ``{`` and the next ``}`` (when not empty) is hashed (the Redis
Cluster specification's hash tags). So on a cluster:

- a ``prefix`` that carries a hash tag (``"{docs}:"``) puts every key of the store in that one
  slot: the layout is the standalone one (``<prefix><key>``, ``<prefix>w:<id>``,
  ``<prefix>idem:<id>``), every script and batch works, and one primary holds everything;
- any other prefix spreads resources over the cluster, one slot per resource:
  ``<prefix>{<key>}`` holds the resource and ``<prefix>{<key>}:w:<id>`` a write's answer, so
  each script's keys share the resource's slot. A key that is empty, contains a brace or
  starts with ``=`` is tagged by ``=`` and its SHA-256 instead (still one key per resource).

**WAIT.** ``WAIT numreplicas timeout`` "blocks the current client until all the previous write
commands are successfully transferred and acknowledged by at least the specified number of
replicas" (Redis documentation). It counts the writes of *its own connection*, so the script
and the ``WAIT`` are sent together on one connection to the primary that owns the slot
(redis-py's cluster client would send a bare ``WAIT`` to every primary, over any connection).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterCrossSlotError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    ResponseError,
    TryAgainError,
)

from .errors import ConfigurationError

__all__ = [
    "has_hash_tag",
    "is_cluster",
    "redirected",
    "require_one_slot",
    "slot_tag",
]

#: How many times a script waiting for replicas is re-sent after a redirection (MOVED, ASK,
#: TRYAGAIN, CLUSTERDOWN) or a script cache miss before the error is raised.
REDIRECTS = 8


def is_cluster(client: object) -> bool:
    """Whether ``client`` is redis-py's ``RedisCluster`` (sync or asyncio)."""
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

    return isinstance(client, RedisCluster | AsyncRedisCluster)


def has_hash_tag(text: str) -> bool:
    """Whether ``text`` carries a hash tag: a ``{`` followed later by a ``}`` with something
    in between (an empty ``{}`` is no tag: the whole key is hashed)."""
    start = text.find("{")
    if start < 0:
        return False
    end = text.find("}", start + 1)
    return end > start + 1


def slot_tag(key: object) -> str:
    """The hash tag naming resource ``key``'s slot: the key's text when it can be one, else
    ``=`` and its SHA-256 (one-to-one: a key used as it is never starts with ``=``)."""
    text = str(key)
    if text and "{" not in text and "}" not in text and not text.startswith("="):
        return text
    return "=" + hashlib.sha256(text.encode()).hexdigest()


def require_one_slot(keys: Sequence[str], what: str) -> None:
    """Raise :class:`ConfigurationError` unless every key of ``keys`` is in one hash slot."""
    slots = {key_slot(key.encode()) for key in keys}
    if len(slots) > 1:
        raise ConfigurationError(
            f"{what} touches keys in {len(slots)} Redis Cluster hash slots ({', '.join(keys)}); "
            "one script can only touch one slot. Give the store a prefix with a hash tag "
            "(prefix='{docs}:') to keep every key in one slot."
        )


def cross_slot(error: ResponseError, what: str) -> ConfigurationError:
    """A server's ``CROSSSLOT`` reply as a :class:`ConfigurationError`."""
    return ConfigurationError(
        f"{what}: Redis Cluster refused keys of several hash slots ({error}). Give the store a "
        "prefix with a hash tag (prefix='{docs}:') to keep every key in one slot."
    )


def redirected(reply: object) -> bool:
    """Whether a reply is an error after which the script did not run and may be re-sent."""
    return isinstance(
        reply, MovedError | AskError | TryAgainError | ClusterDownError | NoScriptError
    )


def is_cross_slot(error: BaseException) -> bool:
    """A server's ``CROSSSLOT`` reply: redis-py before 5.1 raises it as a plain
    ``ResponseError`` on a non-cluster client, later versions as ``ClusterCrossSlotError``."""
    return isinstance(error, ClusterCrossSlotError) or (
        isinstance(error, ResponseError) and str(error).startswith("CROSSSLOT")
    )


def check_reply(reply: Any, what: str) -> Any:
    """``reply`` itself, or the exception it is raised (``CROSSSLOT`` as configuration)."""
    if isinstance(reply, ResponseError) and is_cross_slot(reply):
        raise cross_slot(reply, what)
    if isinstance(reply, Exception):
        raise reply
    return reply


def commands(
    sha: str, keys: Sequence[str], argv: Sequence[Any], replicas: int, timeout_ms: int, ask: bool
) -> list[tuple[Any, ...]]:
    """What one connection is sent: ``ASKING`` after an ASK redirection, the script, ``WAIT``."""
    script = ("EVALSHA", sha, len(keys), *keys, *argv)
    wait = ("WAIT", replicas, timeout_ms)
    return [("ASKING",), script, wait] if ask else [script, wait]


@dataclass(frozen=True)
class _Step:
    """What to do after one round (script + WAIT) on one connection: the sans-I/O rule both
    ``run_acked`` twins follow."""

    done: bool
    load_script: bool = False
    ask: tuple[str, int] | None = None
    refresh: bool = False


def _next(reply: Any) -> _Step:
    if not redirected(reply):
        return _Step(done=True)
    if isinstance(reply, NoScriptError):
        return _Step(done=False, load_script=True)
    if isinstance(reply, AskError) and not isinstance(reply, MovedError):  # Moved subclasses Ask
        return _Step(done=False, ask=(reply.host, int(reply.port)))
    return _Step(done=False, refresh=True)  # MOVED, TRYAGAIN, CLUSTERDOWN


def run_acked(
    client: Any,
    script: Any,
    keys: Sequence[str],
    argv: Sequence[Any],
    replicas: int,
    timeout_ms: int,
    what: str,
) -> tuple[Any, int]:
    """Run ``script`` and ``WAIT`` on one connection to the primary owning ``keys[0]``'s slot
    (``client`` itself when it is no cluster); answer the script's reply and how many replicas
    acknowledged. Redirections are followed; a lost connection is raised."""
    cluster = isinstance(client, RedisCluster)
    step = _Step(done=False)
    reply: Any = None
    for attempt in range(REDIRECTS):
        target = client
        if cluster:
            node = client.get_node(*step.ask) if step.ask else client.get_node_from_key(keys[0])
            target = client.get_redis_connection(node)
        pipe = target.pipeline(transaction=False)
        for command in commands(script.sha, keys, argv, replicas, timeout_ms, bool(step.ask)):
            pipe.execute_command(*command)
        try:
            replies = pipe.execute(raise_on_error=False)
        except Exception:
            if cluster:
                _refresh(client)
            raise
        reply, acked = replies[-2:]
        step = _next(reply)
        if step.done:
            return check_reply(reply, what), int(acked)
        if step.load_script:
            target.script_load(script.script)
        if step.refresh and cluster:
            _pause(attempt)
            _refresh(client)
    raise reply


async def run_acked_async(
    client: Any,
    script: Any,
    keys: Sequence[str],
    argv: Sequence[Any],
    replicas: int,
    timeout_ms: int,
    what: str,
) -> tuple[Any, int]:
    """:func:`run_acked` for redis-py's asyncio clients."""
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

    cluster = isinstance(client, AsyncRedisCluster)
    step = _Step(done=False)
    reply: Any = None
    for attempt in range(REDIRECTS):
        sent = commands(script.sha, keys, argv, replicas, timeout_ms, bool(step.ask))
        if cluster:
            node = client.get_node(*step.ask) if step.ask else client.get_node_from_key(keys[0])
            try:
                replies = await _on_node(node, sent)
            except Exception:
                await _refresh_async(client)
                raise
        else:
            pipe = client.pipeline(transaction=False)
            for command in sent:
                pipe.execute_command(*command)
            replies = await pipe.execute(raise_on_error=False)
        reply, acked = replies[-2:]
        step = _next(reply)
        if step.done:
            return check_reply(reply, what), int(acked)
        if step.load_script:
            if cluster:
                await node.execute_command("SCRIPT", "LOAD", script.script)
            else:
                await client.script_load(script.script)
        if step.refresh and cluster:
            await _pause_async(attempt)
            await _refresh_async(client)
    raise reply


async def _on_node(node: Any, sent: list[tuple[Any, ...]]) -> list[Any]:
    """Send ``sent`` over one connection of an asyncio cluster node; its replies, errors as
    values. A connection that failed half-way is dropped, never reused."""
    connection = node.acquire_connection()
    try:
        await connection.send_packed_command(connection.pack_commands(sent))
        replies: list[Any] = []
        for _ in sent:
            try:
                replies.append(await connection.read_response())
            except ResponseError as error:
                replies.append(error)
        return replies
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        release = getattr(node, "release", None)
        if release is not None:
            release(connection)
        else:  # redis-py before 5.1: the node keeps its free connections in ``_free``
            node._free.append(connection)


def _pause(attempt: int) -> None:
    import time

    time.sleep(0.05 * (attempt + 1))


async def _pause_async(attempt: int) -> None:
    import asyncio

    await asyncio.sleep(0.05 * (attempt + 1))


def _refresh(client: Any) -> None:
    """Re-read the cluster's slot map (best effort: during a failover it may still fail)."""
    try:
        client.nodes_manager.initialize()
    except Exception:  # the next command tries again
        return


async def _refresh_async(client: Any) -> None:
    try:
        await client.nodes_manager.initialize()
    except Exception:  # the next command tries again
        return
