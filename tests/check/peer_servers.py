"""The check-then-write peer stacks (``tests/peers``) as real servers for the checker: each
under its usual server with four worker processes, on one PostgreSQL database.

``serve(stack, db)`` starts the server a stack lives in and yields its base URL; ``resource``
adds a fresh document and returns its URL and id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from peers.tables import DATABASE_URL_ENV, add_row, create_table
from services import PYTHON, Database, free_port, running_server, subprocess_env

WORKERS = "4"


@dataclass(frozen=True)
class Server:
    """One server process and the stacks it serves."""

    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


def gunicorn(target: str) -> tuple[str, ...]:
    return (PYTHON, "-m", "gunicorn", "--workers", WORKERS, "--log-level", "warning", target)


DJANGO = Server(
    "django",
    gunicorn("peers.djangoapp.wsgi:application"),
    (("DJANGO_SETTINGS_MODULE", "peers.djangoapp.settings"),),
)
FLASK = Server("flask", gunicorn("peers.flask_stacks:create_app()"))
FASTAPI = Server(
    "fastapi",
    (PYTHON, "-m", "uvicorn", "--workers", WORKERS, "--log-level", "warning", "--factory"),
)


@dataclass(frozen=True)
class Stack:
    """A check-then-write stack: the server it lives in and the URL of document ``{id}``."""

    name: str
    server: Server
    route: str


STACKS = (
    Stack("django-condition", DJANGO, "/condition/documents/{id}"),
    Stack("drf-extensions", DJANGO, "/drf-extensions/documents/{id}/"),
    Stack("flask-smorest", FLASK, "/smorest/documents/{id}"),
    Stack("werkzeug", FLASK, "/werkzeug/documents/{id}"),
    Stack("fastapi-etag", FASTAPI, "/documents/{id}"),
)


@contextlib.contextmanager
def serve(server: Server, db: Database) -> Iterator[str]:
    """Start ``server`` on ``db`` (creating the table); yield its base URL."""
    url = db.sqlalchemy_url()
    create_table(url)
    port = free_port()
    if server is FASTAPI:
        argv = [*server.argv, "--host", "127.0.0.1", "--port", str(port)]
        argv.append("peers.fastapi_stack:create_app")
    else:
        argv = [*server.argv, "--bind", f"127.0.0.1:{port}"]
    env = subprocess_env(**{DATABASE_URL_ENV: db.url, **dict(server.env)})
    with running_server(argv, port, env=env):
        yield f"http://127.0.0.1:{port}"


def resource(stack: Stack, db: Database, base: str, text: str) -> tuple[str, int]:
    """A fresh document for ``stack``: its URL and id."""
    doc_id = add_row(db.sqlalchemy_url(), title=f"checked by {stack.name}", text=text)
    return base + stack.route.format(id=doc_id), doc_id
