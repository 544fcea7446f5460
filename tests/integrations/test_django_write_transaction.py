"""``write_transaction``: the transaction around a decorated view's write, begun only when the
first statement is not the guarded write itself.

Each test records, for every statement the view runs, whether it ran inside a transaction,
and checks what was committed afterwards, on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import djangoproject

djangoproject.setup()

from django.db import connections, transaction  # noqa: E402

from djangoproject.docs.models import Document, Plain  # noqa: E402
from ifmatch.core.errors import ConfigurationError  # noqa: E402
from ifmatch.integrations.django import write_transaction  # noqa: E402
from ifmatch.stores import Expectation  # noqa: E402
from ifmatch.stores.django import WriteLost, expect_on  # noqa: E402


@pytest.fixture
def alias(django_alias: str) -> str:
    return django_alias


@pytest.fixture
def statements(alias: str) -> Iterator[list[tuple[str, bool]]]:
    """(first word of the SQL, in a transaction) for every statement on ``alias``."""
    seen: list[tuple[str, bool]] = []
    connection = connections[alias]

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        seen.append((sql.split()[0].upper(), not connection.get_autocommit()))
        return execute(sql, params, many, ctx)

    # Installed inside write_transaction's own wrapper, so it sees the state each statement
    # really ran in.
    original = write_transaction.__enter__

    def enter(self: write_transaction) -> write_transaction:
        result = original(self)
        self._recorder = connection.execute_wrapper(record)  # type: ignore[attr-defined]
        self._recorder.__enter__()  # type: ignore[attr-defined]
        return result

    original_exit = write_transaction.__exit__

    def exit_(self: write_transaction, *exc: Any) -> None:
        self._recorder.__exit__(None, None, None)  # type: ignore[attr-defined]
        original_exit(self, *exc)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(write_transaction, "__enter__", enter)
        patch.setattr(write_transaction, "__exit__", exit_)
        yield seen


def _doc(alias: str) -> Document:
    doc = Document(title="t", text="x")
    doc.save(using=alias)
    return doc


def _writes(seen: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    return [(verb, inside) for verb, inside in seen if verb in {"INSERT", "UPDATE", "DELETE"}]


def test_a_guarded_save_alone_runs_in_autocommit(
    alias: str, statements: list[tuple[str, bool]]
) -> None:
    doc = _doc(alias)
    expect_on(doc, Expectation.version(1))
    with write_transaction(alias, doc):
        doc.title = "mine"
        doc.save(using=alias)
    # One guarded statement needs no BEGIN/COMMIT (MariaDB, lacking UPDATE … RETURNING, reads
    # the new version back in the store's own short transaction).
    assert _writes(statements) == [("UPDATE", alias == "maria")]
    stored = Document.objects.using(alias).get(pk=doc.pk)
    assert (stored.title, stored.version) == ("mine", 2)


def test_a_lost_guarded_save_alone_writes_nothing(
    alias: str, statements: list[tuple[str, bool]]
) -> None:
    doc = _doc(alias)
    expect_on(doc, Expectation.version(7))
    with pytest.raises(WriteLost), write_transaction(alias, doc):
        doc.title = "mine"
        doc.save(using=alias)
    stored = Document.objects.using(alias).get(pk=doc.pk)
    assert (stored.title, stored.version) == ("t", 1)


def test_a_write_before_the_guarded_save_shares_its_transaction(
    alias: str, statements: list[tuple[str, bool]]
) -> None:
    doc = _doc(alias)
    expect_on(doc, Expectation.version(7))  # stale: the guarded save will lose
    with pytest.raises(WriteLost), write_transaction(alias, doc):
        Plain.objects.using(alias).create(name="audit row")
        doc.title = "mine"
        doc.save(using=alias)
    assert all(inside for _, inside in _writes(statements))
    # The lost race rolled back the audit row too.
    assert not Plain.objects.using(alias).filter(name="audit row").exists()
    assert Document.objects.using(alias).get(pk=doc.pk).title == "t"


def test_a_read_before_the_guarded_save_begins_the_transaction(
    alias: str, statements: list[tuple[str, bool]]
) -> None:
    doc = _doc(alias)
    expect_on(doc, Expectation.version(1))
    with write_transaction(alias, doc):
        assert Plain.objects.using(alias).count() >= 0
        doc.save(using=alias)
    # (SQLite's BEGIN is a statement of its own, sent as the transaction begins.)
    assert [s for s in statements if s[0] != "BEGIN"][0] == ("SELECT", True)
    assert all(inside for _, inside in _writes(statements))
    assert Document.objects.using(alias).get(pk=doc.pk).version == 2


def test_an_unguarded_write_is_rolled_back(alias: str, statements: list[tuple[str, bool]]) -> None:
    doc = _doc(alias)
    expect_on(doc, Expectation.version(1))

    def forgetful_view() -> None:
        Document.objects.using(alias).filter(pk=doc.pk).update(title="unguarded")
        raise ConfigurationError("the write was not guarded")

    with pytest.raises(ConfigurationError), write_transaction(alias, doc):
        forgetful_view()
    assert Document.objects.using(alias).get(pk=doc.pk).title == "t"


def test_inside_an_outer_transaction_the_view_gets_a_savepoint(alias: str) -> None:
    doc = _doc(alias)
    with transaction.atomic(using=alias):
        Plain.objects.using(alias).create(name="outer row")
        expect_on(doc, Expectation.version(7))
        with pytest.raises(WriteLost), write_transaction(alias, doc):
            Plain.objects.using(alias).create(name="inner row")
            doc.save(using=alias)
    # The savepoint rolled back the view's own write; the outer transaction went on.
    assert Plain.objects.using(alias).filter(name="outer row").exists()
    assert not Plain.objects.using(alias).filter(name="inner row").exists()


def test_a_create_always_runs_in_a_transaction(alias: str) -> None:
    with pytest.raises(RuntimeError), write_transaction(alias, None):
        Plain.objects.using(alias).create(name="created then failed")
        raise RuntimeError("the view failed after writing")
    assert not Plain.objects.using(alias).filter(name="created then failed").exists()
