"""The fault proxy against the real services: each fault does what it says, aimed at the reply
it names, and what really happened is read directly, not through the proxy.

The redis-py tests show what a lost reply does under redis-py's default retry: the script is
sent again, so a plain script runs twice for one call, while the Redis store's compare-and-set
(which names each write) answers its first run's answer.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pymysql
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from faults.proxy import (
    DROP_AFTER_REQUEST,
    DROP_REPLY,
    RESET_ON_CONNECT,
    RESET_REPLY,
    Fault,
    FaultProxy,
    delay_reply,
    fault_proxy,
    truncate_reply,
)
from faults.servers import (
    MariaDBTerminator,
    PostgresTerminator,
    Proxied,
    ProxiedDatabase,
    RedisTerminator,
    redis_location,
)
from ifmatch.stores import Expectation, Outcome
from ifmatch.stores.redis import RedisStore
from services import Database

pytestmark = pytest.mark.services


# --- PostgreSQL ------------------------------------------------------------------------------


def pg_connect(db: Database) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=db.host, port=db.port, user=db.user, password=db.password or None, dbname=db.name
    )


@pytest.fixture
def pg_table(postgres_db: Database) -> Iterator[str]:
    name = f"faults_{uuid.uuid4().hex[:10]}"
    with pg_connect(postgres_db) as conn:
        conn.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, n int NOT NULL)")
        conn.execute(f"INSERT INTO {name} VALUES (1, 0)")
    yield name
    with pg_connect(postgres_db) as conn:
        conn.execute(f"DROP TABLE {name}")


def pg_count(db: Database, table: str) -> int:
    with pg_connect(db) as conn:
        row = conn.execute(f"SELECT n FROM {table} WHERE id = 1").fetchone()
        assert row is not None
        return int(str(row[0]))


def test_postgresql_commit_reply_dropped(postgres_proxy: ProxiedDatabase, pg_table: str) -> None:
    proxy = postgres_proxy.proxy
    conn = pg_connect(postgres_proxy.through)
    conn.execute(f"UPDATE {pg_table} SET n = n + 1 WHERE id = 1")
    trigger = proxy.arm(DROP_REPLY, match=b"COMMIT")
    with pytest.raises(psycopg.OperationalError):
        conn.commit()
    conn.close()
    assert (trigger.seen, trigger.taken, trigger.fired) == (1, 1, 1)
    assert pg_count(postgres_proxy.direct, pg_table) == 1  # committed: only the reply was lost
    assert proxy.stats().faults == {"drop": 1}


def test_postgresql_dropped_after_the_request_still_commits(
    postgres_proxy: ProxiedDatabase, pg_table: str
) -> None:
    conn = pg_connect(postgres_proxy.through)
    conn.execute(f"UPDATE {pg_table} SET n = n + 1 WHERE id = 1")
    trigger = postgres_proxy.proxy.arm(DROP_AFTER_REQUEST, match=b"COMMIT")
    with pytest.raises(psycopg.OperationalError):
        conn.commit()
    conn.close()
    assert trigger.fired == 1
    # The server had the COMMIT before the connection's end: it commits, without a client.
    assert wait_for(lambda: pg_count(postgres_proxy.direct, pg_table) == 1)


def test_postgresql_update_reply_dropped_rolls_back(
    postgres_proxy: ProxiedDatabase, pg_table: str
) -> None:
    conn = pg_connect(postgres_proxy.through)
    trigger = postgres_proxy.proxy.arm(DROP_REPLY, match=b"UPDATE")
    with pytest.raises(psycopg.OperationalError):
        conn.execute(f"UPDATE {pg_table} SET n = n + 1 WHERE id = 1")
    conn.close()
    assert trigger.fired == 1
    # The UPDATE ran, but its transaction was never committed.
    assert pg_count(postgres_proxy.direct, pg_table) == 0


def test_postgresql_terminator_ends_only_the_proxied_connections(
    postgres_proxy: ProxiedDatabase, pg_table: str
) -> None:
    proxied = pg_connect(postgres_proxy.through)
    proxied.execute("SELECT 1")
    bystander = pg_connect(postgres_proxy.direct)
    terminator = PostgresTerminator(postgres_proxy.direct)
    try:
        assert terminator.terminate(postgres_proxy.proxy.upstream_ports()) == 1
        with pytest.raises(psycopg.OperationalError):
            proxied.execute("SELECT 1")
        assert bystander.execute("SELECT 1").fetchone() == (1,)
    finally:
        terminator.close()
        proxied.close()
        bystander.close()


# --- MariaDB ---------------------------------------------------------------------------------


def maria_connect(db: Database) -> pymysql.Connection[pymysql.cursors.Cursor]:
    return pymysql.connect(
        host=db.host, port=db.port, user=db.user, password=db.password, database=db.name
    )


def test_mariadb_commit_reply_dropped(mariadb_proxy: ProxiedDatabase) -> None:
    table = f"faults_{uuid.uuid4().hex[:10]}"
    direct = maria_connect(mariadb_proxy.direct)
    direct.autocommit(True)
    with direct.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, n int NOT NULL)")
        cursor.execute(f"INSERT INTO {table} VALUES (1, 0)")
    try:
        conn = maria_connect(mariadb_proxy.through)
        with conn.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 1")
        trigger = mariadb_proxy.proxy.arm(DROP_REPLY, match=b"COMMIT")
        with pytest.raises(pymysql.err.OperationalError):
            conn.commit()
        conn.close()
        assert trigger.fired == 1
        with direct.cursor() as cursor:
            cursor.execute(f"SELECT n FROM {table} WHERE id = 1")
            assert cursor.fetchone() == (1,)
    finally:
        with direct.cursor() as cursor:
            cursor.execute(f"DROP TABLE {table}")
        direct.close()


def test_mariadb_terminator_ends_the_proxied_connection(mariadb_proxy: ProxiedDatabase) -> None:
    proxied = maria_connect(mariadb_proxy.through)
    terminator = MariaDBTerminator(mariadb_proxy.direct)
    try:
        assert terminator.terminate(mariadb_proxy.proxy.upstream_ports()) == 1
        with pytest.raises(pymysql.err.OperationalError), proxied.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        terminator.close()
        proxied.close()


# --- Redis -----------------------------------------------------------------------------------

INCR = "redis.call('INCR', KEYS[1]) return 1"


@pytest.fixture
def key(redis_url: str) -> Iterator[str]:
    name = f"ifmatch-test:faults:{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = [name, *client.scan_iter(match=f"{name}:*")]
    client.delete(*keys)
    client.close()


def redis_client(proxied: Proxied, *, retries: bool) -> redis.Redis:
    """redis-py's default client (``redis.Redis(host, port)`` retries 3 times on connection
    errors), or one that never retries."""
    host, port, db = redis_location(proxied.url)
    if retries:
        return redis.Redis(host=host, port=port, db=db)
    return redis.Redis(host=host, port=port, db=db, retry=Retry(NoBackoff(), 0))


def direct_get(proxied: Proxied, name: str) -> bytes | None:
    client = redis.Redis.from_url(proxied.direct)
    try:
        value = client.get(name)
        assert value is None or isinstance(value, bytes)
        return value
    finally:
        client.close()


def test_redis_without_retries_sees_the_lost_reply(redis_proxy: Proxied, key: str) -> None:
    client = redis_client(redis_proxy, retries=False)
    script = client.register_script(INCR)
    script(keys=[key])  # loaded: from now on one EVALSHA per call
    evalsha = redis_proxy.proxy.watch(b"EVALSHA")
    trigger = redis_proxy.proxy.arm(DROP_REPLY, match=b"EVALSHA")
    with pytest.raises(redis.ConnectionError):
        script(keys=[key])
    client.close()
    assert trigger.fired == 1 and evalsha.seen == 1
    assert direct_get(redis_proxy, key) == b"2"  # the script ran; its caller was told it failed


def test_redis_default_retry_runs_the_script_twice(redis_proxy: Proxied, key: str) -> None:
    client = redis_client(redis_proxy, retries=True)
    script = client.register_script(INCR)
    script(keys=[key])
    evalsha = redis_proxy.proxy.watch(b"EVALSHA")
    trigger = redis_proxy.proxy.arm(DROP_REPLY, match=b"EVALSHA")
    assert script(keys=[key]) == 1  # one call, answered as a success
    client.close()
    assert trigger.fired == 1
    assert evalsha.seen == 2  # redis-py sent it again on a new connection
    assert direct_get(redis_proxy, key) == b"3"  # applied twice


def test_redis_default_retry_gets_the_stores_first_answer(redis_proxy: Proxied, key: str) -> None:
    client = redis_client(redis_proxy, retries=True)
    store = RedisStore(client, prefix=f"{key}:")
    created = store.compare_and_set("doc", Expectation(exists=False), {"text": ""})
    assert created.outcome is Outcome.WON and created.snapshot is not None
    evalsha = redis_proxy.proxy.watch(b"EVALSHA")
    trigger = redis_proxy.proxy.arm(DROP_REPLY, match=b"EVALSHA", reply_match=b"won")
    expect = Expectation.version(created.snapshot.version)
    result = store.compare_and_set("doc", expect, {"text": "a"})
    client.close()
    assert trigger.fired == 1 and evalsha.seen == 2  # redis-py ran the script again
    # The re-run found its own first run's answer (the write id) instead of losing against
    # its own write: the caller is told it won, and the write is applied once.
    assert result.outcome is Outcome.WON
    direct = redis.Redis.from_url(redis_proxy.direct)
    record = RedisStore(direct, prefix=f"{key}:").get("doc")
    direct.close()
    assert record is not None
    assert record[0].version == created.snapshot.version + 1 and record[1]["text"] == b"a"


def test_redis_terminator_ends_the_proxied_connection(redis_proxy: Proxied) -> None:
    client = redis_client(redis_proxy, retries=False)
    client.ping()
    ports = redis_proxy.proxy.upstream_ports()
    terminator = RedisTerminator(redis_proxy.direct)
    try:
        assert len(ports) == 1 and terminator.terminate(ports) == 1
        assert wait_for(lambda: redis_proxy.proxy.stats().active == 0)  # the proxy saw it end
        addresses = [str(entry["addr"]) for entry in terminator.client.client_list()]
        assert not [a for a in addresses if int(a.rpartition(":")[2]) in ports]
        assert terminator.terminate(ports) == 0
    finally:
        terminator.close()
        client.close()


def test_cut_all_resets_every_open_connection(redis_proxy: Proxied) -> None:
    proxy = redis_proxy.proxy
    clients = [socket.create_connection(("127.0.0.1", proxy.port), timeout=10) for _ in range(2)]
    try:
        for sock in clients:
            sock.sendall(b"PING\r\n")
            assert sock.recv(64) == b"+PONG\r\n"
        assert proxy.cut_all() == 2 and proxy.stats().active == 0
        for sock in clients:
            with pytest.raises(ConnectionResetError):
                sock.recv(64)
    finally:
        for sock in clients:
            sock.close()


# --- HTTP: the app server --------------------------------------------------------------------


@pytest.fixture
def document(app_proxy: Proxied) -> str:
    """A new document of the example app; its path."""
    path = f"/documents/faults-{uuid.uuid4().hex[:8]}"
    created = httpx.put(
        app_proxy.direct + path, json={"text": "one"}, headers={"If-None-Match": "*"}
    )
    assert created.status_code == 201, created.text
    return path


def read_text(app: Proxied, path: str) -> str:
    text: str = httpx.get(app.direct + path).json()["text"]
    return text


def test_http_put_reply_dropped_after_the_write(app_proxy: Proxied, document: str) -> None:
    tag = httpx.get(app_proxy.direct + document).headers["ETag"]
    trigger = app_proxy.proxy.arm(DROP_REPLY, match=b"PUT ", reply_match=b"HTTP/1.1 2")
    with pytest.raises(httpx.RemoteProtocolError):  # closed without a response
        httpx.put(app_proxy.url + document, json={"text": "two"}, headers={"If-Match": tag})
    assert trigger.fired == 1
    assert read_text(app_proxy, document) == "two"


def test_reply_predicate_spares_other_replies(app_proxy: Proxied, document: str) -> None:
    trigger = app_proxy.proxy.arm(DROP_REPLY, match=b"PUT ", reply_match=b"HTTP/1.1 2")
    stale = httpx.put(
        app_proxy.url + document, json={"text": "two"}, headers={"If-Match": '"stale"'}
    )
    assert stale.status_code == 412  # relayed: its reply is not a 2xx
    assert (trigger.seen, trigger.taken, trigger.fired) == (1, 0, 0) and not trigger.done
    assert httpx.get(app_proxy.url + document).status_code == 200  # not a PUT
    assert trigger.seen == 1


def test_http_reset(app_proxy: Proxied, document: str) -> None:
    tag = httpx.get(app_proxy.direct + document).headers["ETag"]
    trigger = app_proxy.proxy.arm(RESET_REPLY, match=b"PUT ")
    with pytest.raises(httpx.ReadError) as raised:  # ECONNRESET, not an orderly close
        httpx.put(app_proxy.url + document, json={"text": "two"}, headers={"If-Match": tag})
    assert any(isinstance(error, ConnectionResetError) for error in causes(raised.value))
    assert trigger.fired == 1 and app_proxy.proxy.stats().faults == {"reset": 1}
    assert read_text(app_proxy, document) == "two"


def causes(error: BaseException) -> Iterator[BaseException]:
    found: BaseException | None = error
    while found is not None:
        yield found
        found = found.__cause__ or found.__context__


def test_reset_on_connect(app_proxy: Proxied, document: str) -> None:
    trigger = app_proxy.proxy.arm_connections(RESET_ON_CONNECT, count=2)
    for _ in range(2):
        with pytest.raises(httpx.TransportError):
            httpx.get(app_proxy.url + document)
    assert trigger.fired == 2 and trigger.done
    assert httpx.get(app_proxy.url + document).status_code == 200  # the third passes


def test_truncated_reply(app_proxy: Proxied, document: str) -> None:
    whole = raw_exchange(app_proxy.direct, document)
    assert whole.startswith(b"HTTP/1.1 200 OK\r\n") and len(whole) > 40
    trigger = app_proxy.proxy.arm(truncate_reply(20))
    assert raw_exchange(app_proxy.url, document) == whole[:20]
    assert trigger.fired == 1
    trigger = app_proxy.proxy.arm(truncate_reply(20))
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(app_proxy.url + document)


def raw_exchange(base: str, path: str) -> bytes:
    """One ``GET`` with ``Connection: close``; every byte received until the end."""
    port = int(base.rsplit(":", 1)[1])
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_delayed_reply_times_the_client_out(app_proxy: Proxied, document: str) -> None:
    trigger = app_proxy.proxy.arm(delay_reply(2.0), match=b"GET ")
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(app_proxy.url + document, timeout=httpx.Timeout(10, read=0.2))
    assert trigger.fired == 1


def test_delayed_reply_arrives_whole(app_proxy: Proxied, document: str) -> None:
    proxy = app_proxy.proxy
    trigger = proxy.arm(delay_reply(2.0), match=b"GET ")
    answer: list[httpx.Response] = []
    client = threading.Thread(target=lambda: answer.append(httpx.get(app_proxy.url + document)))
    client.start()
    # The app answered; the proxy holds the reply: nothing of it reached the client yet.
    assert wait_for(lambda: proxy.stats().upstream_bytes > 0)
    held = proxy.stats()
    assert held.relayed_bytes == 0 and not answer
    client.join(10)
    assert answer and answer[0].status_code == 200 and answer[0].json()["text"] == "one"
    assert proxy.stats().relayed_bytes == proxy.stats().upstream_bytes
    assert trigger.fired == 1 and proxy.stats().faults == {"delay": 1}


def test_arm_times_and_global_mode(app_proxy: Proxied, document: str) -> None:
    proxy = app_proxy.proxy
    trigger = proxy.arm(DROP_REPLY, match=b"GET ", times=2)
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(httpx.get(app_proxy.url + document).status_code)
        except httpx.RemoteProtocolError:
            outcomes.append(0)
    assert outcomes == [0, 0, 200] and trigger.fired == 2 and trigger.done
    proxy.set_fault(DROP_REPLY)
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(app_proxy.url + document)
    proxy.set_fault(None)
    assert httpx.get(app_proxy.url + document).status_code == 200
    assert proxy.stats().faults == {"drop": 4}


def test_counters_and_a_clean_shutdown(app_proxy: Proxied, document: str) -> None:
    with fault_proxy("127.0.0.1", int(app_proxy.direct.rsplit(":", 1)[1])) as proxy:
        with httpx.Client(base_url=f"http://127.0.0.1:{proxy.port}") as client:
            for _ in range(3):
                assert client.get(document).status_code == 200
        stats = proxy.stats()
        assert stats.connections == 3  # gunicorn's sync workers close after each response
        assert stats.client_bytes > 0 and stats.relayed_bytes == stats.upstream_bytes > 0
        assert stats.faults == {}
        # Closed with a connection still open: it is cut, and nothing is left behind.
        idle = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
        assert wait_for(lambda: proxy.stats().connections == 4 and len(proxy.upstream_ports()) == 1)
        port = proxy.port
    with idle:
        assert idle.recv(1) == b""
    assert not proxy.running
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_faults_are_checked() -> None:
    with pytest.raises(ValueError):
        Fault(at="request", relay=3)
    with pytest.raises(ValueError):
        Fault(relay=-1)
    proxy = FaultProxy("127.0.0.1", 9)
    with pytest.raises(ValueError):
        proxy.arm(RESET_ON_CONNECT)
    with pytest.raises(ValueError):
        proxy.arm(DROP_AFTER_REQUEST, reply_match=b"x")
    assert [f.name for f in (DROP_REPLY, RESET_REPLY, truncate_reply(3), delay_reply(1))] == [
        "drop",
        "reset",
        "truncate",
        "delay",
    ]


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``seconds`` pass (False)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
