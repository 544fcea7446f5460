"""ifmatch.integrations.django_patch through Django's test client: the PATCH table (415, 400,
422, 409, 412, 428, 200), Accept-Patch, and the version a patch is applied to."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import djangoproject

djangoproject.setup()

from djangoproject.docs.models import PatchDocument  # noqa: E402
from ifmatch.stores.django import ConditionalSaveMixin  # noqa: E402
from integrations.drf.test_drf_patch import django_send  # noqa: E402
from integrations.patch_cases import (  # noqa: E402
    CASES,
    MERGE,
    PatchCase,
    check_accept_patch,
    run_case,
)

_keys = itertools.count()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_patch_table(case: PatchCase) -> None:
    run_case(django_send("/django"), case, f"plain{next(_keys)}")


def test_accept_patch_on_get_and_options() -> None:
    check_accept_patch(django_send("/django"), f"plain{next(_keys)}")


def _other_writer_first(times: int) -> Any:
    """A ``save`` that lets another connection's writer win first, ``times`` times: the
    other write is committed on its own database connection, as another process's would be."""
    from django.db import connections

    djangoproject.add_database("patch-other", dict(connections.settings["default"]))
    real = ConditionalSaveMixin.save
    left = [times]

    def save(instance: Any, *args: Any, **kwargs: Any) -> None:
        if left[0] and isinstance(instance, PatchDocument):
            left[0] -= 1
            PatchDocument.objects.using("patch-other").filter(pk=instance.pk).update(
                version=instance.version + 1, title=f"theirs{left[0]}"
            )
        real(instance, *args, **kwargs)

    return save


def _create(path: str) -> Any:
    send = django_send("/django")
    made = send(
        "PUT",
        path,
        {"If-None-Match": "*", "Content-Type": "application/json"},
        b'{"title": "draft", "tokens": {}}',
    )
    assert made.status == 201, made
    return send


def test_if_match_patch_that_loses_is_412(monkeypatch: pytest.MonkeyPatch) -> None:
    path = f"/documents/plain{next(_keys)}"
    send = _create(path)
    monkeypatch.setattr(ConditionalSaveMixin, "save", _other_writer_first(1))
    reply = send(
        "PATCH", path, {"If-Match": '"v1"', "Content-Type": MERGE}, b'{"tokens": {"a": true}}'
    )
    monkeypatch.undo()
    assert reply.status == 412 and reply.body["code"] == "etag-mismatch", reply
    assert send("GET", path, {}, None).body["tokens"] == {}


def test_unconditional_patch_is_reapplied_to_the_newer_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = f"/open/plain{next(_keys)}"
    send = _create(path)
    monkeypatch.setattr(ConditionalSaveMixin, "save", _other_writer_first(2))
    reply = send("PATCH", path, {"Content-Type": MERGE}, b'{"tokens": {"mine": true}}')
    monkeypatch.undo()
    assert reply.status == 200, reply
    # The patch was applied to what the other writer left (title "theirs0").
    assert reply.body == {"title": "theirs0", "tokens": {"mine": True}}
    assert reply.headers["etag"] == '"v4"'


def test_unconditional_patch_retries_inside_a_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    # With the view in a transaction (atomic writes), each attempt's lost save rolls back to
    # its own savepoint, and the next attempt runs in the same transaction.
    from django.test import override_settings

    path = f"/open/plain{next(_keys)}"
    send = _create(path)
    monkeypatch.setattr(ConditionalSaveMixin, "save", _other_writer_first(1))
    with override_settings(IFMATCH={"ATOMIC_WRITES": True}):
        reply = send("PATCH", path, {"Content-Type": MERGE}, b'{"tokens": {"mine": true}}')
    monkeypatch.undo()
    assert reply.status == 200, reply
    assert reply.body == {"title": "theirs0", "tokens": {"mine": True}}


def test_unconditional_patch_that_keeps_losing_is_409(monkeypatch: pytest.MonkeyPatch) -> None:
    path = f"/open/plain{next(_keys)}"
    send = _create(path)
    monkeypatch.setattr(ConditionalSaveMixin, "save", _other_writer_first(100))
    reply = send("PATCH", path, {"Content-Type": MERGE}, b'{"tokens": {"mine": true}}')
    monkeypatch.undo()
    assert reply.status == 409 and reply.body["code"] == "write-conflict", reply
