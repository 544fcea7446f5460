"""docs/demo.md's curl walkthrough, pasted as written into a shell against a fresh demo.

Every ``$ curl ...`` line of the "same story with curl" section runs, back to back as a reader
pasting them would, against a new ``ifmatch demo`` on a loopback port; its output must be the
one the page shows. The page leaves out the headers it names (``Server``, ``Date``,
``Connection``, ``Allow``, ``Content-Length`` and the security headers); dates and timestamps,
which no two runs share, are compared by shape.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from services import free_port, running_server, subprocess_env

from .conftest import demo_argv

DEMO_MD = Path(__file__).resolve().parents[2] / "docs" / "demo.md"
SECTION = "## The same story with curl"
LEFT_OUT = {
    "server",
    "date",
    "connection",
    "allow",
    "content-length",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
    "content-security-policy",
    "permissions-policy",
}
HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def steps() -> list[tuple[str, str]]:
    """``(command, expected output)`` for each ``$`` line of the section, in order."""
    text = DEMO_MD.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    found: list[tuple[str, str]] = []
    for block in re.findall(r"```console\n(.*?)```", text[start:end], re.DOTALL):
        command: str | None = None
        output: list[str] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                if command is not None:
                    found.append((command, "\n".join(output).strip()))
                command, output = line[2:], []
            else:
                output.append(line)
        if command is not None:
            found.append((command, "\n".join(output).strip()))
    return found


def shape(output: str) -> tuple[str, list[str], str]:
    """Status line, the headers the page shows (sorted), and the body; dates by shape."""
    output = TIMESTAMP.sub("<timestamp>", HTTP_DATE.sub("<date>", output.replace("\r\n", "\n")))
    if not output.startswith("HTTP/"):
        return "", [], output.strip()
    head, _, body = output.partition("\n\n")
    status, *fields = head.splitlines()
    shown = sorted(f for f in fields if f.split(":", 1)[0].strip().lower() not in LEFT_OUT)
    return status.strip(), shown, body.strip()


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    chosen = free_port()
    with running_server(demo_argv(chosen, tmp_path / "data"), chosen, env=subprocess_env()):
        yield chosen


def test_the_walkthrough_is_what_a_pasted_session_prints(port: int) -> None:
    walkthrough = steps()
    assert len(walkthrough) >= 12, "the section lost its commands"
    for command, expected in walkthrough:
        assert command.startswith("curl "), command
        runnable = command.replace("localhost:8000", f"127.0.0.1:{port}")
        done = subprocess.run(
            ["bash", "-c", runnable], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, (command, done.stderr)
        # The links the demo builds name the host asked for; the page's host is localhost:8000.
        printed = done.stdout.replace(f"127.0.0.1:{port}", "localhost:8000")
        assert shape(printed) == shape(expected), command
