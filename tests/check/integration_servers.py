"""ifmatch's own integrations as real servers for the checker, each on PostgreSQL.

- the test project (``tests/djangoproject``) under gunicorn: its DRF viewset and its plain
  Django decorated view;
- the Flask example app (``tests/integrations/example_flask.py``) under gunicorn, on the
  SQLAlchemy store;
- the FastAPI example app (``tests/integrations/example_fastapi.py``) under uvicorn, on the
  async SQLAlchemy store.

Every server runs four worker processes sharing the database (as the check-then-write stacks in
``peer_servers`` do), so the race probe's writers land on different processes. Each context
manager creates one fresh resource and yields its URL.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import httpx

import djangoproject
from check.servers import ORIGINAL
from integrations.example_models import DATABASE_URL_ENV, create_tables
from services import PYTHON, Database, free_port, running_server, subprocess_env

WORKERS = "4"


@contextlib.contextmanager
def django_resource(db: Database, route: str) -> Iterator[str]:
    """The test project under gunicorn; ``route`` names the document (``{pk}``)."""
    djangoproject.setup()
    djangoproject.add_database("pg", db.django_settings())
    from djangoproject.docs.models import Document
    from djangoproject.harness import gunicorn

    document = Document(title="checked", text=str(ORIGINAL["text"]))
    document.save(using="pg")
    with gunicorn(db.url, workers=int(WORKERS)) as port:
        yield f"http://127.0.0.1:{port}{route.format(pk=document.pk)}"


@contextlib.contextmanager
def flask_resource(db: Database) -> Iterator[str]:
    """The Flask example app under gunicorn, on the SQLAlchemy store."""
    url = db.sqlalchemy_url()
    create_tables(url)
    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "--workers", WORKERS, "--bind", f"127.0.0.1:{port}"]
    argv.append("integrations.example_flask:create_app()")
    with running_server(argv, port, env=subprocess_env(**{DATABASE_URL_ENV: url})):
        yield _created(f"http://127.0.0.1:{port}/documents/checked-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def fastapi_resource(db: Database) -> Iterator[str]:
    """The FastAPI example app under uvicorn, on the async SQLAlchemy store."""
    create_tables(db.sqlalchemy_url())
    port = free_port()
    # The app stamps an exact Date (DateMiddleware): uvicorn's own is refreshed once a second
    # and can be older than a Last-Modified from a write in the last second.
    argv = [
        PYTHON,
        "-m",
        "uvicorn",
        "--workers",
        WORKERS,
        "--host",
        "127.0.0.1",
        "--no-date-header",
        # No access log: the output goes to a pipe nobody reads while the server runs.
        "--log-level",
        "warning",
    ]
    argv += ["--port", str(port), "--factory", "integrations.example_fastapi:create_app"]
    env = subprocess_env(**{DATABASE_URL_ENV: db.sqlalchemy_url(asynchronous=True)})
    with running_server(argv, port, env=env):
        yield _created(f"http://127.0.0.1:{port}/documents/checked-{uuid.uuid4().hex[:8]}")


def _created(url: str) -> str:
    """Create the document at ``url`` (PUT with If-None-Match: *); return ``url``."""
    response = httpx.put(
        url, json={"text": ORIGINAL["text"]}, headers={"If-None-Match": "*"}, timeout=30
    )
    assert response.status_code == 201, response.text
    return url
