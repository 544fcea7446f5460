"""``python -m ifmatch.check`` end to end, against the reference servers under gunicorn with
threads (one process: the in-memory store is shared by the threads)."""

from __future__ import annotations

import json
import subprocess

import pytest

from services import PYTHON, free_port, running_server, subprocess_env


def gunicorn(defect: str, port: int) -> list[str]:
    return [
        PYTHON,
        "-m",
        "gunicorn",
        "--workers",
        "1",
        "--threads",
        "16",
        "--bind",
        f"127.0.0.1:{port}",
        f"check.servers:make_wsgi_app({defect!r})",
    ]


def ifmatch_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "ifmatch.check", *args],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("defect", "code", "failed"),
    [("correct", 0, []), ("check-then-write", 1, ["race"])],
)
def test_the_command_against_gunicorn(defect: str, code: int, failed: list[str]) -> None:
    port = free_port()
    with running_server(gunicorn(defect, port), port):
        completed = ifmatch_check(
            f"http://127.0.0.1:{port}/doc", "--write", "--json", "--rounds", "10"
        )
    assert completed.returncode == code, completed.stderr
    report = json.loads(completed.stdout)
    assert [probe["id"] for probe in report["probes"] if probe["status"] == "fail"] == failed
    assert completed.stderr == ""


def test_the_module_runs_and_explains_bad_input() -> None:
    completed = ifmatch_check("localhost:8000/doc")
    assert completed.returncode == 2
    assert completed.stderr == (
        "ifmatch check: 'localhost:8000/doc' is not an http:// or https:// URL\n"
    )
