"""The demo's Django application."""

from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The ``ifmatch_demo`` app: documents, their revisions, the API and the web page."""

    name = "ifmatch.demo"
    label = "ifmatch_demo"
    verbose_name = "ifmatch demo"
    default_auto_field = "django.db.models.BigAutoField"
