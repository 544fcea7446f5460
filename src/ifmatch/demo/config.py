"""The demo's Django settings, built in code: no settings module, no DJANGO_SETTINGS_MODULE.

:func:`configure` turns a database URL and a data directory into ``django.conf.settings``. The
default database is a SQLite file in a per-user data directory, so the demo keeps its documents
between runs; ``postgresql://…`` (and ``mysql://…``) URLs run it on a server database shared by
every worker process.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = [
    "LOOPBACK_HOSTS",
    "WEB_ROOT",
    "configure",
    "database_settings",
    "default_data_dir",
    "django_settings",
]

#: The static web page (index.html, app.mjs, diff3.mjs, style.css), served at ``/``.
WEB_ROOT = Path(__file__).resolve().parent / "web"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def default_data_dir() -> Path:
    """Where the demo keeps its SQLite database and secret key by default.

    Returns:
        ``%LOCALAPPDATA%\\ifmatch-demo`` on Windows, ``~/Library/Application Support/
        ifmatch-demo`` on macOS, ``$XDG_DATA_HOME/ifmatch-demo`` (``~/.local/share``) elsewhere.
    """
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "ifmatch-demo"


def database_settings(url: str | None, data_dir: Path) -> dict[str, Any]:
    """A ``DATABASES["default"]`` entry for ``url``.

    Args:
        url: ``postgresql://user:password@host:port/name``, ``mysql://…``,
            ``sqlite:///absolute/path.sqlite3``, or ``None`` for ``<data_dir>/demo.sqlite3``.
        data_dir: the demo's data directory.

    Returns:
        The Django database settings.

    Raises:
        ValueError: an unsupported URL scheme.
    """
    if not url:
        return _sqlite(data_dir / "demo.sqlite3")
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "sqlite":
        return _sqlite(Path(unquote(parts.path)))
    engines = {
        "postgres": "django.db.backends.postgresql",
        "postgresql": "django.db.backends.postgresql",
        "mysql": "django.db.backends.mysql",
        "mariadb": "django.db.backends.mysql",
    }
    if scheme not in engines:
        raise ValueError(f"unsupported database URL scheme {parts.scheme!r}")
    postgres = engines[scheme].endswith("postgresql")
    return {
        "ENGINE": engines[scheme],
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or (5432 if postgres else 3306)),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def _sqlite(path: Path) -> dict[str, Any]:
    # IMMEDIATE transactions take the write lock up front, so two processes writing at once
    # queue on the lock (up to the timeout) instead of failing to upgrade a read lock.
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }


def _secret_key(data_dir: Path) -> str:
    """A random key kept in the data directory, the same for every worker and restart."""
    path = data_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48), encoding="ascii")
        path.chmod(0o600)
    return path.read_text(encoding="ascii").strip()


def django_settings(
    *, data_dir: Path, database_url: str | None = None, host: str = "127.0.0.1"
) -> dict[str, Any]:
    """The demo's Django settings.

    Args:
        data_dir: the data directory (created if missing).
        database_url: see :func:`database_settings`.
        host: the address the server binds; on a loopback address only local host names are
            accepted in ``Host``.

    Returns:
        Keyword arguments for ``django.conf.settings.configure``.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    local = host in LOOPBACK_HOSTS
    return {
        "DEBUG": False,
        "SECRET_KEY": _secret_key(data_dir),
        "ALLOWED_HOSTS": ["127.0.0.1", "localhost", "[::1]"] if local else ["*"],
        "ROOT_URLCONF": "ifmatch.demo.urls",
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "DATABASES": {"default": database_settings(database_url, data_dir)},
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "INSTALLED_APPS": [
            "django.contrib.staticfiles",
            "rest_framework",
            "drf_spectacular",
            "drf_spectacular_sidecar",
            "ifmatch.integrations.djangoapp",  # Idempotency-Key records
            "ifmatch.demo.apps.DemoConfig",
        ],
        "MIDDLEWARE": [
            "django.middleware.security.SecurityMiddleware",
            "whitenoise.middleware.WhiteNoiseMiddleware",
            "django.middleware.common.CommonMiddleware",
            "ifmatch.integrations.django.ConditionalMiddleware",
        ],
        "TEMPLATES": [
            {"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}
        ],
        "STATIC_URL": "/static/",
        # WhiteNoise serves the page at / from WEB_ROOT and the Swagger UI assets (from the
        # drf-spectacular-sidecar package) under /static/, straight from the installed
        # packages: no collectstatic, no CDN.
        "WHITENOISE_ROOT": str(WEB_ROOT),
        "WHITENOISE_INDEX_FILE": True,
        "WHITENOISE_USE_FINDERS": True,
        "WHITENOISE_MAX_AGE": 0,
        "REST_FRAMEWORK": {
            "DEFAULT_AUTHENTICATION_CLASSES": [],
            "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
            "UNAUTHENTICATED_USER": None,
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "DEFAULT_SCHEMA_CLASS": "ifmatch.integrations.drf.openapi.ConditionalAutoSchema",
            "EXCEPTION_HANDLER": "ifmatch.integrations.drf.exceptions.exception_handler",
        },
        "IFMATCH": {
            # A 412 carries the current document, so the page merges without another GET.
            "INCLUDE_CURRENT_REPRESENTATION": True,
            # A save and its history row commit together, or neither does.
            "ATOMIC_WRITES": True,
            # A retried save (its reply lost) gets its first answer, never a second version.
            "IDEMPOTENCY_KEYS": True,
        },
        "SPECTACULAR_SETTINGS": {
            "TITLE": "ifmatch demo: Guido & Ada's documents",
            "DESCRIPTION": (
                "Every document has a strong ETag. Send it back in If-Match on PUT, PATCH and "
                "DELETE: a stale tag is refused with 412, a missing one with 428."
            ),
            "VERSION": "1",
            "SWAGGER_UI_DIST": "SIDECAR",
            "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
            "REDOC_DIST": "SIDECAR",
        },
        "LOGGING": {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"console": {"class": "logging.StreamHandler"}},
            "root": {"handlers": ["console"], "level": "WARNING"},
            # 404s and refused preconditions are part of the demo, not errors to report.
            "loggers": {"django.request": {"level": "ERROR"}},
        },
    }


def configure(*, data_dir: Path, database_url: str | None = None, host: str = "127.0.0.1") -> None:
    """Configure Django for the demo in this process and set it up (idempotent).

    Args:
        data_dir: see :func:`django_settings`.
        database_url: see :func:`database_settings`.
        host: see :func:`django_settings`.
    """
    import django
    from django.conf import settings

    if not settings.configured:
        values = django_settings(data_dir=data_dir, database_url=database_url, host=host)
        if values["DATABASES"]["default"]["ENGINE"].endswith("mysql"):
            _use_pymysql()
        settings.configure(**values)
    django.setup()


def _use_pymysql() -> None:
    """Django's MySQL backend needs ``MySQLdb``; the pure-Python PyMySQL can stand in."""
    import importlib.util

    if importlib.util.find_spec("MySQLdb") is None:
        import pymysql

        pymysql.install_as_MySQLdb()
