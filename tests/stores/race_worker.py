"""One process of the lost-update race: threads appending unique tokens to one record.

Run as ``python -m stores.race_worker '<json spec>'``. Prints ``ready``, waits for a line on
stdin, runs, and prints one JSON line: the tokens whose write was acknowledged, the tokens
whose write raised, and counters.

Each thread, for each of its tokens: read the record → append the token → write it back
conditionally on the version it read → on LOST, read again and retry. The ``naive`` arm checks
the version in Python and then writes unconditionally, as check-then-write helpers do.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ifmatch.stores import Expectation, Outcome, Snapshot

Read = Callable[[], tuple[Snapshot, str]]
Write = Callable[[Expectation, str], Outcome]


@dataclass
class Tally:
    acked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)
    attempts: int = 0
    lost: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def sqlalchemy_ops(spec: dict[str, Any]) -> tuple[Read, Write, Callable[[], None]]:
    from sqlalchemy.orm import sessionmaker

    from ifmatch.stores.sqlalchemy import SQLAlchemyStore, is_retryable_conflict
    from stores.sa_support import Doc, make_engine

    engine = make_engine(
        spec["url"],
        isolation_level=spec.get("isolation_level"),
        snapshot_isolation=spec.get("snapshot_isolation"),
        pool_size=spec["threads"],
        max_overflow=1,
    )
    factory = sessionmaker(engine)
    own: Any = SQLAlchemyStore(Doc, factory)
    if spec.get("replica_url"):
        # Reads from a lagging streaming replica; the guarded write on the primary.
        from ifmatch.stores.replicas import ReplicaReads

        replica = make_engine(spec["replica_url"], pool_size=spec["threads"], max_overflow=1)
        own = ReplicaReads(own, SQLAlchemyStore(Doc, sessionmaker(replica)))
    key = spec["key"]

    def read() -> tuple[Snapshot, str]:
        record = own.get(key)
        assert record is not None
        return record[0], decode(record[1]["body"])

    def write_own(expect: Expectation, body: str) -> Outcome:
        return own.compare_and_set(key, expect, {"body": body}).outcome

    if spec["mode"] != "session":
        return read, write_own, engine.dispose

    def write_in_session(expect: Expectation, body: str) -> Outcome:
        # A request handler: read and write in one transaction, then commit. The read is
        # repeated here so that the write runs inside the read's snapshot.
        with factory() as session:
            store = SQLAlchemyStore(Doc, session)
            store.read(key)
            outcome = store.compare_and_set(key, expect, {"body": body}).outcome
            try:
                session.commit()
            except Exception as exc:
                if is_retryable_conflict(exc):
                    return Outcome.LOST
                raise
            return outcome

    return read, write_in_session, engine.dispose


def redis_ops(spec: dict[str, Any]) -> tuple[Read, Write, Callable[[], None]]:
    import redis
    from redis.cluster import RedisCluster

    from ifmatch.stores.redis import RedisStore

    client: redis.Redis | RedisCluster = (
        RedisCluster.from_url(spec["url"])
        if spec.get("cluster")
        else redis.Redis.from_url(spec["url"])
    )
    store = RedisStore(client, prefix=spec["prefix"], wait_replicas=spec.get("wait_replicas", 0))
    key = spec["key"]

    def read() -> tuple[Snapshot, str]:
        record = store.get(key)
        assert record is not None
        return record[0], decode(record[1]["body"])

    def write(expect: Expectation, body: str) -> Outcome:
        return store.compare_and_set(key, expect, {"body": body}).outcome

    return read, write, client.close


def append(
    token: str, read: Read, write: Write, naive: bool, tally: Tally, pause: float = 0.0
) -> None:
    for _ in range(500):
        with tally.lock:
            tally.attempts += 1
        snapshot, body = read()
        new_body = f"{body} {token}".strip()
        if naive:
            # Check-then-write: the check passes (we just read it), and the write is not tied
            # to the check. The pause stands for the work a handler does in between.
            if read()[0].version != snapshot.version:
                continue
            time.sleep(0.002)
            outcome = write(Expectation(), new_body)
        else:
            outcome = write(Expectation.version(snapshot.version), new_body)
        if outcome is Outcome.WON:
            with tally.lock:
                tally.acked.append(token)
            return
        with tally.lock:
            tally.lost += 1
        time.sleep(pause)
    with tally.lock:
        tally.gave_up.append(token)


def thread_main(name: str, spec: dict[str, Any], read: Read, write: Write, tally: Tally) -> None:
    for i in range(spec["tokens"]):
        token = f"{name}.{i}"
        try:
            # A writer reading a lagging replica waits a little after each lost write, as a
            # client backs off: on a loaded machine 500 quick attempts can all fall inside
            # the replica's lag (the faster the reads, the sooner), and the bound is about
            # liveness, not the count of lost updates.
            pause = 0.005 if spec.get("replica_url") else 0.0
            append(token, read, write, spec.get("naive", False), tally, pause)
        except Exception as exc:  # an error is a non-acknowledged write, never a success
            with tally.lock:
                tally.errors.append(token)
            print(f"error {token}: {exc!r}"[:300], file=sys.stderr)


def main(argv: list[str]) -> None:
    spec = json.loads(argv[1])
    build = sqlalchemy_ops if spec["backend"] == "sqlalchemy" else redis_ops
    read, write, close = build(spec)
    tally = Tally()
    threads = [
        threading.Thread(
            target=thread_main, args=(f"{spec['process']}.{t}", spec, read, write, tally)
        )
        for t in range(spec["threads"])
    ]
    print("ready", flush=True)
    sys.stdin.readline()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    close()
    summary = {k: getattr(tally, k) for k in ("acked", "errors", "gave_up", "attempts", "lost")}
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main(sys.argv)
