"""Redis stores (redis-py, sync and asyncio): one Lua script per operation.

A resource is a hash ``<prefix><key>`` holding ``version`` and ``last_modified`` (epoch seconds
from the Redis server's ``TIME``) next to the application's fields. Every write is one script,
so the check and the write are one atomic step on the server; scripts run by ``EVALSHA`` and
are loaded again automatically after a server restart (``NOSCRIPT``).

::

    from redis import Redis
    from ifmatch.stores.redis import RedisStore

    store = RedisStore(Redis(), prefix="docs:")
    store.compare_and_set("42", Expectation(exists=False), {"text": "hi"})

Connection errors propagate as :class:`ifmatch.stores.StoreUnavailable`. redis-py's default
client retries a command whose reply was lost; every write names itself with a write id, so a
re-run script answers what its first run answered instead of losing against its own write (or
applying an unconditional one twice). Idempotency records live in ``<prefix>idem:<id>``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..core.idempotency import (
    DEFAULT_IN_FLIGHT,
    DEFAULT_RETENTION,
    IdempotencyRecord,
    Verdict,
    new_attempt,
)
from ._redis_lua import BULK, CAS, CLAIM, DELETE, RELEASE
from .base import BulkItem, CASResult, Expectation, Outcome, Snapshot
from .errors import StoreUnavailable
from .idempotency import Claim, Completion

__all__ = ["AsyncRedisStore", "RedisStore"]

RESERVED = frozenset({"version", "last_modified"})
#: The largest version the scripts handle exactly. Lua numbers are doubles (and cjson decodes
#: JSON numbers into doubles), which hold every integer only up to 2**53: past it 2**53 + 1
#: would arrive as 2**53 and match it. So a tag naming a larger version never matches.
MAX_VERSION = 2**53 - 1
Value = str | bytes | int | float
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
_LOST_CONNECTION = "Redis connection lost; the write may or may not have been applied"


class _RedisBase:
    """Key naming and the encoding of expectations, values and replies."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def key(self, key: object) -> str:
        """The Redis key holding resource ``key``."""
        return f"{self.prefix}{key}"

    def _write_id(self) -> str:
        """A new write's id key: a retried script finds its own first run's answer there."""
        return f"{self.prefix}w:{secrets.token_hex(12)}"

    def _record_key(self, id: str) -> str:
        return f"{self.prefix}idem:{id}"

    def _write_keys(self, key: object, completion: Completion | None) -> list[str]:
        resource = self.key(key)
        record = resource if completion is None else self._record_key(completion.id)
        return [resource, self._write_id(), record]

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
            "u": False if since is None else since.timestamp(),
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
        return [*(self.key(key) for key, _, _ in batch), self._write_id()], argv

    @staticmethod
    def _result(reply: Sequence[Any]) -> CASResult:
        outcome = Outcome(reply[0].decode() if isinstance(reply[0], bytes) else reply[0])
        version, last_modified = int(reply[1]), int(reply[2])
        if version < 0:
            return CASResult(outcome)
        moment = None if last_modified < 0 else datetime.fromtimestamp(last_modified, UTC)
        return CASResult(outcome, Snapshot(version, moment))

    @classmethod
    def _results(cls, reply: Sequence[Any]) -> list[CASResult]:
        return [cls._result(reply[i : i + 3]) for i in range(0, len(reply), 3)]

    @staticmethod
    def _snapshot(version: Any, last_modified: Any) -> Snapshot | None:
        if version is None:
            return None
        moment = None if last_modified is None else datetime.fromtimestamp(int(last_modified), UTC)
        return Snapshot(int(version), moment)

    @classmethod
    def _record(cls, raw: Mapping[Any, Any]) -> tuple[Snapshot, dict[str, Any]] | None:
        fields = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}
        snapshot = cls._snapshot(fields.pop("version", None), fields.pop("last_modified", None))
        return None if snapshot is None else (snapshot, fields)


class RedisStore(_RedisBase):
    """Compare-and-set over Redis hashes with a synchronous ``redis.Redis`` client.

    Args:
        client: a ``redis.Redis`` (``decode_responses`` either way).
        prefix: prepended to every key (``"ifmatch:"`` by default).
    """

    def __init__(self, client: Redis, *, prefix: str = "ifmatch:") -> None:
        super().__init__(prefix)
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
        """Apply every item in ONE script (atomic as a whole; in Redis Cluster the keys must
        share a hash slot). ``all_or_nothing`` restores every touched hash if any item misses."""
        keys, argv = self._bulk_args(list(items), all_or_nothing)
        if not keys:
            return []
        return self._results(self._run(self._bulk, keys, argv))

    @staticmethod
    def _run(script: Any, keys: list[str], argv: Sequence[Value]) -> Any:
        try:
            return script(keys=keys, args=list(argv))
        except _UNREACHABLE as exc:
            raise StoreUnavailable(
                f"Redis connection lost; the write may or may not apply: {exc}"
            ) from exc


class AsyncRedisStore(_RedisBase):
    """Compare-and-set over Redis hashes with a ``redis.asyncio.Redis`` client.

    Same scripts, arguments and outcomes as :class:`RedisStore`.
    """

    def __init__(self, client: AsyncRedis, *, prefix: str = "ifmatch:") -> None:
        super().__init__(prefix)
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
        """Apply every item in one script (see :meth:`RedisStore.compare_and_set_many`)."""
        keys, argv = self._bulk_args(list(items), all_or_nothing)
        if not keys:
            return []
        return self._results(await self._run(self._bulk, keys, argv))

    @staticmethod
    async def _run(script: Any, keys: list[str], argv: Sequence[Value]) -> Any:
        try:
            return await script(keys=keys, args=list(argv))
        except _UNREACHABLE as exc:
            raise StoreUnavailable(
                f"Redis connection lost; the write may or may not apply: {exc}"
            ) from exc
