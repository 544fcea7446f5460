"""The lost-update harness for PATCH: concurrent writers each add unique tokens to one document
with merge-patch bodies (``{"tokens": {"<token>": true}}``), through real server processes.

With ``conditional``: GET (ETag) -> PATCH with If-Match -> on 412 re-read and retry. Without:
PATCH with no precondition, which the server applies to the version it reads and re-applies when
another writer won (a 409 after too many losses is retried by the writer). A token is
acknowledged when its PATCH got a 2xx; every acknowledged token must be in the final document.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import httpx

import services
from integrations.example_models import DATABASE_URL_ENV
from integrations.lost_updates import MAX_ATTEMPTS, TIME_LIMIT, Tally
from services import Database, free_port, running_server, subprocess_env

MERGE = "application/merge-patch+json"


def _writer(
    base: str, path: str, name: str, tokens: int, tally: Tally, deadline: float, conditional: bool
) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        for index in range(tokens):
            token = f"{name}-{index}"
            body = f'{{"tokens": {{"{token}": true}}}}'
            for _ in range(MAX_ATTEMPTS):
                if time.monotonic() > deadline:
                    return
                headers = {"Content-Type": MERGE}
                if conditional:
                    headers["If-Match"] = client.get(path).headers.get("ETag", "")
                sent = client.patch(path, content=body, headers=headers)
                if sent.status_code < 300:
                    with tally.lock:
                        tally.acknowledged.append(token)
                    break
                if sent.status_code not in {409, 412}:
                    with tally.lock:
                        tally.errors.append(f"{sent.status_code} {sent.text[:200]}")
                    return
                with tally.lock:
                    tally.conflicts += 1


def patch_race(
    base: str, path: str, *, writers: int, tokens: int, conditional: bool
) -> tuple[Tally, list[str]]:
    """Run the writers against ``base + path`` (which must exist); return the tally and the
    acknowledged tokens missing from the final document."""
    tally = Tally()
    deadline = time.monotonic() + TIME_LIMIT
    threads = [
        threading.Thread(
            target=_writer,
            args=(base, path, f"w{n}", tokens, tally, deadline, conditional),
        )
        for n in range(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = httpx.get(base + path, timeout=30).json()["tokens"]
    return tally, [token for token in tally.acknowledged if token not in final]


@contextmanager
def flask_servers(pg: Database) -> Iterator[str]:
    port = free_port()
    argv = [
        services.PYTHON,
        "-m",
        "gunicorn",
        "--workers",
        "4",
        "--bind",
        f"127.0.0.1:{port}",
        "integrations.patch_apps:create_flask_app()",
    ]
    env = subprocess_env(**{DATABASE_URL_ENV: pg.sqlalchemy_url()})
    with running_server(argv, port, env=env):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def fastapi_servers(pg: Database) -> Iterator[str]:
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
        "--factory",
        "integrations.patch_apps:create_fastapi_app",
    ]
    env = subprocess_env(**{DATABASE_URL_ENV: pg.sqlalchemy_url(asynchronous=True)})
    with running_server(argv, port, env=env):
        yield f"http://127.0.0.1:{port}"


def django_project_servers(prefix: str) -> Callable[[Database], AbstractContextManager[str]]:
    """The test Django project under gunicorn; its patch views are under ``prefix``."""

    @contextmanager
    def servers(pg: Database) -> Iterator[str]:
        import djangoproject

        djangoproject.setup()
        djangoproject.add_database("patch-race", pg.django_settings())  # creates the table
        from djangoproject.harness import gunicorn

        with gunicorn(pg.url, workers=4) as port:
            yield f"http://127.0.0.1:{port}{prefix}"

    return servers


#: Each serves the patch apps on several processes; yields the base URL of their routes.
SERVERS: dict[str, Callable[[Database], AbstractContextManager[str]]] = {
    "flask-gunicorn": flask_servers,
    "fastapi-uvicorn": fastapi_servers,
    "drf-gunicorn": django_project_servers("/drf"),
    "django-gunicorn": django_project_servers("/django"),
}
