"""Packaging promises: the public API, the typing marker, and no framework on import."""

from __future__ import annotations

import json
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
        "conditions",
        "dates",
        "decisions",
        "errors",
        "etag",
        "idempotency",
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
