"""A Django database router for a primary and read replicas, safe for guarded writes.

::

    DATABASES = {"default": {...primary...}, "replica": {...streaming replica...}}
    DATABASE_ROUTERS = ["ifmatch.integrations.django_replicas.ReplicaRouter"]
    IFMATCH_READ_REPLICAS = ["replica"]          # the aliases reads may go to
    MIDDLEWARE = [..., "ifmatch.integrations.replicas.ReadYourWritesMiddleware", ...]  # opt-in

Reads go to a replica; every write, and so every guarded write (``save()``/``delete()`` of a
``VersionedModel``, ``DjangoStore``, the Django and DRF integrations), goes to ``default``,
whichever database the instance was read from. Django's own fallback would write an instance
back to the database it came from, a read-only replica.

With ``ReadYourWritesMiddleware``, a versioned instance read from a replica at a version older
than the one the request's ``If-None-Match`` / ``If-Match`` names is read again on the primary
(``ifmatch.stores.django.ConditionalSaveMixin.from_db``): the ETag and the body a client gets
are never older than what it already has.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["ReplicaRouter"]


class ReplicaRouter:
    """Reads from ``settings.IFMATCH_READ_REPLICAS`` (chosen at random), everything else on
    ``settings.IFMATCH_PRIMARY_DATABASE`` (``"default"``)."""

    def __init__(self) -> None:
        from django.conf import settings

        self.primary: str = getattr(settings, "IFMATCH_PRIMARY_DATABASE", "default")
        self.replicas: list[str] = list(getattr(settings, "IFMATCH_READ_REPLICAS", []))

    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        """A replica (the primary when none is configured)."""
        return random.choice(self.replicas) if self.replicas else self.primary

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        """Always the primary, even for an instance read from a replica."""
        return self.primary

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        """Rows on the primary and on its replicas are the same rows."""
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        """Migrations run on the primary only; replicas receive them by replication."""
        return db == self.primary
