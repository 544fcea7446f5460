"""Settings of the Django peer project: PostgreSQL from ``IFMATCH_PEERS_DATABASE_URL`` with
persistent connections, JSON only, no authentication (as the benchmark project)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

SECRET_KEY = "ifmatch-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "peers.djangoapp.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "peers.djangoapp",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
# Django and drf-extensions log every 412 as a warning on "django.request"; the test servers'
# output goes to a pipe nobody reads while they run, so only errors are written.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False}},
}

_url = urlsplit(os.environ["IFMATCH_PEERS_DATABASE_URL"])
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": _url.hostname or "127.0.0.1",
        "PORT": str(_url.port or 5432),
        "USER": _url.username or "postgres",
        "PASSWORD": _url.password or "",
        "NAME": _url.path.lstrip("/"),
        "CONN_MAX_AGE": None,
    }
}
