from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ifmatch import __version__
from ifmatch.cli import main
from services import SRC


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_stale_put(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "PUT", "-H", 'If-Match: "v1"', "--etag", '"v2"')
    assert code == 0
    status, body = out.split("\n", 1)
    assert status == "412"
    assert json.loads(body)["current_etag"] == '"v2"'


def test_explain_proceed_shows_write_condition(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "PUT", "-H", 'If-Match: "v2"', "--etag", '"v2"')
    assert (code, out) == (
        0,
        'proceed: perform the method\n  the write must still hold: if-match: "v2"\n',
    )


def test_explain_304(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "explain",
        "GET",
        "-H",
        "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT",
        "--last-modified",
        "Sun, 06 Nov 1994 08:49:37 GMT",
    )
    assert out == "304 Not Modified\n  Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\n"


def test_explain_warn_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "PUT", "--missing", "-H", "If-None-Match: *")
    assert out == "proceed: perform the method\n  the write must still hold: if-none-match: *\n"
    code, out, _ = run(capsys, "explain", "PUT", "--no-require")
    assert out == "proceed: perform the method\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explain", "PUT", "-H", "no colon"], "header must be 'Name: value'"),
        (["explain", "GET", "--last-modified", "soon"], "not an HTTP-date"),
        (["explain", "GET", "--etag", '"x'], "--etag"),
    ],
)
def test_explain_bad_input(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 2 and "explain" in out


def test_module_entry_point_and_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ifmatch", "--version"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC)},
    )
    assert result.stdout.strip() == f"ifmatch {__version__}"
