"""SQLAlchemy 2.x stores: the precondition and the write in one conditional statement.

::

    from ifmatch.stores.sqlalchemy import SQLAlchemyStore, Versioned

    class Document(Versioned, Base):
        __tablename__ = "documents"
        id: Mapped[int] = mapped_column(primary_key=True)
        text: Mapped[str]

    store = SQLAlchemyStore(Document, session)            # the caller commits
    store = SQLAlchemyStore(Document, sessionmaker(engine))  # each call commits
    result = store.compare_and_set(42, Expectation.from_condition(cond), {"text": "hi"})

Last-Modified comes from the database clock, never the application's: see ``docs/stores.md``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, literal_column
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ._ledger_sql import idempotency_table
from ._sa_async import AsyncSQLAlchemyStore
from ._sa_sync import SQLAlchemyStore
from ._sql import DbNow, NextLastModified, is_retryable_conflict, utc
from .base import Snapshot

__all__ = [
    "AsyncSQLAlchemyStore",
    "DbNow",
    "NextLastModified",
    "SQLAlchemyStore",
    "Versioned",
    "idempotency_table",
    "is_retryable_conflict",
    "snapshot",
]


class Versioned:
    """Declarative mixin adding ``version`` and ``last_modified`` to a model.

    - ``version``: integer, NOT NULL, 1 on insert. It is also the mapper's ``version_id_col``,
      so an ordinary ORM flush of a changed instance is itself guarded
      (``UPDATE … WHERE id = ? AND version = ?``, ``StaleDataError`` when it loses) and bumps
      the same counter the stores check. A model that declares its own ``__mapper_args__``
      must keep ``"version_id_col": version`` in it (see :meth:`versioned_mapper_args`).
    - ``last_modified``: set by the database clock, truncated to the second, on insert and on
      every update, and always at least one second after the previous value.
    """

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr
    def last_modified(cls) -> Mapped[datetime]:
        return mapped_column(
            DateTime(timezone=True),
            nullable=False,
            default=DbNow(),
            onupdate=NextLastModified(literal_column("last_modified")),
        )

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return cls.versioned_mapper_args()

    @classmethod
    def versioned_mapper_args(cls, **extra: Any) -> dict[str, Any]:
        """``__mapper_args__`` with ``version_id_col`` set to the version column, plus ``extra``.

        Returns:
            A dict for ``__mapper_args__``.
        """
        return {"version_id_col": cls.version, **extra}


def snapshot(
    instance: Any,
    *,
    version_column: str = "version",
    last_modified_column: str | None = "last_modified",
) -> Snapshot:
    """The validators of a loaded model instance, for ETag and Last-Modified headers.

    Args:
        instance: a loaded (not expired-and-detached) instance.
        version_column: its version attribute.
        last_modified_column: its Last-Modified attribute, or ``None``.

    Returns:
        ``Snapshot(version, last_modified)`` with ``last_modified`` as aware UTC.
    """
    last_modified = None
    if last_modified_column is not None:
        last_modified = utc(getattr(instance, last_modified_column))
    return Snapshot(int(getattr(instance, version_column)), last_modified)
