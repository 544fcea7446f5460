"""Concurrent bulk writers overlapping on items, through real server processes on PostgreSQL:
Flask behind gunicorn workers (the SQLAlchemy store), FastAPI behind uvicorn workers (the
async SQLAlchemy store); atomic batches and per-item batches. Nothing acknowledged is lost,
and no atomic batch is ever found partially applied."""

from __future__ import annotations

import httpx
import pytest

import services
from integrations.bulk_race import BulkRaceResult, assert_clean, bulk_race
from integrations.example_models import DATABASE_URL_ENV, create_tables
from services import Database, free_port, running_server, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.services]

WRITERS, ROUNDS = 8, 4


def _seed(base: str, prefix: str) -> list[str]:
    keys = [f"{prefix}-{n}" for n in range(4)]
    for key in keys:
        created = httpx.put(
            f"{base}/documents/{key}", json={"text": ""}, headers={"If-None-Match": "*"}, timeout=60
        )
        assert created.status_code == 201, created.text
    return keys


def _race(
    base: str, prefix: str, atomic: bool, batch_url: str = "/documents:batchUpdate"
) -> BulkRaceResult:
    keys = _seed(base, prefix)
    return bulk_race(
        base,
        batch_url,
        lambda key: f"/documents/{key}",
        keys,
        writers=WRITERS,
        rounds=ROUNDS,
        atomic=atomic,
    )


@pytest.mark.parametrize("atomic", [True, False], ids=["atomic", "per-item"])
def test_flask_gunicorn_workers(postgres_db: Database, atomic: bool) -> None:
    url = postgres_db.sqlalchemy_url()
    create_tables(url)
    port = free_port()
    argv = [
        services.PYTHON,
        "-m",
        "gunicorn",
        "--workers",
        "4",
        "--bind",
        f"127.0.0.1:{port}",
        "integrations.bulk_apps:create_flask_app()",
    ]
    with running_server(argv, port, env=subprocess_env(**{DATABASE_URL_ENV: url})):
        base = f"http://127.0.0.1:{port}"
        result = _race(base, f"bulk-flask-{atomic}", atomic)
        naive = _race(base, f"bulk-naive-{atomic}", atomic, "/documents:naiveBatchUpdate")
    print(f"check-then-write: {len(naive.lost)} of {len(naive.tally.acknowledged)} lost")
    assert_clean(result, writers=WRITERS, rounds=ROUNDS)
    # The same harness catches a check-then-write bulk endpoint losing acknowledged writes.
    assert naive.tally.errors == []
    assert naive.lost, "the check-then-write arm lost nothing: the harness made no contention"


@pytest.mark.parametrize("atomic", [True, False], ids=["atomic", "per-item"])
def test_fastapi_uvicorn_workers(postgres_db: Database, atomic: bool) -> None:
    create_tables(postgres_db.sqlalchemy_url())
    port = free_port()
    argv = [
        services.PYTHON,
        "-m",
        "uvicorn",
        "--workers",
        "3",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--no-date-header",
        "--factory",
        "integrations.bulk_apps:create_fastapi_app",
    ]
    url = postgres_db.sqlalchemy_url(asynchronous=True)
    with running_server(argv, port, env=subprocess_env(**{DATABASE_URL_ENV: url})):
        result = _race(f"http://127.0.0.1:{port}", f"bulk-fastapi-{atomic}", atomic)
    assert_clean(result, writers=WRITERS, rounds=ROUNDS)
