"""Run the page's JavaScript unit tests with Node's test runner: the three-way merge
(``diff3.test.mjs``) and the rule for which error bodies may be merged from
(``problem.test.mjs``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from services import REQUIRE_SERVICES

HERE = Path(__file__).parent


@pytest.mark.parametrize(("name", "at_least"), [("diff3.test.mjs", 18), ("problem.test.mjs", 4)])
def test_the_pages_javascript_unit_tests(name: str, at_least: int) -> None:
    node = shutil.which("node")
    if node is None:
        message = "Node.js is not installed (needed to run the page's JavaScript tests)"
        if REQUIRE_SERVICES:
            pytest.fail(message + " and IFMATCH_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(message)
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", str(HERE / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    counts = dict(re.findall(r"^# (tests|pass|fail) (\d+)$", result.stdout, re.MULTILINE))
    assert counts["fail"] == "0"
    assert counts["pass"] == counts["tests"]
    assert int(counts["tests"]) >= at_least  # the file's tests really ran
