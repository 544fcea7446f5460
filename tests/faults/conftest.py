"""Fault proxies in front of PostgreSQL, MariaDB, Redis and an HTTP app server.

Each fixture yields the proxy, how to reach the service directly (to see what really
happened) and how to reach it through the proxy (what the code under test is given).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from faults.proxy import FaultProxy
from faults.servers import Proxied, ProxiedDatabase, Server, flask_server, through_proxy
from services import Database


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[str, int], FaultProxy]]:
    """Start a :class:`FaultProxy` to ``(upstream_host, upstream_port)``; all are closed at
    the end of the test."""
    started: list[FaultProxy] = []

    def start(upstream_host: str, upstream_port: int) -> FaultProxy:
        proxy = FaultProxy(upstream_host, upstream_port).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.close()


@pytest.fixture
def postgres_proxy(
    postgres_db: Database, fault_proxy: Callable[[str, int], FaultProxy]
) -> ProxiedDatabase:
    """The session's PostgreSQL database behind a fault proxy."""
    return through_proxy(postgres_db, fault_proxy(postgres_db.host, postgres_db.port))


@pytest.fixture
def mariadb_proxy(
    mariadb_db: Database, fault_proxy: Callable[[str, int], FaultProxy]
) -> ProxiedDatabase:
    """The session's MariaDB database behind a fault proxy."""
    return through_proxy(mariadb_db, fault_proxy(mariadb_db.host, mariadb_db.port))


@pytest.fixture
def redis_proxy(redis_url: str, fault_proxy: Callable[[str, int], FaultProxy]) -> Proxied:
    """Redis behind a fault proxy; ``direct`` and ``url`` are ``redis://`` URLs."""
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    proxy = fault_proxy(host, port)
    return Proxied(proxy, redis_url, redis_url.replace(f"{host}:{port}", f"127.0.0.1:{proxy.port}"))


@pytest.fixture(scope="session")
def app_server() -> Iterator[Server]:
    """The Flask example app in memory under gunicorn (one worker, so one memory)."""
    with flask_server(None, workers=1) as server:
        yield server


@pytest.fixture
def app_proxy(app_server: Server, fault_proxy: Callable[[str, int], FaultProxy]) -> Proxied:
    """The Flask example app behind a fault proxy; ``direct`` and ``url`` are base URLs."""
    proxy = fault_proxy("127.0.0.1", app_server.port)
    return Proxied(proxy, app_server.base_url, f"http://127.0.0.1:{proxy.port}")
