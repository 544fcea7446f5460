"""halchemy's own client against a real server of every integration: an item taken from a list
and updated through its bare ``_etag`` is written; a stale copy gets 412 and writes nothing.

Django REST framework and plain Django run in the test project under gunicorn (SQLite); Flask
under gunicorn, FastAPI and Starlette under uvicorn, each serving the Eve-style list of
``tests/integrations/hal_apps.py``. The demo has its own test (``tests/demo``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import djangoproject
from integrations.halchemy_flow import HalClient, check_list_update_flow, status
from services import PYTHON, free_port, running_server

pytestmark = pytest.mark.slow


def body(text: str) -> dict[str, Any]:
    return {"title": "From a list", "text": text}


@pytest.fixture(scope="module")
def django_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test project under gunicorn on a SQLite file of its own."""
    from djangoproject.harness import gunicorn

    path = tmp_path_factory.mktemp("halchemy") / "db.sqlite3"
    djangoproject.setup()
    djangoproject.add_database(
        "halchemy", {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    )
    with gunicorn(f"sqlite://{path}", workers=1) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("route", "list_url"),
    [("/api/documents/{pk}/", "/api/documents/"), ("/plain/documents/{pk}/", "/plain/documents/")],
    ids=["drf", "django"],
)
def test_django_integrations(django_server: str, route: str, list_url: str) -> None:
    client = HalClient(django_server)
    pk = uuid.uuid4().int % 10**9
    created = client.create(route.format(pk=pk), body("first"))
    assert status(created) == 201, created._halchemy.response
    check_list_update_flow(client, list_url, pk, body)


SERVERS = {
    "flask": [PYTHON, "-m", "gunicorn", "--workers", "1", "integrations.hal_apps:flask_app()"],
    "fastapi": [PYTHON, "-m", "uvicorn", "--factory", "integrations.hal_apps:fastapi_app"],
    "starlette": [PYTHON, "-m", "uvicorn", "--factory", "integrations.hal_apps:starlette_app"],
}


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_python_web_integrations(name: str) -> None:
    port = free_port()
    argv = list(SERVERS[name])
    if "gunicorn" in argv:
        argv[3:3] = ["--bind", f"127.0.0.1:{port}"]
    else:
        argv[3:3] = ["--host", "127.0.0.1", "--port", str(port)]
    with running_server(argv, port):
        client = HalClient(f"http://127.0.0.1:{port}")
        for key in ("a", "b"):  # the list holds more than the item updated
            created = client.create(f"/documents/{key}", body("first"))
            assert status(created) == 201, created._halchemy.response
        check_list_update_flow(client, "/documents/", "b", body)
        assert [item["id"] for item in client.items("/documents/")] == ["a"]
