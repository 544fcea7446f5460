"""Load with faults, on each store: what holds today, and what exactly-once writes change.

16 writers append unique tokens through ``ifmatch.client.Client.update`` while replies to
successful PUTs are lost, replies to the store's writes are lost, the app's store connections
are ended on the server, and one server worker is SIGKILLed (``faults.load``).

Asserted, because it must already hold: no acknowledged token is missing, no 2xx answered a
write that is not in the document, and the report's numbers agree with each other (and the
faults were really injected). Not asserted: duplicates, which each test prints. The example
apps as they stand do not honour ``Idempotency-Key``: the client then reports a lost reply as
``OutcomeUnknown``, the writer sends the token again, and a token whose first write had applied
is in the document twice. The last test runs the FastAPI app honouring the keys, where the
client settles a lost reply by sending the same request again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from faults.load import (
    NO_FAULTS,
    Load,
    Report,
    Update,
    fastapi_on_redis,
    flask_on_mariadb,
    flask_on_postgresql,
    flask_on_sqlite,
)
from services import Database

pytestmark = [pytest.mark.slow, pytest.mark.services]


def check(report: Report, record_property: Callable[[str, object], None], *, store: bool) -> None:
    print(report.summary())
    record_property("duplicated", len(report.duplicated))
    record_property("duplicated_in_one_call", len(report.duplicated_in_one_call))
    assert report.inconsistencies() == []
    assert report.acked, "no write was acknowledged: the load did not run"
    assert report.faults["http_replies_lost"] >= 1
    assert report.faults["workers_killed"] == 1
    if store:
        assert report.faults["store_replies_lost"] >= 1
        assert report.faults["store_connections_ended"] >= 1
    assert report.lost == frozenset(), f"acknowledged and missing: {sorted(report.lost)[:10]}"
    assert report.absent_2xx == [], "a 2xx answered a write that is not in the document"


def test_flask_on_sqlite(tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    check(flask_on_sqlite(tmp_path), record_property, store=False)


def test_flask_on_postgresql(
    postgres_db: Database, record_property: Callable[[str, object], None]
) -> None:
    check(flask_on_postgresql(postgres_db), record_property, store=True)


def test_flask_on_mariadb(
    mariadb_db: Database, record_property: Callable[[str, object], None]
) -> None:
    check(flask_on_mariadb(mariadb_db), record_property, store=True)


def test_fastapi_on_redis(redis_url: str, record_property: Callable[[str, object], None]) -> None:
    check(fastapi_on_redis(redis_url, retry="off"), record_property, store=True)


def test_fastapi_on_redis_with_redis_py_default_retry(
    redis_url: str, record_property: Callable[[str, object], None]
) -> None:
    check(fastapi_on_redis(redis_url, retry="default"), record_property, store=True)


# -- exactly once: the apps honour Idempotency-Key, and the client settles lost replies itself --


def check_exactly_once(
    report: Report, record_property: Callable[[str, object], None], *, store: bool
) -> None:
    """Everything :func:`check` asserts, and no token applied twice: each writer calls
    ``update()`` once per token (``resend=0``), and a lost reply is settled by the same request
    with the same key; a call that cannot settle raises ``OutcomeUnknown`` and is not repeated."""
    check(report, record_property, store=store)
    assert report.duplicated == {}, f"applied twice: {sorted(report.duplicated)[:10]}"


EXACTLY_ONCE = Load(resend=0)


def test_exactly_once_flask_on_sqlite(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    report = flask_on_sqlite(tmp_path, idempotent=True, load=EXACTLY_ONCE)
    check_exactly_once(report, record_property, store=False)


def test_exactly_once_flask_on_postgresql(
    postgres_db: Database, record_property: Callable[[str, object], None]
) -> None:
    report = flask_on_postgresql(postgres_db, idempotent=True, load=EXACTLY_ONCE)
    check_exactly_once(report, record_property, store=True)


def test_exactly_once_flask_on_mariadb(
    mariadb_db: Database, record_property: Callable[[str, object], None]
) -> None:
    report = flask_on_mariadb(mariadb_db, idempotent=True, load=EXACTLY_ONCE)
    check_exactly_once(report, record_property, store=True)


def test_exactly_once_fastapi_on_redis_with_redis_py_default_retry(
    redis_url: str, record_property: Callable[[str, object], None]
) -> None:
    report = fastapi_on_redis(redis_url, retry="default", idempotent=True, load=EXACTLY_ONCE)
    check_exactly_once(report, record_property, store=True)


@contextlib.contextmanager
def read_then_overwrite(
    base_url: str, observe: Callable[[httpx.Response], None]
) -> Iterator[Update]:
    """A client that reads, then writes with ``If-Match: *``: last writer wins."""
    with httpx.Client(base_url=base_url, timeout=15, event_hooks={"response": [observe]}) as http:

        def update(url: str, fn: Callable[[Any], Any]) -> object:
            document = http.get(url).json()
            time.sleep(0.005)  # the application's work between the read and the write
            written = http.put(url, json=fn(document), headers={"If-Match": "*"})
            written.raise_for_status()
            return written

        yield update


def test_the_harness_sees_lost_updates(tmp_path: Path) -> None:
    report = flask_on_sqlite(
        tmp_path, load=Load(seconds=1.5, connect=read_then_overwrite), faults=NO_FAULTS
    )
    print(report.summary())
    assert report.inconsistencies() == []
    assert report.lost and report.absent_2xx
