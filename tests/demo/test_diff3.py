"""Run the page's three-way merge unit tests (``diff3.test.mjs``) with Node's test runner."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from services import REQUIRE_SERVICES

TESTS = Path(__file__).with_name("diff3.test.mjs")


def test_diff3_javascript_unit_tests() -> None:
    node = shutil.which("node")
    if node is None:
        message = "Node.js is not installed (needed to run the page's JavaScript tests)"
        if REQUIRE_SERVICES:
            pytest.fail(message + " and IFMATCH_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(message)
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", str(TESTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    counts = dict(re.findall(r"^# (tests|pass|fail) (\d+)$", result.stdout, re.MULTILINE))
    assert counts["fail"] == "0"
    assert counts["pass"] == counts["tests"]
    assert int(counts["tests"]) >= 10  # the file's tests really ran
