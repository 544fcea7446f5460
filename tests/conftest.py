from __future__ import annotations

from collections.abc import Iterator

import pytest

from services import MARIADB_URL, POSTGRES_URL, Database, redis_url_or_skip, scratch_database


@pytest.fixture(scope="session")
def postgres_db() -> Iterator[Database]:
    """A fresh PostgreSQL database for this test session."""
    with scratch_database(POSTGRES_URL, "PostgreSQL") as db:
        yield db


@pytest.fixture(scope="session")
def mariadb_db() -> Iterator[Database]:
    """A fresh MariaDB database for this test session."""
    with scratch_database(MARIADB_URL, "MariaDB") as db:
        yield db


@pytest.fixture(scope="session")
def pg_pair() -> Iterator[object]:
    """A throw-away PostgreSQL primary and streaming replica (``pg_replica.PgPair``), started
    once per session by the tests that need one."""
    from pg_replica import pg_primary_and_replica

    with pg_primary_and_replica() as pair:
        yield pair


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis URL; tests must namespace their keys (use a uuid prefix)."""
    return redis_url_or_skip()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def django_alias(request: pytest.FixtureRequest) -> str:
    """A Django database alias holding the test project's tables: SQLite (``default``), a
    scratch PostgreSQL database (``pg``) or a scratch MariaDB database (``maria``)."""
    if request.param == "sqlite":
        return "default"
    import djangoproject

    fixture = "postgres_db" if request.param == "postgresql" else "mariadb_db"
    db: Database = request.getfixturevalue(fixture)
    name = "pg" if request.param == "postgresql" else "maria"
    djangoproject.add_database(name, db.django_settings())
    return name
