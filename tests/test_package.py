"""Packaging promises: the public API, the typing marker, and no framework on import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ifmatch
import ifmatch.core
from services import SRC

FRAMEWORKS = [
    "django",
    "rest_framework",
    "flask",
    "werkzeug",
    "fastapi",
    "starlette",
    "sqlalchemy",
    "redis",
    "httpx",
    "requests",
    "psycopg",
    "pymysql",
    "pydantic",
]


def test_import_ifmatch_loads_no_framework() -> None:
    code = (
        "import sys, json, ifmatch, ifmatch.core, ifmatch.stores, ifmatch.stores.memory;"
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(SRC)},
    )
    loaded = set(json.loads(result.stdout))
    assert loaded.isdisjoint(FRAMEWORKS), loaded & set(FRAMEWORKS)


def test_exported_members_are_exactly_the_public_names() -> None:
    # Skip "@py_builtins" and friends: pytest rewrites asserts in every module of a distribution
    # that registers a pytest plugin, as ifmatch does.
    public = sorted(name for name in vars(ifmatch.core) if not name.startswith(("_", "@")))
    submodules = {
        "bulk",
        "conditions",
        "dates",
        "decisions",
        "errors",
        "etag",
        "idempotency",
        "patching",  # imported by its path only (ifmatch.core.patching)
        "policy",
        "problems",
        "tags",
    }
    assert sorted(ifmatch.core.__all__) == sorted(set(public) - submodules)
    assert set(ifmatch.__all__) == {*ifmatch.core.__all__, "__version__"}
    for name in ifmatch.__all__:
        assert getattr(ifmatch, name) is not None


def test_py_typed_marker_ships() -> None:
    assert (Path(ifmatch.__file__).parent / "py.typed").is_file()


COVERED_SUITE = """
from ifmatch import ResourceState, evaluate, version_etag


def test_a_stale_put():
    decision = evaluate("PUT", {"If-Match": '"v6"'}, ResourceState(etag=version_etag(7)))
    assert decision.status == 412
"""


def test_pytest_cov_measures_ifmatch_from_its_first_line(tmp_path: Path) -> None:
    # pytest imports entry-point plugins (ifmatch's among them) before pytest-cov starts:
    # ifmatch's plugin must import nothing of ifmatch, or every module it loads is reported as
    # never run ("Module ifmatch was previously imported, but not measured").
    (tmp_path / "test_user.py").write_text(COVERED_SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "COVERAGE_"))}
    env["PYTHONPATH"] = str(SRC)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--cov=ifmatch",
            "--cov-report=json:coverage.json",
            "test_user.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "CoverageWarning" not in output and "previously imported" not in output, output
    files = {
        Path(name).resolve().relative_to(SRC).as_posix(): data
        for name, data in json.loads((tmp_path / "coverage.json").read_text())["files"].items()
    }
    # Every line of these runs when ifmatch is imported or evaluate() answers a stale PUT.
    assert files["ifmatch/__init__.py"]["summary"]["missing_lines"] == 0
    assert files["ifmatch/_version.py"]["summary"]["missing_lines"] == 0
    # The definitions of the core's modules run at import: measured only if the import is.
    for module in ("core/decisions.py", "core/evaluate.py", "core/etag.py"):
        source = (SRC / "ifmatch" / module).read_text().splitlines()
        definitions = [n for n, line in enumerate(source, 1) if line.startswith(("def ", "class "))]
        assert set(definitions) <= set(files[f"ifmatch/{module}"]["executed_lines"]), module
