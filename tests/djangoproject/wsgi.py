"""WSGI entry point for gunicorn in the multi-process tests and the benchmark."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoproject.settings")

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
