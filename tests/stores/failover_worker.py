"""One writer process of the Redis Cluster failover test.

Run as ``python -m stores.failover_worker '<json spec>'``. Prints ``ready``, waits for ``go``
on stdin, then each thread appends unique tokens (read → append → compare-and-set on the
version read → on LOST read again) to its key until ``stop`` arrives on stdin; prints one JSON
line: the acknowledged tokens per key and how many writes ended in an error (never counted as
acknowledged: a ``ReplicationUnconfirmed`` or a lost connection is an unknown outcome).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

from redis.cluster import ClusterNode, RedisCluster

from ifmatch.stores import Expectation, Outcome, ReplicationUnconfirmed
from ifmatch.stores.redis import RedisStore


def main(argv: list[str]) -> None:
    spec: dict[str, Any] = json.loads(argv[1])
    client = RedisCluster(
        startup_nodes=[ClusterNode("127.0.0.1", port) for port in spec["ports"]],
        socket_timeout=2,
        socket_connect_timeout=1,
    )
    store = RedisStore(
        client,
        prefix=spec["prefix"],
        wait_replicas=spec["wait_replicas"],
        wait_timeout=timedelta(milliseconds=spec["wait_timeout_ms"]),
    )
    stop = threading.Event()
    lock = threading.Lock()
    acked: dict[str, list[str]] = defaultdict(list)
    errors = {"unconfirmed": 0, "other": 0}

    def append(key: str, token: str) -> None:
        for _ in range(100):
            record = store.get(key)
            assert record is not None
            snapshot, fields = record
            text = f"{bytes(fields['body']).decode()} {token}".strip()
            result = store.compare_and_set(
                key, Expectation.version(snapshot.version), {"body": text}
            )
            if result.outcome is Outcome.WON:
                with lock:
                    acked[key].append(token)
                return

    def writer(name: str, key: str) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                append(key, f"{name}.{n}")
            except ReplicationUnconfirmed:
                with lock:
                    errors["unconfirmed"] += 1
                time.sleep(0.02)
            except Exception:  # unreachable, mid-failover, ...: not acknowledged
                with lock:
                    errors["other"] += 1
                time.sleep(0.02)

    keys = spec["keys"]
    threads = [
        threading.Thread(target=writer, args=(f"{spec['process']}.{t}", keys[t % len(keys)]))
        for t in range(spec["threads"])
    ]
    print("ready", flush=True)
    sys.stdin.readline()
    for thread in threads:
        thread.start()
    sys.stdin.readline()
    stop.set()
    for thread in threads:
        thread.join()
    client.close()
    print(json.dumps({"acked": acked, "errors": errors}), flush=True)


if __name__ == "__main__":
    main(sys.argv)
