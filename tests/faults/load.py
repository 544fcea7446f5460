"""Load with faults: many writers append unique tokens to one document through
``update(url, fn)`` while replies are lost, database connections are terminated and a server
worker is SIGKILLed; then the document is read directly from the store and compared with what
each writer was told.

The deployment (one function per shape)::

    writers ──▶ HTTP fault proxy ──▶ app server workers ──▶ store fault proxy ──▶ store
    (threads,   (loses the reply     (gunicorn / uvicorn,   (loses the reply
     update())   to a 2xx PUT)        one SIGKILLed)         to a write)

- ``flask_on_postgresql``, ``flask_on_mariadb``, ``flask_on_sqlite``: the Flask example app
  (``integrations.example_flask``) under gunicorn on the SQLAlchemy store;
- ``fastapi_on_redis``: the FastAPI example app under uvicorn on the async Redis store, its
  redis-py client retrying as redis-py does by default, or not at all.

Each takes ``idempotent=True`` to run the app honouring ``Idempotency-Key`` (the store keeping
the records), which ``ifmatch.client.Client`` sends with every write.

The document holds one text field; appending a token is reading the text and writing it back
with ``token + "\\n"`` added, conditionally (``If-Match``) on the version read.

This is a measuring harness, not a verdict: :class:`Report` says what was lost (acknowledged
and absent), what was applied twice, what was applied without an acknowledgement (an unknown
outcome, which is fine), and whether any 2xx answered a write that is not in the document.
A writer whose ``update`` raises calls it again for the same token up to ``Load.resend``
times, as an application must to get its write through a lost reply; where the server does not
honour the client's ``Idempotency-Key``, that is where duplicates come from.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from faults.apps import create_records
from faults.proxy import DROP_REPLY, FaultProxy, Match, Trigger, fault_proxy
from faults.servers import (
    MariaDBTerminator,
    PostgresTerminator,
    RedisRetry,
    RedisTerminator,
    Server,
    Terminator,
    fastapi_redis_server,
    flask_server,
    redis_location,
)
from ifmatch.client import Backoff, Client, ClientError
from integrations.example_models import create_tables
from services import Database

Update = Callable[[str, Callable[[Any], Any]], object]
#: ``connect(base_url, observe)``: a context giving one writer its ``update``; ``observe`` must
#: see every response (an httpx ``response`` event hook), to record the 2xx answers.
Connect = Callable[[str, Callable[[httpx.Response], None]], AbstractContextManager[Update]]


@contextlib.contextmanager
def client_update(
    base_url: str, observe: Callable[[httpx.Response], None], *, retries: int = 30
) -> Iterator[Update]:
    """``ifmatch.client.Client.update``, one client per writer."""
    with Client(
        base_url,
        timeout=15,
        backoff=Backoff(base=0.005, cap=0.1),
        event_hooks={"response": [observe]},
    ) as client:

        def update(url: str, fn: Callable[[Any], Any]) -> object:
            return client.update(url, fn, retries=retries)

        yield update


@dataclass(frozen=True)
class Load:
    """The writers. ``resend``: further ``update()`` calls for a token after one raised, as an
    application retries a write it was told failed; 0 measures ``update()`` alone (a client
    that resolves lost replies itself needs no resend)."""

    writers: int = 16
    seconds: float = 3.5  # no writer starts a new token after this
    tokens_each: int = 40  # at most, per writer
    resend: int = 2
    connect: Connect = client_update


@dataclass(frozen=True)
class Faults:
    """The fault schedule; each ``*_every`` re-arms its fault once the last one was used."""

    http_drop_every: float | None = 0.3  # lose the reply to a 2xx PUT (writer ↔ app)
    store_drop_every: float | None = 0.3  # lose the reply to a write (app ↔ store)
    terminate_every: float | None = 1.0  # end the app's store connections on the server
    kill_worker_at: float | None = 2.0  # SIGKILL one app server worker, once


NO_FAULTS = Faults(None, None, None, None)


@dataclass(frozen=True)
class Report:
    """What the writers were told, and what the store holds at the end."""

    shape: str
    attempted: frozenset[str]  # tokens a writer tried to append
    acked: frozenset[str]  # tokens whose update() returned
    calls: Mapping[str, int]  # update() calls per token
    text: str  # the document, read directly from the store
    ok_writes: tuple[str, ...]  # the text of every PUT answered 2xx
    errors: Mapping[str, int]  # what update() raised, by kind
    faults: Mapping[str, int]  # faults injected, by kind
    seconds: float

    @property
    def present(self) -> list[str]:
        return self.text.splitlines()

    @property
    def lost(self) -> frozenset[str]:
        """Acknowledged, and not in the document."""
        return self.acked - set(self.present)

    @property
    def duplicated(self) -> dict[str, int]:
        """Tokens in the document more than once, and how many times."""
        return {token: n for token, n in Counter(self.present).items() if n > 1}

    @property
    def duplicated_in_one_call(self) -> list[str]:
        """Duplicated although ``update`` was called once for them: applied twice below the
        writer (a retry in the client, the app or its database driver)."""
        return sorted(t for t in self.duplicated if self.calls.get(t) == 1)

    @property
    def applied_unacknowledged(self) -> frozenset[str]:
        """In the document, never acknowledged: an unknown outcome that was applied."""
        return frozenset(self.present) - self.acked

    @property
    def unacknowledged(self) -> frozenset[str]:
        return self.attempted - self.acked

    @property
    def absent_2xx(self) -> list[str]:
        """2xx answers to writes that are not in the document's history. Every write appends
        to the text it read, so every applied write's text is a prefix of the final text."""
        return [text for text in self.ok_writes if not self.text.startswith(text)]

    def inconsistencies(self) -> list[str]:
        """Ways the numbers disagree with each other: none, or the harness is wrong."""
        problems = []
        if not self.acked <= self.attempted:
            problems.append("acknowledged tokens no writer attempted")
        if not set(self.present) <= self.attempted:
            problems.append(f"lines no writer wrote: {sorted(set(self.present) - self.attempted)}")
        if self.text and not self.text.endswith("\n") or "" in self.present:
            problems.append("the document is not one token per line")
        if set(self.calls) != self.attempted or not all(n >= 1 for n in self.calls.values()):
            problems.append("update() calls do not match the tokens attempted")
        ok_tokens = {text.splitlines()[-1] for text in self.ok_writes if text}
        if ok_tokens != self.acked:
            problems.append(
                f"2xx writes and acknowledgements disagree: {sorted(ok_tokens ^ self.acked)[:5]}"
            )
        if sum(self.errors.values()) != sum(self.calls.values()) - len(self.acked):
            problems.append("update() calls are not one acknowledgement or one error each")
        return problems

    def summary(self) -> str:
        duplicated = self.duplicated
        return (
            f"{self.shape}: {len(self.attempted)} tokens, {len(self.acked)} acknowledged, "
            f"{len(self.lost)} lost, {len(duplicated)} duplicated "
            f"({sum(duplicated.values()) - len(duplicated)} extra copies; "
            f"{len(self.duplicated_in_one_call)} within one update() call), "
            f"{len(self.applied_unacknowledged)} applied without acknowledgement, "
            f"{len(self.absent_2xx)} 2xx for absent writes; "
            f"update() calls {sum(self.calls.values())}; errors {dict(self.errors)}; "
            f"faults {dict(self.faults)}; {self.seconds:.1f} s"
        )


# --- the writers ----------------------------------------------------------------------------


@dataclass
class _Tally:
    acked: set[str] = field(default_factory=set)
    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    ok_writes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, response: httpx.Response) -> None:
        if response.request.method == "PUT" and 200 <= response.status_code < 300:
            text = json.loads(response.request.content)["text"]
            with self.lock:
                self.ok_writes.append(text)


def _append(token: str) -> Callable[[Any], Any]:
    def apply(document: dict[str, Any]) -> dict[str, Any]:
        return {"text": document["text"] + token + "\n"}

    return apply


def _error_kind(error: Exception) -> str:
    status = getattr(error, "status", 0)
    return f"{type(error).__name__} {status}" if status else type(error).__name__


def _write(base_url: str, path: str, number: int, load: Load, tally: _Tally, start: float) -> None:
    with load.connect(base_url, tally.observe) as update:
        for i in range(load.tokens_each):
            if time.monotonic() - start > load.seconds:
                return
            token = f"w{number}.{i}"
            for _ in range(1 + load.resend):
                with tally.lock:
                    tally.calls[token] += 1
                try:
                    update(path, _append(token))
                except (httpx.HTTPError, ClientError) as error:
                    with tally.lock:
                        tally.errors[_error_kind(error)] += 1
                    time.sleep(0.01)
                    continue
                with tally.lock:
                    tally.acked.add(token)
                break


# --- the fault schedule ---------------------------------------------------------------------


class _Schedule:
    """Injects ``Faults`` from a thread while the writers run."""

    def __init__(
        self,
        faults: Faults,
        http: FaultProxy,
        server: Server,
        store: FaultProxy | None,
        store_write: Match,
        store_reply: Match,
        terminator: Terminator | None,
    ) -> None:
        self.faults, self.http, self.server = faults, http, server
        self.store, self.store_write, self.store_reply = store, store_write, store_reply
        self.terminator = terminator
        self.http_triggers: list[Trigger] = []
        self.store_triggers: list[Trigger] = []
        self.counts: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fault-schedule")
        self.failure: BaseException | None = None

    def __enter__(self) -> _Schedule:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self.thread.join(30)
        for trigger in self.http_triggers + self.store_triggers:
            trigger.cancel()
        self.counts["http_replies_lost"] = sum(t.fired for t in self.http_triggers)
        self.counts["store_replies_lost"] = sum(t.fired for t in self.store_triggers)
        if self.failure is not None:
            raise self.failure

    def _run(self) -> None:
        try:
            self._schedule()
        except BaseException as exc:  # reported by __exit__, in the test's thread
            self.failure = exc

    def _schedule(self) -> None:
        faults, start = self.faults, time.monotonic()
        every = {
            "http": faults.http_drop_every,
            "store": faults.store_drop_every if self.store else None,
            "terminate": faults.terminate_every if self.store and self.terminator else None,
        }
        due = {name: interval for name, interval in every.items() if interval}
        kill_at = faults.kill_worker_at
        while not self.stopping.wait(0.02):
            now = time.monotonic() - start
            for name in [name for name, at in due.items() if now >= at]:
                due[name] += every[name] or 0
                self._inject(name)
            if kill_at is not None and now >= kill_at:
                kill_at = None
                self.counts["workers_killed"] += self.server.kill_worker() is not None

    def _inject(self, name: str) -> None:
        if name == "terminate":
            assert self.store is not None and self.terminator is not None
            ended = self.terminator.terminate(self.store.upstream_ports())
            self.counts["store_connections_ended"] += ended
            return
        triggers = self.http_triggers if name == "http" else self.store_triggers
        if triggers and not triggers[-1].done:
            return  # the last one is still waiting for its reply
        if name == "http":
            triggers.append(self.http.arm(DROP_REPLY, match=b"PUT ", reply_match=b"HTTP/1.1 2"))
        else:
            assert self.store is not None
            triggers.append(
                self.store.arm(DROP_REPLY, match=self.store_write, reply_match=self.store_reply)
            )


# --- one run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Deployment:
    """What a shape provides to :func:`_run`."""

    shape: str
    server: Server
    final_text: Callable[[str], str]  # document id -> its text, read from the store directly
    store: FaultProxy | None = None
    store_write: Match = None  # the requests whose replies the store proxy loses
    store_reply: Match = None
    terminator: Terminator | None = None


def _run(deployment: _Deployment, load: Load, faults: Faults) -> Report:
    doc_id = f"faults-{uuid.uuid4().hex[:10]}"
    path = f"/documents/{doc_id}"
    created = httpx.put(
        deployment.server.base_url + path,
        json={"text": ""},
        headers={"If-None-Match": "*"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    tally = _Tally()
    failures: list[BaseException] = []

    with fault_proxy("127.0.0.1", deployment.server.port) as http:
        base_url = f"http://127.0.0.1:{http.port}"

        def writer(number: int) -> None:
            try:
                _write(base_url, path, number, load, tally, start)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(load.writers)]
        schedule = _Schedule(
            faults,
            http,
            deployment.server,
            deployment.store,
            deployment.store_write,
            deployment.store_reply,
            deployment.terminator,
        )
        start = time.monotonic()
        with schedule:
            for thread in threads:
                thread.start()
            time.sleep(load.seconds)  # the faults stop when the writers stop starting tokens
        for thread in threads:
            thread.join(120)
        elapsed = time.monotonic() - start
    assert not any(thread.is_alive() for thread in threads), "a writer did not finish"
    if failures:
        raise failures[0]
    attempted = frozenset(tally.calls)
    return Report(
        shape=deployment.shape,
        attempted=attempted,
        acked=frozenset(tally.acked),
        calls=dict(tally.calls),
        text=deployment.final_text(doc_id),
        ok_writes=tuple(tally.ok_writes),
        errors=dict(tally.errors),
        faults=dict(schedule.counts),
        seconds=elapsed,
    )


# --- the shapes -----------------------------------------------------------------------------


def _sql_text(url: str) -> Callable[[str], str]:
    def final_text(doc_id: str) -> str:
        from sqlalchemy import create_engine, select

        from integrations.example_models import Document

        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                query = select(Document.text).where(Document.id == doc_id)
                return str(connection.execute(query).scalar_one())
        finally:
            engine.dispose()

    return final_text


def flask_on_postgresql(
    db: Database,
    *,
    load: Load = Load(),
    faults: Faults = Faults(),
    workers: int = 2,
    idempotent: bool = False,
) -> Report:
    """The Flask example app under gunicorn on PostgreSQL, through a store proxy that loses
    COMMIT replies; the app's connections are terminated with ``pg_terminate_backend``.
    ``idempotent``: the app honours ``Idempotency-Key``, its records in the database."""
    shape = _named("flask+postgresql", idempotent)
    return _flask_on_network_sql(shape, db, PostgresTerminator, load, faults, workers, idempotent)


def flask_on_mariadb(
    db: Database,
    *,
    load: Load = Load(),
    faults: Faults = Faults(),
    workers: int = 2,
    idempotent: bool = False,
) -> Report:
    """The same on MariaDB; the app's connections are ended with ``KILL CONNECTION``."""
    shape = _named("flask+mariadb", idempotent)
    return _flask_on_network_sql(shape, db, MariaDBTerminator, load, faults, workers, idempotent)


def _named(shape: str, idempotent: bool) -> str:
    return shape + (", Idempotency-Key honoured" if idempotent else "")


def _flask_on_network_sql(
    shape: str,
    db: Database,
    terminator_for: Callable[[Database], Terminator],
    load: Load,
    faults: Faults,
    workers: int,
    idempotent: bool,
) -> Report:
    create_tables(db.sqlalchemy_url())
    if idempotent:
        create_records(db.sqlalchemy_url())
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(fault_proxy(db.host, db.port))
        through = Database(db.vendor, store.host, store.port, db.user, db.password, db.name)
        server = stack.enter_context(
            flask_server(through.sqlalchemy_url(), workers=workers, idempotent=idempotent)
        )
        terminator = terminator_for(db)
        stack.callback(terminator.close)
        deployment = _Deployment(
            shape,
            server,
            _sql_text(db.sqlalchemy_url()),
            store=store,
            store_write=b"COMMIT",
            terminator=terminator,
        )
        return _run(deployment, load, faults)


def flask_on_sqlite(
    directory: Path,
    *,
    load: Load = Load(),
    faults: Faults = Faults(),
    workers: int = 2,
    idempotent: bool = False,
) -> Report:
    """The Flask example app under gunicorn on one SQLite file: no network to the store, so
    the faults are lost HTTP replies and a killed worker."""
    url = f"sqlite:///{directory / 'faults.sqlite'}"
    create_tables(url)
    if idempotent:
        create_records(url)
    with flask_server(url, workers=workers, idempotent=idempotent) as server:
        shape = _named("flask+sqlite", idempotent)
        return _run(_Deployment(shape, server, _sql_text(url)), load, faults)


def fastapi_on_redis(
    redis_url: str,
    *,
    retry: RedisRetry,
    load: Load = Load(),
    faults: Faults = Faults(),
    workers: int = 2,
    idempotent: bool = False,
) -> Report:
    """The FastAPI example app under uvicorn on the async Redis store, through a store proxy
    that loses the reply to a compare-and-set that won (``EVALSHA`` answered ``won``); the
    app's connections are ended with ``CLIENT KILL``."""
    prefix = f"ifmatch-test:faults:{uuid.uuid4().hex[:10]}:"
    host, port, _ = redis_location(redis_url)
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(fault_proxy(host, port))
        through = redis_url.replace(f"{host}:{port}", f"127.0.0.1:{store.port}", 1)
        server = stack.enter_context(
            fastapi_redis_server(
                through, prefix, retry=retry, workers=workers, idempotent=idempotent
            )
        )
        terminator = RedisTerminator(redis_url)
        stack.callback(terminator.close)
        stack.callback(_delete_keys, terminator, prefix)

        def final_text(doc_id: str) -> str:
            value = terminator.client.hget(f"{prefix}{doc_id}", "text")
            assert isinstance(value, bytes), "the document is gone"
            return value.decode()

        deployment = _Deployment(
            _named(f"fastapi+redis (redis-py retry {retry})", idempotent),
            server,
            final_text,
            store=store,
            store_write=b"EVALSHA",
            store_reply=b"won",
            terminator=terminator,
        )
        return _run(deployment, load, faults)


def _delete_keys(terminator: RedisTerminator, prefix: str) -> None:
    keys = list(terminator.client.scan_iter(match=f"{prefix}*"))
    if keys:
        terminator.client.delete(*keys)
