"""The app's configuration."""

from __future__ import annotations

from django.apps import AppConfig


class IfMatchConfig(AppConfig):
    name = "ifmatch.integrations.djangoapp"
    label = "ifmatch"
    verbose_name = "ifmatch"
    default_auto_field = "django.db.models.BigAutoField"
