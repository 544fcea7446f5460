"""Settings of the test project."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pymysql

pymysql.install_as_MySQLdb()

SECRET_KEY = "ifmatch-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "djangoproject.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "drf_spectacular",
    "ifmatch.integrations.djangoapp",
    "djangoproject.docs",
]
MIDDLEWARE = [
    *(["django.middleware.gzip.GZipMiddleware"] if os.environ.get("IFMATCH_GZIP") else []),
    "django.middleware.common.CommonMiddleware",
    "ifmatch.integrations.django.ConditionalMiddleware",
]
# The browsable API (DRF's HTML renderer) renders templates (test_drf_variants.py).
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
STATIC_URL = "/static/"
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # djangorestframework-jsonapi's handler: JSON:API error objects for its views, DRF's own
    # answers unchanged for the others.
    "EXCEPTION_HANDLER": "rest_framework_json_api.exceptions.exception_handler",
}
IFMATCH = {
    "ACCEPT_WEAK_ECHO": os.environ.get("IFMATCH_ACCEPT_WEAK_ECHO") == "1",
}
LOGGING_CONFIG = None


def _database(url: str | None) -> dict[str, object]:
    if not url:
        directory = tempfile.mkdtemp(prefix="ifmatch-django-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        path = Path(directory) / "db.sqlite3"
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": parts.path}
    postgres = parts.scheme.startswith("postgres")
    return {
        "ENGINE": "django.db.backends.postgresql" if postgres else "django.db.backends.mysql",
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or (5432 if postgres else 3306)),
        "USER": parts.username or ("postgres" if postgres else "root"),
        "PASSWORD": parts.password or "",
        "NAME": parts.path.lstrip("/"),
        "CONN_MAX_AGE": None,
    }


DATABASES = {"default": _database(os.environ.get("IFMATCH_DJANGO_DB_URL"))}

# A streaming replica for the replica tests: reads there, writes on the primary.
if os.environ.get("IFMATCH_DJANGO_REPLICA_URL"):
    DATABASES["replica"] = _database(os.environ["IFMATCH_DJANGO_REPLICA_URL"])
    DATABASE_ROUTERS = ["ifmatch.integrations.django_replicas.ReplicaRouter"]
    IFMATCH_READ_REPLICAS = ["replica"]
    if os.environ.get("IFMATCH_READ_YOUR_WRITES") == "1":
        MIDDLEWARE.insert(0, "ifmatch.integrations.replicas.ReadYourWritesMiddleware")
