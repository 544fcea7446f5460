"""A throw-away Redis Cluster: three primaries with one replica each, on free loopback ports.

Started from the system's ``redis-server`` in a temporary directory and joined with
``redis-cli --cluster create … --cluster-replicas 1 --cluster-yes``; nothing is downloaded. The
node timeout is short (1 s) so that a killed primary's replica is promoted within seconds.
Nodes may be killed (``SIGKILL``) and stalled (``DEBUG SLEEP``) by the tests.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from services import REQUIRE_SERVICES, port_open

NODE_TIMEOUT_MS = 1000
BINARIES = ("redis-server", "redis-cli")


def missing_binaries() -> None:
    """Skip (fail under IFMATCH_REQUIRE_SERVICES=1) when redis-server or redis-cli is absent."""
    absent = [name for name in BINARIES if shutil.which(name) is None]
    if absent:
        message = f"{' and '.join(absent)} not installed (Debian package redis-server)"
        if REQUIRE_SERVICES:
            pytest.fail(message + " and IFMATCH_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(message)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_ports(count: int) -> list[int]:
    """``count`` ports free now whose cluster bus ports (port + 10000) are free as well."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randint(20000, 45000)
        if port not in chosen and _bindable(port) and _bindable(port + 10000):
            chosen.append(port)
    return chosen


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)


@dataclass
class Cluster:
    directory: Path
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.alive()[0].port}"

    def alive(self) -> list[Node]:
        return [node for node in self.nodes if node.process.poll() is None]

    def client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.alive()[0].port, socket_timeout=5)

    def node(self, port: int) -> Node:
        return next(node for node in self.nodes if node.port == port)

    def topology(self) -> dict[int, tuple[str, int | None]]:
        """Every live node's port → (``"master"`` or ``"slave"``, its primary's port)."""
        with contextlib.closing(self.alive()[0].client()) as client:
            nodes = client.execute_command("CLUSTER NODES")  # parsed by redis-py into a dict
        ids = {entry["node_id"]: int(address.rsplit(":", 1)[1]) for address, entry in nodes.items()}
        found: dict[int, tuple[str, int | None]] = {}
        for address, entry in nodes.items():
            flags = entry["flags"]
            port = int(address.rsplit(":", 1)[1] or 0)
            if not port or "fail" in flags or "noaddr" in flags or "handshake" in flags:
                continue
            role = "master" if "master" in flags else "slave"
            found[port] = (role, ids.get(entry["master_id"]))
        return found

    def primary_of(self, key: str) -> int:
        """The port of the primary serving ``key``'s slot now."""
        with contextlib.closing(self.client()) as client:
            node = client.get_node_from_key(key)
            assert node is not None
            return int(node.port)

    def replica_of(self, primary: int) -> int:
        return next(
            port
            for port, (role, of) in self.topology().items()
            if role == "slave" and of == primary
        )

    def node_id(self, port: int) -> str:
        with contextlib.closing(self.node(port).client()) as client:
            found = client.execute_command("CLUSTER MYID")
        return found.decode() if isinstance(found, bytes) else str(found)

    def migrate_slot(self, slot: int, source: int) -> int:
        """Move ``slot`` from primary ``source`` to another primary, as ``redis-cli --cluster
        reshard`` does (IMPORTING/MIGRATING, MIGRATE the keys, SETSLOT NODE), with pauses in
        between so that clients meet ASK and TRYAGAIN on the way; answer the new owner."""
        primaries = [p for p, (role, _) in self.topology().items() if role == "master"]
        target = next(port for port in primaries if port != source)
        source_id, target_id = self.node_id(source), self.node_id(target)
        with (
            contextlib.closing(self.node(source).client()) as src,
            contextlib.closing(self.node(target).client()) as dst,
        ):
            dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
            src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
            time.sleep(0.1)
            while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
                src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
            time.sleep(0.1)
            for port in [target, source, *(p for p in primaries if p not in (source, target))]:
                with contextlib.closing(self.node(port).client()) as each:
                    each.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
        time.sleep(0.2)
        return target

    def kill(self, port: int) -> None:
        """SIGKILL a node: no goodbye to its replica, no last write shipped."""
        process = self.node(port).process
        process.send_signal(signal.SIGKILL)
        process.wait()

    def wait_promoted(self, port: int, timeout: float = 30.0) -> None:
        """Wait until node ``port`` is a primary and every live node says the cluster is ok."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, StopIteration, OSError):
                if self.topology().get(port, ("", None))[0] == "master" and self.healthy():
                    return
            time.sleep(0.1)
        raise AssertionError(f"node {port} was not promoted within {timeout} s")

    def healthy(self) -> bool:
        for node in self.alive():
            with contextlib.closing(node.client()) as client:
                info = client.execute_command("CLUSTER INFO")  # parsed into a dict
            if info.get("cluster_state") != "ok":
                return False
        return True


def _start_node(directory: Path, port: int) -> Node:
    node_dir = directory / str(port)
    node_dir.mkdir()
    argv = [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1",
        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--dir", str(node_dir),
        "--save", "", "--appendonly", "no", "--enable-debug-command", "local",
        "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
        "--logfile", str(node_dir / "redis.log"),
    ]  # fmt: skip
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    return Node(port, process)


@contextlib.contextmanager
def redis_cluster(primaries: int = 3) -> Iterator[Cluster]:
    """Start ``primaries`` primaries and as many replicas; stop and delete them afterwards."""
    missing_binaries()
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="ifmatch-redis-cluster-")))
    try:
        for port in cluster_ports(primaries * 2):
            cluster.nodes.append(_start_node(cluster.directory, port))
        deadline = time.monotonic() + 15
        for node in cluster.nodes:
            while not port_open("127.0.0.1", node.port, timeout=0.1):
                if node.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on port {node.port}", pytrace=False)
                time.sleep(0.02)
        create = subprocess.run(
            ["redis-cli", "--cluster", "create",
             *(f"127.0.0.1:{node.port}" for node in cluster.nodes),
             "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if create.returncode != 0:
            pytest.fail(f"redis-cli --cluster create failed:\n{create.stdout}{create.stderr}")
        wait_ready(cluster)
        yield cluster
    finally:
        for node in cluster.nodes:
            if node.process.poll() is None:
                node.process.kill()
                node.process.wait()
        shutil.rmtree(cluster.directory, ignore_errors=True)


def wait_ready(cluster: Cluster, timeout: float = 30.0) -> None:
    """Every live node agrees the cluster is ok, is in it, and every replica's link to its
    primary is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            roles = cluster.topology()
            synced = True
            for port, (role, _) in roles.items():
                if role == "slave":
                    with contextlib.closing(cluster.node(port).client()) as client:
                        link = client.info("replication").get("master_link_status")
                    synced = synced and link == "up"
            if cluster.healthy() and len(roles) == len(cluster.alive()) and synced:
                return
        time.sleep(0.1)
    pytest.fail("the Redis Cluster did not become ready", pytrace=False)
