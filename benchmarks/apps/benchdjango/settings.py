"""Settings of the Django / Django REST framework benchmark project: PostgreSQL from
``IFMATCH_BENCH_DATABASE_URL`` with persistent connections, JSON only, no auth, no debug."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

SECRET_KEY = "ifmatch-benchmarks-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "benchdjango.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "ifmatch.integrations.djangoapp",  # Idempotency-Key records (the keyed PUT)
    "benchdjango",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
LOGGING_CONFIG = None

_url = urlsplit(os.environ["IFMATCH_BENCH_DATABASE_URL"])
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": _url.hostname or "127.0.0.1",
        "PORT": str(_url.port or 5432),
        "USER": _url.username or "postgres",
        "PASSWORD": _url.password or "",
        "NAME": _url.path.lstrip("/"),
        "CONN_MAX_AGE": None,  # one persistent connection per worker, as production runs
    }
}
