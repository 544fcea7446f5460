"""The Django ORM store: the shared store contract on SQLite, PostgreSQL and MariaDB, the
Last-Modified rule, instance saves made conditional, start-up checks and a threaded lost-update
test."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import djangoproject
from ifmatch.core import ANY, ETag, WriteCondition
from ifmatch.core.errors import ConfigurationError
from ifmatch.stores import CASResult, Expectation, Outcome, Snapshot, next_last_modified
from services import Database

djangoproject.setup()

from django.db import connections, transaction  # noqa: E402

from djangoproject.docs.models import Document, Folder, Item, Plain, Record, Ticket  # noqa: E402
from ifmatch.stores.django import (  # noqa: E402
    DjangoStore,
    WriteLost,
    expect_on,
    is_transient,
    snapshot_of,
)

from .contract import Backend, ContractSuite, IdempotencySuite  # noqa: E402


@pytest.fixture
def alias(django_alias: str) -> str:
    return django_alias


@pytest.fixture
def store(alias: str) -> DjangoStore:
    return DjangoStore(Document, using=alias)


class ContractStore:
    """``DjangoStore`` as the contract sees a store: ``get`` returns the snapshot and the
    record's values instead of a model instance; everything else is the store itself."""

    def __init__(self, store: DjangoStore) -> None:
        self.store = store

    def get(self, key: str) -> tuple[Snapshot, dict[str, str]] | None:
        record = self.store.get(key)
        if record is None:
            return None
        assert isinstance(record, Record)
        return snapshot_of(record), {"body": record.body, "note": record.note}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class TestDjangoContract(ContractSuite, IdempotencySuite):
    @pytest.fixture
    def backend(self, alias: str) -> Backend:
        return Backend(f"django-{alias}", ContractStore(DjangoStore(Record, using=alias)))


def make(store: DjangoStore, **values: Any) -> Document:
    doc = Document(**values)
    doc.save(using=store.using)
    return doc


def test_insert_starts_at_version_one_with_database_clock(store: DjangoStore) -> None:
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    doc = make(store, title="a")
    assert doc.version == 1
    assert isinstance(doc.last_modified, datetime)
    assert doc.last_modified.microsecond == 0
    assert doc.last_modified >= before
    assert store.read(doc.pk) == Snapshot(1, doc.last_modified)


def test_compare_and_set_wins_once_per_version(store: DjangoStore) -> None:
    doc = make(store, title="a")
    first = store.compare_and_set(doc.pk, Expectation.version(1), {"title": "b"})
    second = store.compare_and_set(doc.pk, Expectation.version(1), {"title": "c"})
    assert first.outcome is Outcome.WON and first.snapshot is not None
    assert first.snapshot.version == 2
    assert second.outcome is Outcome.LOST
    assert second.snapshot == first.snapshot
    assert Document.objects.using(store.using).get(pk=doc.pk).title == "b"


def test_outcomes_agree_with_expectation_allows(store: DjangoStore) -> None:
    doc = make(store, title="a")
    current = store.read(doc.pk)
    assert current is not None
    later = current.last_modified + timedelta(seconds=5)  # type: ignore[operator]
    earlier = current.last_modified - timedelta(seconds=1)  # type: ignore[operator]
    cases = [
        Expectation(),
        Expectation(exists=True),
        Expectation(versions=frozenset({1, 7})),
        Expectation(versions=frozenset({7})),
        Expectation(versions=frozenset()),
        Expectation(not_versions=frozenset({1})),
        Expectation(not_versions=frozenset({9})),
        Expectation(unmodified_since=later),
        Expectation(unmodified_since=earlier),
        Expectation(unmodified_since=current.last_modified),
    ]
    for expect in cases:
        before = store.read(doc.pk)
        result = store.compare_and_set(doc.pk, expect, {"text": "x"})
        assert result.won is expect.allows(before), expect
        if not result.won:
            assert result.snapshot == before


def test_missing_resource_is_not_found(store: DjangoStore) -> None:
    assert store.compare_and_set(10**9, Expectation(exists=True), {"title": "x"}).outcome is (
        Outcome.NOT_FOUND
    )
    assert store.compare_and_delete(10**9, Expectation()).outcome is Outcome.NOT_FOUND
    assert store.read(10**9) is None


def test_create_only_inserts_once(store: DjangoStore) -> None:
    key = 5_000_000 + hash(store.using) % 1000
    Document.objects.using(store.using).filter(pk=key).delete()
    created = store.compare_and_set(key, Expectation(exists=False), {"title": "new"})
    again = store.compare_and_set(key, Expectation(exists=False), {"title": "dup"})
    assert created.outcome is Outcome.WON and created.snapshot is not None
    assert created.snapshot.version == 1
    assert again.outcome is Outcome.LOST
    assert again.snapshot == created.snapshot
    assert Document.objects.using(store.using).get(pk=key).title == "new"


def test_create_only_inside_outer_transaction_keeps_it_usable(store: DjangoStore) -> None:
    doc = make(store, title="a")
    with transaction.atomic(using=store.using):
        lost = store.compare_and_set(doc.pk, Expectation(exists=False), {"title": "dup"})
        assert lost.outcome is Outcome.LOST
        assert store.read(doc.pk) is not None  # the transaction still works


def test_compare_and_delete(store: DjangoStore) -> None:
    doc = make(store, title="a")
    assert store.compare_and_delete(doc.pk, Expectation.version(2)).outcome is Outcome.LOST
    won = store.compare_and_delete(doc.pk, Expectation.version(1))
    assert won.outcome is Outcome.WON
    assert store.read(doc.pk) is None


def test_delete_cascades_through_collector(alias: str) -> None:
    folder = Folder(name="f")
    folder.save(using=alias)
    Item.objects.using(alias).create(folder=folder, label="x", position=1)
    store = DjangoStore(Folder, using=alias)
    assert store.compare_and_delete(folder.pk, Expectation.version(1)).won
    assert not Item.objects.using(alias).filter(folder_id=folder.pk).exists()


def test_last_modified_strictly_increases_within_one_second(store: DjangoStore) -> None:
    doc = make(store, title="a")
    stamps = [store.read(doc.pk).last_modified]  # type: ignore[union-attr]
    for _ in range(4):
        result = store.compare_and_set(doc.pk, Expectation(), {"text": "x"})
        stamps.append(result.snapshot.last_modified)  # type: ignore[union-attr]
    for previous, current in zip(stamps, stamps[1:], strict=False):
        assert current == next_last_modified(current, previous)
        assert current >= previous + timedelta(seconds=1)


def test_last_modified_null_is_filled_from_the_clock(store: DjangoStore) -> None:
    doc = make(store, title="a")
    Document.objects.using(store.using).filter(pk=doc.pk).update(last_modified=None)
    result = store.compare_and_set(doc.pk, Expectation(), {"title": "b"})
    assert result.snapshot is not None and result.snapshot.last_modified is not None


def test_instance_save_with_expectation(store: DjangoStore) -> None:
    doc = make(store, title="a")
    stale = Document.objects.using(store.using).get(pk=doc.pk)
    doc.title = "b"
    doc.save(using=store.using, expect=Expectation.version(1))
    assert doc.version == 2
    stale.title = "c"
    expect_on(stale, Expectation.version(1))
    with pytest.raises(WriteLost) as lost:
        stale.save(using=store.using)
    assert lost.value.result.outcome is Outcome.LOST
    assert lost.value.result.snapshot == snapshot_of(doc)
    assert Document.objects.using(store.using).get(pk=doc.pk).title == "b"


def test_unguarded_save_still_bumps_version(store: DjangoStore) -> None:
    doc = make(store, title="a")
    doc.title = "b"
    doc.save(using=store.using)
    doc.save(using=store.using, update_fields=["title"])
    assert doc.version == 3
    assert store.read(doc.pk).version == 3  # type: ignore[union-attr]


def test_instance_delete_with_expectation(store: DjangoStore) -> None:
    doc = make(store, title="a")
    with pytest.raises(WriteLost):
        doc.delete(using=store.using, expect=Expectation.version(5))
    doc.delete(using=store.using, expect=Expectation.version(1))
    assert store.read(doc.pk) is None


def test_condition_from_core(store: DjangoStore) -> None:
    doc = make(store, title="a")
    condition = WriteCondition(if_match=(ETag("v1"), ETag("x")), if_none_match=None)
    assert store.compare_and_set(doc.pk, Expectation.from_condition(condition), {}).won
    star = WriteCondition(if_match=ANY)
    assert store.compare_and_set(doc.pk, Expectation.from_condition(star), {}).won


def test_bulk_per_item_results(store: DjangoStore) -> None:
    a, b = make(store, title="a"), make(store, title="b")
    results = store.compare_and_set_many(
        [
            (a.pk, Expectation.version(1), {"title": "a2"}),
            (b.pk, Expectation.version(9), {"title": "b2"}),
            (10**9, Expectation.version(1), {"title": "c"}),
        ]
    )
    assert [r.outcome for r in results] == [Outcome.WON, Outcome.LOST, Outcome.NOT_FOUND]
    aborted = store.compare_and_set_many(
        [
            (a.pk, Expectation.version(2), {"title": "a3"}),
            (b.pk, Expectation.version(9), {"title": "b3"}),
        ],
        all_or_nothing=True,
    )
    # The same semantics as every other store: results, not an exception.
    assert aborted == [
        CASResult(Outcome.ABORTED, store.read(a.pk)),
        CASResult(Outcome.LOST, store.read(b.pk)),
    ]
    assert aborted[0].snapshot is not None and aborted[0].snapshot.version == 2
    assert Document.objects.using(store.using).get(pk=a.pk).title == "a2"  # rolled back


def test_bulk_all_or_nothing_inside_a_caller_transaction(store: DjangoStore) -> None:
    a, b = make(store, title="a"), make(store, title="b")
    with transaction.atomic(using=store.using):
        results = store.compare_and_set_many(
            [
                (a.pk, Expectation.version(1), {"title": "a2"}),
                (b.pk, Expectation.version(7), {"title": "b2"}),
            ],
            all_or_nothing=True,
        )
        assert [r.outcome for r in results] == [Outcome.ABORTED, Outcome.LOST]
        c = make(store, title="c")  # the caller's transaction is still usable
    assert Document.objects.using(store.using).get(pk=a.pk).title == "a"
    assert store.read(c.pk) is not None


def test_custom_version_column_without_last_modified(alias: str) -> None:
    ticket = Ticket(subject="s")
    ticket.save(using=alias)
    store = DjangoStore(Ticket, using=alias)
    assert store.read(ticket.pk) == Snapshot(1, None)
    assert store.compare_and_set(ticket.pk, Expectation.version(1), {"subject": "t"}).won
    assert store.compare_and_set(ticket.pk, Expectation.version(1), {"subject": "u"}).outcome is (
        Outcome.LOST
    )


def test_model_without_version_fails_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="no version field"):
        DjangoStore(Plain)


def test_mariadb_counts_matched_rows_for_no_op_writes(mariadb_db: Database) -> None:
    djangoproject.add_database("maria", mariadb_db.django_settings())
    doc = Document(title="same")
    doc.save(using="maria")
    with connections["maria"].cursor() as cursor:
        cursor.execute("UPDATE docs_document SET title = title WHERE id = %s", [doc.pk])
        assert cursor.rowcount == 1  # CLIENT_FOUND_ROWS: matched, not changed
    store = DjangoStore(Document, using="maria")
    # The delete claim is a no-op assignment: it must still count as a match.
    assert store.compare_and_delete(doc.pk, Expectation.version(1)).won


def test_mariadb_without_found_rows_is_refused(mariadb_db: Database) -> None:
    settings = {**mariadb_db.django_settings(), "OPTIONS": {"client_flag": 0}}
    djangoproject.add_database("maria_nofound", settings)
    with pytest.raises(ConfigurationError, match="FOUND_ROWS"):
        DjangoStore(Document, using="maria_nofound")


def test_transient_errors_are_recognised(postgres_db: Database) -> None:
    import psycopg
    from django.db import OperationalError

    cause = psycopg.errors.SerializationFailure("could not serialize")
    error = OperationalError("x")
    error.__cause__ = cause
    assert is_transient(error)
    assert not is_transient(ValueError("x"))


def test_serialization_failure_becomes_lost_not_error(postgres_db: Database) -> None:
    """Two REPEATABLE READ transactions update one row: the second writer gets 40001, which
    the store reports as LOST (after its bounded retries) instead of raising."""
    import psycopg

    djangoproject.add_database("pg", postgres_db.django_settings())
    doc = Document(title="a")
    doc.save(using="pg")
    settings = {
        **postgres_db.django_settings(),
        "OPTIONS": {"isolation_level": psycopg.IsolationLevel.REPEATABLE_READ},
    }
    djangoproject.add_database("pg_rr", settings)
    store = DjangoStore(Document, using="pg_rr", retries=0)
    dsn = (
        f"host={postgres_db.host} port={postgres_db.port} user={postgres_db.user} "
        f"dbname={postgres_db.name}"
    )
    with transaction.atomic(using="pg_rr"):
        assert store.read(doc.pk) is not None  # take the snapshot
        with psycopg.connect(dsn, autocommit=True) as other:
            other.execute("UPDATE docs_document SET version = version + 1 WHERE id = %s", [doc.pk])
        result = store.compare_and_set(doc.pk, Expectation(exists=True), {"title": "b"})
        assert result.outcome is Outcome.LOST
    assert store.read(doc.pk).version == 2  # type: ignore[union-attr]


def test_threads_lose_no_update(alias: str) -> None:
    """8 threads append tokens through read → guarded write → retry; every acknowledged
    token must be in the final text."""
    store = DjangoStore(Document, using=alias, retries=5)
    doc = make(store, text="")
    acknowledged: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 8

    def worker(n: int) -> None:
        try:
            for i in range(6):
                token = f"<{n}.{i}>"
                while time.monotonic() < deadline:
                    row = Document.objects.using(alias).get(pk=doc.pk)
                    result = store.compare_and_set(
                        doc.pk, Expectation.version(row.version), {"text": row.text + token}
                    )
                    if result.won:
                        with lock:
                            acknowledged.append(token)
                        break
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = Document.objects.using(alias).get(pk=doc.pk).text
    assert acknowledged, "no write succeeded"
    assert [t for t in acknowledged if t not in final] == []
    assert final.count("<") == len(acknowledged)
