"""Recognising serialization failures and deadlocks, whatever layer raised them."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

import djangoproject
from ifmatch.stores import is_write_conflict

djangoproject.setup()

from django.db import DatabaseError  # noqa: E402
from django.db import OperationalError as DjangoOperationalError  # noqa: E402


@pytest.mark.parametrize(
    "cause",
    [
        psycopg.errors.SerializationFailure("could not serialize access"),
        psycopg.errors.DeadlockDetected("deadlock detected"),
    ],
)
def test_postgresql_conflicts_are_recognised_from_sqlalchemy_and_django(
    cause: Exception,
) -> None:
    assert is_write_conflict(OperationalError("COMMIT", {}, cause))
    wrapped = DjangoOperationalError(str(cause))
    wrapped.__cause__ = cause
    assert is_write_conflict(wrapped)


def test_other_errors_are_not_conflicts() -> None:
    unique = psycopg.errors.UniqueViolation("duplicate key")
    assert not is_write_conflict(IntegrityError("INSERT", {}, unique))
    assert not is_write_conflict(DatabaseError("disk full"))
    assert not is_write_conflict(ValueError("40001"))
