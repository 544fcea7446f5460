from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tomllib
import venv
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from ifmatch import __version__
from ifmatch.cli import main
from services import SRC, free_port


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_stale_put(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "PUT", "-H", 'If-Match: "v1"', "--etag", '"v2"')
    assert code == 1  # answered without performing the method
    status, body = out.split("\n", 1)
    assert status == "412"
    assert json.loads(body)["current_etag"] == '"v2"'


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["GET", "-H", 'If-None-Match: "v2"', "--etag", '"v2"'], "304 Not Modified"),
        (["PUT", "-H", 'If-Match: "unterminated', "--etag", '"v2"'], "400"),
        (["PUT", "-H", 'If-Match: W/"v2"', "--etag", '"v2"'], "412"),
        (["PUT", "--etag", '"v2"'], "428"),
    ],
)
def test_explain_exits_1_when_the_method_is_not_performed(
    capsys: pytest.CaptureFixture[str], argv: list[str], status: str
) -> None:
    code, out, _ = run(capsys, "explain", *argv)
    assert (code, out.splitlines()[0]) == (1, status)


def test_explain_prints_the_problem_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "explain", "PUT", "-H", 'If-Match: W/"v3"', "--etag", '"v3"')
    assert "(RFC 9110 §13.1.1)" in out and "\\u" not in out
    assert "§" in json.loads(out.split("\n", 1)[1])["detail"]


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
    assert code == 1


def test_explain_warn_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "PUT", "--missing", "-H", "If-None-Match: *")
    assert out == "proceed: perform the method\n  the write must still hold: if-none-match: *\n"
    assert code == 0
    code, out, _ = run(capsys, "explain", "PUT", "--no-require")
    assert (code, out) == (0, "proceed: perform the method\n")


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


# --- optional dependencies: one line naming the extra, exit status 2 --------------------------


@pytest.fixture(scope="module", params=["installed", "source checkout"])
def bare_python(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python with ifmatch and none of its extras, as after a bare ``pip install ifmatch``.

    "installed" has ifmatch's metadata (what pip writes), so the command knows its extra's list
    up front; "source checkout" has only the sources on the path.
    """
    root = tmp_path_factory.mktemp("bare")
    venv.create(root, with_pip=False)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    site = Path(purelib)
    (site / "ifmatch-source.pth").write_text(f"{SRC}\n")
    if request.param == "installed":
        info = site / f"ifmatch-{__version__}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(metadata.distribution("ifmatch").read_text("METADATA") or "")
    return python


def run_bare(python: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [python, *argv], capture_output=True, text=True, env=env, timeout=60, cwd=python.parent
    )


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["-m", "ifmatch", "check", "--write", "http://127.0.0.1:9/documents/1"], "check"),
        (["-m", "ifmatch.check", "http://127.0.0.1:9/documents/1"], "check"),
        (["-m", "ifmatch", "demo", "--port", "9"], "demo"),
        (["-m", "ifmatch.demo", "--port", "9"], "demo"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(
    bare_python: Path, tmp_path: Path, argv: list[str], extra: str
) -> None:
    if extra == "demo":
        argv = [*argv, "--data-dir", str(tmp_path)]
    result = run_bare(bare_python, *argv)
    command = "demo" if extra == "demo" else "check"
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    line, *rest = result.stderr.splitlines()
    assert rest == [], result.stderr
    assert line.startswith(f"ifmatch {command}: needs the '{extra}' extra (")
    assert line.endswith(f"not installed): pip install 'ifmatch[{extra}]'")


def test_help_and_explain_need_no_extra(bare_python: Path) -> None:
    assert run_bare(bare_python, "-m", "ifmatch", "--help").returncode == 0
    assert run_bare(bare_python, "-m", "ifmatch", "check", "--help").returncode == 0
    explained = run_bare(bare_python, "-m", "ifmatch", "explain", "PUT", "--etag", '"v1"')
    assert (explained.returncode, explained.stdout.splitlines()[0]) == (1, "428")


def _extra(pyproject: dict[str, Any], name: str) -> set[str]:
    """The third-party requirements of an extra, with the extras it names expanded."""
    found: set[str] = set()
    for requirement in pyproject["project"]["optional-dependencies"][name]:
        if requirement.startswith("ifmatch["):
            for inner in requirement[len("ifmatch[") : requirement.index("]")].split(","):
                found |= _extra(pyproject, inner)
        else:
            found.add(requirement)
    return found


def test_the_readme_demo_install_brings_the_checker() -> None:
    # The README installs .[demo]; ifmatch check must work right after it.
    pyproject = tomllib.loads((SRC.parent / "pyproject.toml").read_text())
    assert _extra(pyproject, "check") <= _extra(pyproject, "demo")


# --- ifmatch check when nothing answers: what to do ---------------------------------------


def test_check_on_a_refused_connection_says_what_to_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()  # nothing listens there
    code, out, _ = run(capsys, "check", f"http://127.0.0.1:{port}/documents/1", "--json")
    error = json.loads(out)["error"]
    assert code == 2
    assert error.startswith("No response to GET: ConnectError:")
    assert f"Nothing accepts connections on 127.0.0.1:{port}: start the server first" in error


def test_check_on_a_silent_server_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as silent:  # listens, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        code, out, _ = run(capsys, "check", f"http://127.0.0.1:{port}/d", "--timeout", "0.3")
    assert code == 2
    assert f"No answer from 127.0.0.1:{port} within 0.3 s" in " ".join(out.split())
    assert "--timeout" in out
