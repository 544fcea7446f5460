"""The demo's settings: database URLs, the data directory, and what the page may load."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from ifmatch.demo.config import WEB_ROOT, database_settings, default_data_dir, django_settings


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = database_settings(None, tmp_path)
    assert settings["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["NAME"] == str(tmp_path / "demo.sqlite3")
    assert settings["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_postgresql_url(tmp_path: Path) -> None:
    settings = database_settings("postgresql://ada:p%40ss@db.example:6543/notes", tmp_path)
    assert settings["ENGINE"] == "django.db.backends.postgresql"
    assert (settings["USER"], settings["PASSWORD"]) == ("ada", "p@ss")
    assert (settings["HOST"], settings["PORT"], settings["NAME"]) == ("db.example", "6543", "notes")
    assert database_settings("postgres://u@h/n", tmp_path)["PORT"] == "5432"


def test_sqlite_and_mysql_urls(tmp_path: Path) -> None:
    assert database_settings("sqlite:///var/data/x.sqlite3", tmp_path)["NAME"] == (
        "/var/data/x.sqlite3"
    )
    mysql = database_settings("mysql://root@127.0.0.1/demo", tmp_path)
    assert (mysql["ENGINE"], mysql["PORT"]) == ("django.db.backends.mysql", "3306")


def test_unsupported_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme 'redis'"):
        database_settings("redis://127.0.0.1/0", tmp_path)


def test_default_data_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "ifmatch-demo"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_data_dir() == Path.home() / ".local" / "share" / "ifmatch-demo"


def test_secret_key_is_private_and_stable(tmp_path: Path) -> None:
    data_dir = tmp_path / "new"
    first = django_settings(data_dir=data_dir)["SECRET_KEY"]
    assert len(first) >= 40
    assert django_settings(data_dir=data_dir)["SECRET_KEY"] == first
    assert stat.S_IMODE((data_dir / "secret_key").stat().st_mode) == 0o600


def test_host_names_accepted(tmp_path: Path) -> None:
    local = django_settings(data_dir=tmp_path, host="127.0.0.1")["ALLOWED_HOSTS"]
    assert "*" not in local and "localhost" in local
    assert django_settings(data_dir=tmp_path, host="0.0.0.0")["ALLOWED_HOSTS"] == ["*"]


def test_the_page_ships_in_the_package_and_loads_nothing_from_elsewhere() -> None:
    names = {path.name for path in WEB_ROOT.iterdir()}
    assert {"index.html", "app.mjs", "diff3.mjs", "style.css"} <= names
    for path in WEB_ROOT.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path.name
        assert not re.search(r"""(import|from)\s*["'](https?:)?//""", text), path.name
        assert "url(http" not in text, path.name


def test_migrations_ship_in_the_package() -> None:
    migrations = WEB_ROOT.parent / "migrations"
    assert (migrations / "0001_initial.py").exists()
    assert (migrations / "0002_sample_document.py").exists()
