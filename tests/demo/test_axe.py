"""The accessibility audit's installer (``axe.py``): the pinned axe-core from the npm registry,
installed once into a cache; an unreachable registry is a clear error, never a hang."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from services import REQUIRE_SERVICES, free_port

from .axe import AXE_SCRIPT, HERE, AxeUnavailable, axe_script


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of tests/demo's package.json and package-lock.json, without node_modules."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy(HERE / name, copy / name)
    return copy


def test_the_lock_file_pins_the_version_package_json_asks_for() -> None:
    wanted = json.loads((HERE / "package.json").read_text())["devDependencies"]["axe-core"]
    lock = json.loads((HERE / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/axe-core"]
    assert locked["version"] == wanted  # an exact version, not a range
    assert locked["integrity"].startswith("sha512-")


def test_an_install_in_the_cache_is_used_without_npm(project: Path, tmp_path: Path) -> None:
    lock_hash = hashlib.sha256((project / "package-lock.json").read_bytes()).hexdigest()[:16]
    cached = tmp_path / "cache" / f"axe-{lock_hash}" / AXE_SCRIPT
    cached.parent.mkdir(parents=True)
    cached.write_text("/* axe */")
    no_npm = {**os.environ, "PATH": str(tmp_path / "empty")}
    assert axe_script(project, cache=tmp_path / "cache", env=no_npm) == cached


def test_an_unreachable_registry_is_a_clear_error(project: Path, tmp_path: Path) -> None:
    if shutil.which("npm") is None:
        message = "npm is not installed (needed to install axe-core for the audit)"
        if REQUIRE_SERVICES:
            pytest.fail(message + " and IFMATCH_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(message)
    nobody = f"http://127.0.0.1:{free_port()}/"  # a loopback port nothing listens on
    env = {
        **os.environ,
        "npm_config_registry": nobody,
        "npm_config_cache": str(tmp_path / "npm-cache"),  # empty: npm has to ask the registry
    }
    with pytest.raises(AxeUnavailable, match=r"npm ci` for axe-core failed .*registry reachable"):
        axe_script(project, cache=tmp_path / "cache", env=env)
    assert list((tmp_path / "cache").iterdir()) == []  # no half-made install left behind
