"""Lost updates with body entity-tags through real server processes on PostgreSQL: writers that
send no If-Match, only the ``etag`` member they read (AIP-154), through gunicorn (Flask, and
Django REST framework) and uvicorn (FastAPI) workers. Every acknowledged write must survive."""

from __future__ import annotations

import httpx
import pytest

import services
from integrations.example_models import DATABASE_URL_ENV, create_tables
from integrations.lost_updates import Tally, race
from services import Database, free_port, running_server, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.services]

WRITERS, TOKENS = 12, 5


def _check(tally: Tally, lost: list[str], label: str) -> None:
    print(
        f"{label}: {len(tally.acknowledged)} acknowledged, {tally.conflicts} refused "
        f"{dict(tally.refusals)}, {len(lost)} lost"
    )
    assert not tally.errors, tally.errors[:3]
    assert len(tally.acknowledged) == WRITERS * TOKENS
    assert lost == [], f"{len(lost)} acknowledged writes lost"
    assert tally.conflicts > 0  # the writers did collide
    # A stale body tag (or a lost compare-and-set) is answered as configured: 409.
    assert set(tally.refusals) == {409}


def _run(
    argv: list[str], port: int, env: dict[str, str], path: str, label: str, naive: str = ""
) -> None:
    base = f"http://127.0.0.1:{port}"
    with running_server(argv, port, env=subprocess_env(**env)):
        for target in (path, *([f"{path}-naive"] if naive else [])):
            created = httpx.put(
                base + target, json={"text": ""}, headers={"If-None-Match": "*"}, timeout=60
            )
            assert created.status_code == 201, created.text
        # Without the body member or a header the write is refused: the tag is what guards it.
        bare = httpx.put(base + path, json={"text": "unguarded"}, timeout=60)
        assert bare.status_code == 428, bare.text
        tally, lost = race(base, path, writers=WRITERS, tokens=TOKENS, body_etag="etag")
        if naive:
            # The same writers against a check-then-write route (the body's tag compared in
            # Python, then an unconditional write): the harness can see lost updates.
            naive_path = naive + path.rsplit("/", 1)[1] + "-naive"
            naive_tally, naive_lost = race(
                base, naive_path, writers=WRITERS, tokens=TOKENS, body_etag="etag"
            )
            print(
                f"{label} naive: {len(naive_tally.acknowledged)} acknowledged, "
                f"{len(naive_lost)} lost"
            )
            assert not naive_tally.errors, naive_tally.errors[:3]
            assert naive_lost, "the naive route lost nothing: no contention was created"
    _check(tally, lost, label)


def test_flask_gunicorn_workers_lose_no_update(postgres_db: Database) -> None:
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
        "integrations.body_etag_apps:flask_app()",
    ]
    env = {DATABASE_URL_ENV: url}
    _run(argv, port, env, "/documents/body-etag-flask", "flask", naive="/naive/")


def test_fastapi_uvicorn_workers_lose_no_update(postgres_db: Database) -> None:
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
        "integrations.body_etag_apps:fastapi_app",
    ]
    env = {DATABASE_URL_ENV: postgres_db.sqlalchemy_url(asynchronous=True)}
    _run(argv, port, env, "/documents/body-etag-fastapi", "fastapi")


def test_drf_gunicorn_workers_lose_no_update(postgres_db: Database) -> None:
    import djangoproject

    djangoproject.setup()
    from djangoproject.docs.models import Document
    from djangoproject.harness import gunicorn

    djangoproject.add_database("postgresql", postgres_db.django_settings())
    doc = Document(title="race", text="")
    doc.save(using="postgresql")
    path = f"/api/documents/{doc.pk}/"
    settings_module = {"DJANGO_SETTINGS_MODULE": "djangoproject.settings_bodyetag"}
    with gunicorn(postgres_db.url, workers=4, **settings_module) as port:
        base = f"http://127.0.0.1:{port}"
        bare = httpx.put(base + path, json={"text": "unguarded"}, timeout=60)
        assert bare.status_code == 428, bare.text
        tally, lost = race(base, path, writers=WRITERS, tokens=TOKENS, body_etag="etag")
    _check(tally, lost, "drf")
