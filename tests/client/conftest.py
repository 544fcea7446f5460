"""A real ifmatch-protected server (gunicorn, several workers) on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from client.server_app import init_db
from services import PYTHON, free_port, running_server, subprocess_env

WORKERS = 4


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the document API served by gunicorn with several workers on one SQLite
    file."""
    path = Path(tmp_path_factory.mktemp("client-server")) / "docs.sqlite"
    init_db(str(path))
    port = free_port()
    argv = [
        PYTHON,
        "-m",
        "gunicorn",
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "2",
        "client.server_app:app",
    ]
    with running_server(argv, port, env=subprocess_env(IFMATCH_CLIENT_DB=str(path))):
        yield f"http://127.0.0.1:{port}"
