"""axe-core for the browser tests' accessibility audit, installed from the npm registry.

``tests/demo/package.json`` pins axe-core and ``package-lock.json`` pins its integrity hash. The
tests need only ``axe.min.js``: it is taken from ``tests/demo/node_modules`` when someone ran
``npm ci`` there, else ``npm ci`` installs it once into a cache directory named after the lock
file's hash (``$XDG_CACHE_HOME/ifmatch-tests``, else ``~/.cache/ifmatch-tests``), so a fresh clone
needs nothing but ``npm``. Nothing is vendored and nothing ships in the Python package.

Every network step has a timeout: an unreachable registry makes ``npm ci`` fail within a minute
or so, and :class:`AxeUnavailable` says so.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["AXE_SCRIPT", "AxeUnavailable", "axe_script", "default_cache"]

HERE = Path(__file__).parent
AXE_SCRIPT = Path("node_modules", "axe-core", "axe.min.js")
NPM_TIMEOUT_S = 180  # the whole `npm ci`; each fetch has its own, shorter timeout
NPM_ARGS = [
    "ci",
    "--ignore-scripts",
    "--no-audit",
    "--no-fund",
    "--prefer-offline",  # npm's own cache first: a second machine-wide install needs no network
    "--fetch-timeout=30000",
    "--fetch-retries=1",
    "--fetch-retry-mintimeout=2000",
    "--fetch-retry-maxtimeout=5000",
    "--loglevel=error",
]


class AxeUnavailable(Exception):
    """axe-core could not be found or installed; the message says why and what to do."""


def default_cache() -> Path:
    """Where installs are kept between runs: ``$XDG_CACHE_HOME/ifmatch-tests``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ifmatch-tests"


def axe_script(
    project: Path = HERE, cache: Path | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """The path of ``axe.min.js`` at the version ``project``'s lock file pins, installing it
    into ``cache`` (default :func:`default_cache`) if it is not there yet.

    Raises:
        AxeUnavailable: npm is missing, or ``npm ci`` failed or timed out (registry unreachable).
    """
    local = project / AXE_SCRIPT
    if local.is_file():
        return local
    lock = (project / "package-lock.json").read_bytes()
    cache = cache or default_cache()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        cache = Path(tempfile.gettempdir()) / "ifmatch-tests"
        cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"axe-{hashlib.sha256(lock).hexdigest()[:16]}"
    if (target / AXE_SCRIPT).is_file():
        return target / AXE_SCRIPT
    npm = shutil.which("npm")
    if npm is None:
        raise AxeUnavailable("npm is not installed (needed to install axe-core for the audit)")
    with tempfile.TemporaryDirectory(dir=cache, prefix="installing-") as work:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(project / name, Path(work) / name)
        _npm_ci(npm, Path(work), env)
        try:
            Path(work).rename(target)  # atomic: a concurrent run sees all of it or nothing
        except OSError:
            if not (target / AXE_SCRIPT).is_file():  # not another run's finished install
                raise
        else:
            Path(work).mkdir()  # for TemporaryDirectory's clean-up
    return target / AXE_SCRIPT


def _npm_ci(npm: str, work: Path, env: Mapping[str, str] | None) -> None:
    try:
        result = subprocess.run(
            [npm, *NPM_ARGS],
            cwd=work,
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise AxeUnavailable(
            f"`npm ci` for axe-core did not finish in {NPM_TIMEOUT_S} s "
            "(is the npm registry reachable?)"
        ) from error
    if result.returncode != 0 or not (work / AXE_SCRIPT).is_file():
        output = (result.stderr or result.stdout).strip()[-1500:]
        raise AxeUnavailable(
            f"`npm ci` for axe-core failed (exit {result.returncode}; is the npm registry "
            f"reachable?):\n{output}"
        )
