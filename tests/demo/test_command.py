"""``ifmatch demo``: arguments, first run, restart, clean shutdown, and start-up errors."""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ifmatch.demo.command import add_arguments
from services import PYTHON, free_port, port_open, subprocess_env

from .conftest import DEMO, demo_argv


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_arguments_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse()
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 8000, 1)
    assert args.database_url is None and args.data_dir is None
    args = parse("--workers", "4", "--database-url", "postgresql://x/y", "--data-dir", "/d")
    assert (args.workers, args.database_url, args.data_dir) == (4, "postgresql://x/y", Path("/d"))
    with pytest.raises(SystemExit):
        parse("--workers", "0")
    assert "must be at least 1" in capsys.readouterr().err


def test_importing_the_command_loads_no_framework() -> None:
    code = (
        "import sys, ifmatch.demo.command, ifmatch.demo.server, ifmatch.demo.config; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'django', 'rest_framework', 'gunicorn', 'whitenoise', 'psycopg'}))"
    )
    result = subprocess.run(
        [PYTHON, "-c", code], env=subprocess_env(), capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@contextmanager
def demo(argv: list[str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start the demo command; yield once it listens; kill it if the test left it running."""
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=subprocess_env(), stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port, timeout=0.2):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def stop(process: subprocess.Popen[bytes], sig: signal.Signals, port: int) -> None:
    process.send_signal(sig)
    assert process.wait(timeout=20) == 0
    assert not port_open("127.0.0.1", port)


@pytest.mark.slow
def test_first_run_restart_and_clean_shutdown(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    url = f"http://127.0.0.1:{port}/api/documents/"
    with demo(demo_argv(port, data_dir, "--workers", "2"), port, tmp_path / "1.log") as process:
        with httpx.Client() as client:
            sample = client.get(f"{url}1/")
            assert sample.status_code == 200 and sample.headers["ETag"] == '"v1"'
            saved = client.patch(f"{url}1/", json={"text": "kept\n"}, headers={"If-Match": '"v1"'})
            assert saved.status_code == 200
        stop(process, signal.SIGINT, port)  # Ctrl-C
    printed = (tmp_path / "1.log").read_text()
    assert f"http://127.0.0.1:{port}/?user=Guido" in printed
    assert f"http://127.0.0.1:{port}/?user=Ada" in printed
    assert "2 worker processes" in printed
    assert (data_dir / "demo.sqlite3").exists()

    # The second run finds the database: same document, no second sample, edit kept.
    with demo(demo_argv(port, data_dir), port, tmp_path / "2.log") as process:
        with httpx.Client() as client:
            documents = client.get(url).json()
        stop(process, signal.SIGTERM, port)
    assert [(d["id"], d["text"], d["etag"]) for d in documents] == [(1, "kept\n", '"v2"')]


def run_failing(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEMO, *argv], env=subprocess_env(), capture_output=True, text=True, timeout=60
    )


def test_unsupported_database_url(tmp_path: Path) -> None:
    result = run_failing("--data-dir", str(tmp_path), "--database-url", "redis://127.0.0.1/0")
    assert result.returncode == 1
    assert "unsupported database URL scheme 'redis'" in result.stderr


def test_unreachable_database(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    result = run_failing("--data-dir", str(tmp_path), "--database-url", url)
    assert result.returncode == 1
    assert "cannot prepare the database" in result.stderr


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_failing("--data-dir", str(tmp_path), "--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
