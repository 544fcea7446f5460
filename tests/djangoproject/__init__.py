"""A small Django project for the Django and DRF integration tests.

``setup()`` configures Django once per process from ``djangoproject.settings``. The default
database is a throw-away SQLite file; ``IFMATCH_DJANGO_DB_URL`` (used by server subprocesses)
points it at PostgreSQL or MariaDB instead. ``add_database`` adds a PostgreSQL/MariaDB alias at
run time for in-process store tests.
"""

from __future__ import annotations

import os
from typing import Any


def setup() -> None:
    """Configure Django for this process (idempotent)."""
    import django
    from django.apps import apps

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoproject.settings")
    if not apps.ready:
        django.setup()
        create_tables("default")


def add_database(alias: str, settings_dict: dict[str, Any]) -> None:
    """Register a database alias at run time and create the test tables in it."""
    from django.db import connections

    if alias not in connections.settings:
        configured = connections.configure_settings(
            {"default": connections.settings["default"], alias: dict(settings_dict)}
        )
        connections.settings[alias] = configured[alias]
        create_tables(alias)


def create_tables(alias: str) -> None:
    """Create the tables of the test apps (and ifmatch's idempotency records) in database
    ``alias`` (no migrations needed)."""
    from django.apps import apps
    from django.db import connections

    connection = connections[alias]
    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for label in ("ifmatch", "docs"):
            for model in apps.get_app_config(label).get_models():
                if model._meta.db_table not in existing:
                    editor.create_model(model)
