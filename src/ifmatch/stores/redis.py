"""Redis stores (redis-py, sync and asyncio): one Lua script per operation.

A resource is a hash ``<prefix><key>`` holding ``version`` and ``last_modified`` (epoch seconds
from the Redis server's ``TIME``, with six fractional digits when not whole; see
``ifmatch.stores.next_last_modified``) next to the application's fields. Every write is one script,
so the check and the write are one atomic step on the server; scripts run by ``EVALSHA`` and
are loaded again automatically after a server restart (``NOSCRIPT``).

::

    from redis import Redis
    from ifmatch.stores.redis import RedisStore

    store = RedisStore(Redis(), prefix="docs:")
    store.compare_and_set("42", Expectation(exists=False), {"text": "hi"})

**Redis Cluster.** Give either store a ``redis.cluster.RedisCluster`` (or its asyncio twin)
and every script's keys are kept in one hash slot: see ``ifmatch.stores._redis_cluster`` and
the deployment documentation for the key layout. A batch or a keyed write that would cross
slots raises :class:`ifmatch.stores.ConfigurationError`, never a raw ``CROSSSLOT``; MOVED and
ASK redirections are followed.

**Waiting for replicas.** ``wait_replicas=N`` sends ``WAIT N <timeout>`` on the write's own
connection after every write and raises :class:`ifmatch.stores.ReplicationUnconfirmed` (a
``StoreUnavailable``: 503, outcome unknown) when fewer than ``N`` replicas acknowledged it in
``wait_timeout``. "WAIT does not make Redis a strongly consistent store" (Redis
documentation): it narrows, and with one replica per primary that must acknowledge closes, the
window in which a failover loses an acknowledged write.

Connection errors propagate as :class:`ifmatch.stores.StoreUnavailable`. redis-py's default
client retries a command whose reply was lost; every write names itself with a write id, so a
re-run script answers what its first run answered instead of losing against its own write (or
applying an unconditional one twice). Idempotency records live in ``<prefix>idem:<id>``.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..core.idempotency import (
    DEFAULT_IN_FLIGHT,
    DEFAULT_RETENTION,
    IdempotencyRecord,
    Verdict,
    new_attempt,
)
from ._redis_cluster import (
    cross_slot,
    has_hash_tag,
    is_cluster,
    is_cross_slot,
    require_one_slot,
    run_acked,
    run_acked_async,
    slot_tag,
)
from ._redis_lua import BULK, CAS, CLAIM, DELETE, RELEASE
from .base import BulkItem, CASResult, Expectation, Outcome, Snapshot
from .errors import ConfigurationError, ReplicationUnconfirmed, StoreUnavailable
from .idempotency import Claim, Completion

__all__ = ["AsyncRedisStore", "RedisStore"]

RESERVED = frozenset({"version", "last_modified"})
#: The largest version the scripts handle exactly. Lua numbers are doubles (and cjson decodes
#: JSON numbers into doubles), which hold every integer only up to 2**53: past it 2**53 + 1
#: would arrive as 2**53 and match it. So a tag naming a larger version never matches.
MAX_VERSION = 2**53 - 1
Value = str | bytes | int | float
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


@contextlib.contextmanager
def _script_errors() -> Iterator[None]:
    """A script's failures as the store reports them: ``CROSSSLOT`` as a configuration error,
    a lost or unreachable server as :class:`StoreUnavailable` (the write may have applied)."""
    try:
        yield
    except ResponseError as exc:
        if is_cross_slot(exc):
            raise cross_slot(exc, "a Redis script") from exc
        raise
    except _UNREACHABLE as exc:
        raise StoreUnavailable(
            f"Redis connection lost; the write may or may not apply: {exc}"
        ) from exc


_LOST_CONNECTION = "Redis connection lost; the write may or may not have been applied"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    """An instant as whole microseconds since the epoch (naive: UTC), as the scripts count."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _moment(stored: Any) -> datetime | None:
    """A stored ``last_modified`` (``"<seconds>"`` or ``"<seconds>.<digits>"``), or ``None``
    for an empty or missing one. Parsed as text: a float would round the microseconds."""
    if stored is None:
        return None
    text = stored.decode() if isinstance(stored, bytes) else str(stored)
    if not text or text == "-1":
        return None
    seconds, _, fraction = text.partition(".")
    micros = int((fraction + "000000")[:6]) if fraction else 0
    return _EPOCH + timedelta(seconds=int(seconds), microseconds=micros)


def _wrote(reply: Any) -> bool:
    """Whether a script's reply must be confirmed by replicas: a compare-and-set, delete or
    batch item won, or a replay (whose answer is only as durable as the write it replays). A
    new claim need not be: the write that completes it is confirmed, and covers it."""
    if not isinstance(reply, list | tuple) or not reply:
        return False
    first = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
    if first in {verdict.value for verdict in Verdict}:
        return first == Verdict.REPLAY.value
    outcomes = reply[0::3]  # {outcome, version, last_modified} per item
    return any(part in (b"won", "won") for part in outcomes)


class _RedisBase:
    """Key naming, the encoding of expectations, values and replies, and the WAIT rule."""

    def __init__(
        self, client: object, prefix: str, wait_replicas: int, wait_timeout: timedelta
    ) -> None:
        if wait_replicas < 0:
            raise ValueError("wait_replicas must be 0 (do not wait) or more")
        if wait_replicas and wait_timeout <= timedelta(0):
            raise ValueError("wait_timeout must be positive (WAIT with 0 would block forever)")
        self.prefix = prefix
        self.cluster = is_cluster(client)
        #: One slot per resource: a cluster, and a prefix without a hash tag of its own.
        self.tagged = self.cluster and not has_hash_tag(prefix)
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = max(1, int(wait_timeout.total_seconds() * 1000))

    def key(self, key: object) -> str:
        """The Redis key holding resource ``key``."""
        if self.tagged:
            return f"{self.prefix}{{{slot_tag(key)}}}"
        return f"{self.prefix}{key}"

    def _write_id(self, resource: str) -> str:
        """A new write's id key (in ``resource``'s slot): a retried script finds its own first
        run's answer there."""
        if self.tagged:
            return f"{resource}:w:{secrets.token_hex(12)}"
        return f"{self.prefix}w:{secrets.token_hex(12)}"

    def _record_key(self, id: str) -> str:
        return f"{self.prefix}idem:{id}"

    def _claimable(self) -> None:
        if self.tagged:
            raise ConfigurationError(
                "Idempotency-Key records are completed in the write's own script, so on Redis "
                "Cluster they must share the resource's hash slot, which a one-slot-per-resource "
                "layout cannot promise: give the store a prefix with a hash tag "
                "(prefix='{docs}:') for keyed writes."
            )

    def _write_keys(self, key: object, completion: Completion | None) -> list[str]:
        resource = self.key(key)
        record = resource if completion is None else self._record_key(completion.id)
        return [resource, self._write_id(resource), record]

    def _confirmed(self, reply: Any, acknowledged: int) -> Any:
        """``reply``, unless it wrote and fewer replicas than required acknowledged it."""
        if acknowledged < self.wait_replicas and _wrote(reply):
            raise ReplicationUnconfirmed(
                f"the write was applied on the Redis primary, but {acknowledged} of "
                f"{self.wait_replicas} replicas acknowledged it within "
                f"{self.wait_timeout_ms} ms: the outcome is unknown (a failover now may "
                "lose it); retry with the same Idempotency-Key",
                acknowledged=acknowledged,
                required=self.wait_replicas,
            )
        return reply

    def _checked(self, keys: list[str], what: str) -> None:
        if self.cluster:
            require_one_slot(keys, what)

    @staticmethod
    def _meta(completion: Completion | None) -> str:
        if completion is None:
            return '{"c":false}'
        c = {"a": completion.attempt, "s": completion.status, "l": completion.location or ""}
        return json.dumps({"c": c})

    @staticmethod
    def _claim_args(
        fingerprint: str, retention: timedelta, in_flight: timedelta
    ) -> tuple[str, list[Value]]:
        attempt = new_attempt()
        ms = (int(retention.total_seconds() * 1000), int(in_flight.total_seconds() * 1000))
        return attempt, [fingerprint, attempt, *ms]

    @classmethod
    def _claimed(cls, id: str, reply: Sequence[Any]) -> Claim:
        text = [part.decode() if isinstance(part, bytes) else str(part) for part in reply]
        return Claim(Verdict(text[0]), cls._record_of(id, text[1:]))

    @staticmethod
    def _record_of(id: str, text: Sequence[str]) -> IdempotencyRecord:
        fingerprint, attempt, created, expires, done, status, version, location = text
        return IdempotencyRecord(
            id=id,
            fingerprint=fingerprint,
            attempt=attempt,
            created=datetime.fromtimestamp(int(created) / 1000, UTC),
            expires=datetime.fromtimestamp(int(expires) / 1000, UTC),
            done=done == "1",
            status=int(status) if status else None,
            version=int(version) if version else None,
            location=location or None,
        )

    @classmethod
    def _looked_up(cls, id: str, raw: Mapping[Any, Any]) -> IdempotencyRecord | None:
        if not raw:
            return None
        fields = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        order = ("fingerprint", "attempt", "created", "expires", "done", "status", "version")
        return cls._record_of(id, [*(fields.get(n, "") for n in order), fields.get("location", "")])

    @staticmethod
    def _spec(expect: Expectation, fields: int = 0) -> dict[str, Any]:
        expect = expect.bounded(MAX_VERSION)
        since = expect.unmodified_since
        return {
            "e": -1 if expect.exists is None else int(expect.exists),
            "v": False if expect.versions is None else sorted(expect.versions),
            "nv": sorted(expect.not_versions),
            "u": False if since is None else _micros(since),
            "n": fields,
        }

    @staticmethod
    def _fields(values: Mapping[str, Any]) -> list[Value]:
        flat: list[Value] = []
        for name, value in values.items():
            if name in RESERVED:
                raise ValueError(f"{name!r} is managed by the store and cannot be set")
            if not isinstance(value, str | bytes | int | float) or isinstance(value, bool):
                raise TypeError(f"a Redis hash value must be str, bytes, int or float: {name}")
            flat += [name, value]
        return flat

    def _bulk_args(
        self, batch: Sequence[BulkItem[Any]], all_or_nothing: bool
    ) -> tuple[list[str], list[Value]]:
        specs, fields = [], []
        for _, expect, values in batch:
            flat = self._fields(values)
            specs.append(self._spec(expect, len(flat)))
            fields += flat
        argv: list[Value] = [json.dumps({"all": all_or_nothing, "items": specs}), *fields]
        keys = [self.key(key) for key, _, _ in batch]
        return [*keys, self._write_id(keys[0])], argv

    def _slot_groups(self, batch: list[BulkItem[Any]], all_or_nothing: bool) -> list[list[int]]:
        """The batch's item positions, one group per hash slot (one group off a cluster). An
        all-or-nothing batch across slots is refused: no script can span them."""
        if not self.tagged:
            return [list(range(len(batch)))]
        groups: dict[int, list[int]] = {}
        for position, (key, _, _) in enumerate(batch):
            groups.setdefault(key_slot(self.key(key).encode()), []).append(position)
        if all_or_nothing and len(groups) > 1:
            raise ConfigurationError(
                f"an all-or-nothing batch touches {len(groups)} Redis Cluster hash slots and "
                "no script can span them: give the store a prefix with a hash tag "
                "(prefix='{docs}:') or send one batch per slot"
            )
        return list(groups.values())

    @staticmethod
    def _result(reply: Sequence[Any]) -> CASResult:
        outcome = Outcome(reply[0].decode() if isinstance(reply[0], bytes) else reply[0])
        version = int(reply[1])
        if version < 0:
            return CASResult(outcome)
        return CASResult(outcome, Snapshot(version, _moment(reply[2])))

    @classmethod
    def _results(cls, reply: Sequence[Any]) -> list[CASResult]:
        return [cls._result(reply[i : i + 3]) for i in range(0, len(reply), 3)]

    @staticmethod
    def _snapshot(version: Any, last_modified: Any) -> Snapshot | None:
        if version is None:
            return None
        return Snapshot(int(version), _moment(last_modified))

    @classmethod
    def _record(cls, raw: Mapping[Any, Any]) -> tuple[Snapshot, dict[str, Any]] | None:
        fields = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}
        snapshot = cls._snapshot(fields.pop("version", None), fields.pop("last_modified", None))
        return None if snapshot is None else (snapshot, fields)


class RedisStore(_RedisBase):
    """Compare-and-set over Redis hashes with a synchronous ``redis.Redis`` client.

    Args:
        client: a ``redis.Redis`` or a ``redis.cluster.RedisCluster`` (``decode_responses``
            either way).
        prefix: prepended to every key (``"ifmatch:"`` by default). On a cluster, a prefix
            with a hash tag (``"{docs}:"``) keeps every key in one slot.
        wait_replicas: after each write, wait until this many replicas acknowledged it
            (``WAIT``); 0, the default, does not wait.
        wait_timeout: how long ``WAIT`` may block before the write is reported as
            :class:`~ifmatch.stores.ReplicationUnconfirmed`.
    """

    def __init__(
        self,
        client: Redis | RedisCluster,
        *,
        prefix: str = "ifmatch:",
        wait_replicas: int = 0,
        wait_timeout: timedelta = timedelta(seconds=1),
    ) -> None:
        super().__init__(client, prefix, wait_replicas, wait_timeout)
        self.client = client
        self._cas = client.register_script(CAS)
        self._delete = client.register_script(DELETE)
        self._bulk = client.register_script(BULK)
        self._claim = client.register_script(CLAIM)
        self._release = client.register_script(RELEASE)

    def claim(
        self,
        id: str,
        fingerprint: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        in_flight: timedelta = DEFAULT_IN_FLIGHT,
    ) -> Claim:
        """Claim record ``id`` for this attempt, or say why not (one script, server clock)."""
        self._claimable()
        _, argv = self._claim_args(fingerprint, retention, in_flight)
        return self._claimed(id, self._run(self._claim, [self._record_key(id)], argv))

    def lookup(self, id: str) -> IdempotencyRecord | None:
        """The record ``id``, or ``None``."""
        try:
            raw = self.client.hgetall(self._record_key(id))
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        return self._looked_up(id, raw)

    def release(self, id: str, attempt: str) -> None:
        """Forget ``attempt``'s pending claim of ``id`` (its write did not happen)."""
        self._run(self._release, [self._record_key(id)], [attempt])

    def read(self, key: object) -> Snapshot | None:
        """The current validators of ``key``, or ``None``."""
        try:
            version, last_modified = self.client.hmget(self.key(key), ["version", "last_modified"])
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        return self._snapshot(version, last_modified)

    def get(self, key: object) -> tuple[Snapshot, dict[str, Any]] | None:
        """The validators and the other fields of ``key``, read together (one ``HGETALL``)."""
        try:
            raw = self.client.hgetall(self.key(key))
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        return self._record(raw)

    def compare_and_set(
        self,
        key: object,
        expect: Expectation,
        values: Mapping[str, Any],
        *,
        completion: Completion | None = None,
    ) -> CASResult:
        """Run the compare-and-set script on ``key`` (see ``_redis_lua.CAS``)."""
        argv = [json.dumps(self._spec(expect)), self._meta(completion), *self._fields(values)]
        return self._result(self._run(self._cas, self._write_keys(key, completion), argv))

    def compare_and_delete(
        self, key: object, expect: Expectation, *, completion: Completion | None = None
    ) -> CASResult:
        """Delete ``key`` iff ``expect`` holds (one script)."""
        argv = [json.dumps(self._spec(expect)), self._meta(completion)]
        return self._result(self._run(self._delete, self._write_keys(key, completion), argv))

    def compare_and_set_many(
        self, items: Iterable[BulkItem[object]], *, all_or_nothing: bool = False
    ) -> list[CASResult]:
        """Apply every item in ONE script, atomic as a whole. On a cluster with one slot per
        resource, one script per hash slot (each atomic); an ``all_or_nothing`` batch across
        slots raises :class:`~ifmatch.stores.ConfigurationError`. ``all_or_nothing``
        restores every touched hash if any item misses."""
        batch = list(items)
        results: list[CASResult | None] = [None] * len(batch)
        for group in self._slot_groups(batch, all_or_nothing) if batch else []:
            keys, argv = self._bulk_args([batch[i] for i in group], all_or_nothing)
            replies = self._results(self._run(self._bulk, keys, argv))
            for i, result in zip(group, replies, strict=True):
                results[i] = result
        return [result for result in results if result is not None]

    def _run(self, script: Any, keys: list[str], argv: Sequence[Value]) -> Any:
        self._checked(keys, "a Redis script")
        with _script_errors():
            if not self.wait_replicas:
                return script(keys=keys, args=list(argv))
            reply, acknowledged = run_acked(
                self.client,
                script,
                keys,
                argv,
                self.wait_replicas,
                self.wait_timeout_ms,
                "a script",
            )
            return self._confirmed(reply, acknowledged)


class AsyncRedisStore(_RedisBase):
    """Compare-and-set over Redis hashes with a ``redis.asyncio.Redis`` client.

    Same scripts, arguments, options and outcomes as :class:`RedisStore`; the client may be a
    ``redis.asyncio.cluster.RedisCluster``.
    """

    def __init__(
        self,
        client: AsyncRedis | AsyncRedisCluster,
        *,
        prefix: str = "ifmatch:",
        wait_replicas: int = 0,
        wait_timeout: timedelta = timedelta(seconds=1),
    ) -> None:
        super().__init__(client, prefix, wait_replicas, wait_timeout)
        self.client = client
        self._cas = client.register_script(CAS)
        self._delete = client.register_script(DELETE)
        self._bulk = client.register_script(BULK)
        self._claim = client.register_script(CLAIM)
        self._release = client.register_script(RELEASE)

    async def claim(
        self,
        id: str,
        fingerprint: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        in_flight: timedelta = DEFAULT_IN_FLIGHT,
    ) -> Claim:
        """Claim record ``id`` for this attempt (see :meth:`RedisStore.claim`)."""
        self._claimable()
        _, argv = self._claim_args(fingerprint, retention, in_flight)
        return self._claimed(id, await self._run(self._claim, [self._record_key(id)], argv))

    async def lookup(self, id: str) -> IdempotencyRecord | None:
        """The record ``id``, or ``None``."""
        try:
            raw = await self.client.hgetall(self._record_key(id))
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        return self._looked_up(id, raw)

    async def release(self, id: str, attempt: str) -> None:
        """Forget ``attempt``'s pending claim of ``id``."""
        await self._run(self._release, [self._record_key(id)], [attempt])

    async def read(self, key: object) -> Snapshot | None:
        """The current validators of ``key``, or ``None``."""
        try:
            reply = await self.client.hmget(self.key(key), ["version", "last_modified"])
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        return self._snapshot(reply[0], reply[1])

    async def get(self, key: object) -> tuple[Snapshot, dict[str, Any]] | None:
        """The validators and the other fields of ``key``, read together."""
        try:
            raw = await self.client.hgetall(self.key(key))
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        return self._record(raw)

    async def compare_and_set(
        self,
        key: object,
        expect: Expectation,
        values: Mapping[str, Any],
        *,
        completion: Completion | None = None,
    ) -> CASResult:
        """Run the compare-and-set script on ``key``."""
        argv = [json.dumps(self._spec(expect)), self._meta(completion), *self._fields(values)]
        keys = self._write_keys(key, completion)
        return self._result(await self._run(self._cas, keys, argv))

    async def compare_and_delete(
        self, key: object, expect: Expectation, *, completion: Completion | None = None
    ) -> CASResult:
        """Delete ``key`` iff ``expect`` holds."""
        argv = [json.dumps(self._spec(expect)), self._meta(completion)]
        keys = self._write_keys(key, completion)
        return self._result(await self._run(self._delete, keys, argv))

    async def compare_and_set_many(
        self, items: Iterable[BulkItem[object]], *, all_or_nothing: bool = False
    ) -> list[CASResult]:
        """Apply the items as :meth:`RedisStore.compare_and_set_many` does."""
        batch = list(items)
        results: list[CASResult | None] = [None] * len(batch)
        for group in self._slot_groups(batch, all_or_nothing) if batch else []:
            keys, argv = self._bulk_args([batch[i] for i in group], all_or_nothing)
            replies = self._results(await self._run(self._bulk, keys, argv))
            for i, result in zip(group, replies, strict=True):
                results[i] = result
        return [result for result in results if result is not None]

    async def _run(self, script: Any, keys: list[str], argv: Sequence[Value]) -> Any:
        self._checked(keys, "a Redis script")
        with _script_errors():
            if not self.wait_replicas:
                return await script(keys=keys, args=list(argv))
            reply, acknowledged = await run_acked_async(
                self.client,
                script,
                keys,
                argv,
                self.wait_replicas,
                self.wait_timeout_ms,
                "a script",
            )
            return self._confirmed(reply, acknowledged)
