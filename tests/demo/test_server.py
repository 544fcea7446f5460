"""Serving the demo: URLs, the banner, port checks, and the fallback server."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import pytest

from ifmatch.demo.server import ServerError, _check_port, banner, urls
from services import PYTHON, free_port, running_server, subprocess_env


def test_urls_name_a_reachable_address() -> None:
    assert urls("127.0.0.1", 8000)["Guido"] == "http://127.0.0.1:8000/?user=Guido"
    assert urls("0.0.0.0", 80)["Ada"] == "http://127.0.0.1:80/?user=Ada"
    assert urls("::", 8000)["API"] == "http://[::1]:8000/api/documents/"
    assert urls("::1", 8000)["API docs"] == "http://[::1]:8000/api/docs/"


def test_banner_lists_every_url() -> None:
    text = banner("127.0.0.1", 8123, "SQLite /tmp/x.sqlite3", "gunicorn, 1 worker")
    for url in urls("127.0.0.1", 8123).values():
        assert url in text
    assert "SQLite /tmp/x.sqlite3" in text and "Ctrl-C" in text


def test_a_port_in_use_is_reported_at_once() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServerError, match="cannot listen on 127.0.0.1:"):
            _check_port("127.0.0.1", port)
    _check_port("127.0.0.1", free_port())


FALLBACK = """
import sys
from pathlib import Path
from ifmatch.demo.server import prepare, serve_threaded
prepare(data_dir=Path(sys.argv[1]), database_url=None, host="127.0.0.1")
raise SystemExit(serve_threaded(host="127.0.0.1", port=int(sys.argv[2]), on_ready=print))
"""


def test_threaded_fallback_serves_the_demo_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    argv = [PYTHON, "-c", FALLBACK, str(tmp_path), str(port)]
    with running_server(argv, port, env=subprocess_env()) as process:
        with httpx.Client() as client:
            assert "ifmatch" in client.get(f"http://127.0.0.1:{port}/").text
            document = client.get(f"http://127.0.0.1:{port}/api/documents/1/")
            assert document.headers["ETag"] == '"v1"'
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
