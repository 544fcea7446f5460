"""A running demo server for the demo's API and browser tests.

The server is the real command (``python -m ifmatch demo`` once the CLI lists it, else
``python -m ifmatch.demo``) in its own process, on a loopback port, with a fresh data directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ifmatch.cli import COMMANDS
from services import PYTHON, free_port, running_server, subprocess_env

DEMO = [PYTHON, "-m", "ifmatch", "demo"] if "demo" in COMMANDS else [PYTHON, "-m", "ifmatch.demo"]


def demo_argv(port: int, data_dir: Path, *extra: str) -> list[str]:
    """The command line of a demo server on ``port`` keeping its data in ``data_dir``."""
    return [*DEMO, "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), *extra]


@pytest.fixture(scope="session")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a demo server on SQLite (one worker), shared by the session."""
    port = free_port()
    argv = demo_argv(port, tmp_path_factory.mktemp("demo-data"))
    with running_server(argv, port, env=subprocess_env()):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """One HTTP client for the session (creating one per request is slow)."""
    with httpx.Client(timeout=20) as client:
        yield client
