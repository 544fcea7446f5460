"""The pytest plugin, as a user's suite would load it."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from check.servers import make_asgi_app, make_wsgi_app
from ifmatch.check import Verdict
from ifmatch.testing import UnsafeAPIError
from ifmatch.testing.plugin import IfMatchChecker
from services import PYTHON, subprocess_env


def test_the_checker_applies_its_settings_unless_overridden() -> None:
    checker = IfMatchChecker(rounds=2, concurrency=3)
    report = checker.assert_safe(make_wsgi_app(), "/doc")
    assert (report.options["rounds"], report.options["concurrency"]) == (2, 3)
    report = checker.check(make_wsgi_app("star-412"), "/doc", rounds=1)
    assert report.verdict is Verdict.UNSAFE and report.options["rounds"] == 1


@pytest.mark.asyncio
async def test_the_checker_in_an_async_test() -> None:
    checker = IfMatchChecker(rounds=2)
    await checker.assert_safe_async(make_asgi_app(), "/doc")
    with pytest.raises(UnsafeAPIError):
        await checker.assert_safe_async(make_asgi_app("put-304"), "/doc")
    report = await checker.acheck(make_asgi_app(), "/doc", write=False)
    assert not report.write


def run_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # With autoloading off the plugin is loaded by -p alone, whether or not ifmatch's pytest11
    # entry point is installed (loading it twice would be an error).
    return subprocess.run(
        [PYTHON, "-m", "pytest", "-p", "ifmatch.testing.plugin", *args],
        cwd=tmp_path,
        env=subprocess_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )


USER_SUITE = """
    from check.servers import make_wsgi_app


    def test_safe_api(ifmatch_check):
        report = ifmatch_check.assert_safe(make_wsgi_app(), "/doc")
        assert report.options["rounds"] == 3 and report.options["concurrency"] == 4


    def test_check_then_write_api(ifmatch_check):
        ifmatch_check.assert_safe(make_wsgi_app("check-then-write"), "/doc")
"""


def test_a_users_suite_loads_the_plugin_and_sees_the_failure(tmp_path: Path) -> None:
    (tmp_path / "test_user_api.py").write_text(textwrap.dedent(USER_SUITE))
    completed = run_pytest(
        tmp_path,
        "-p",
        "no:cacheprovider",
        "-W",
        "error",
        "--ifmatch-rounds",
        "3",
        "--ifmatch-concurrency",
        "4",
        "-q",
        str(tmp_path),
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1, output
    assert "1 failed, 1 passed" in output
    assert "UnsafeAPIError" in output and "is not conditional-write safe: race fail" in output


def test_the_plugin_options_are_listed_in_help(tmp_path: Path) -> None:
    completed = run_pytest(tmp_path, "--help")
    assert "--ifmatch-rounds" in completed.stdout and "--ifmatch-concurrency" in completed.stdout
