"""The pytest plugin: an ``ifmatch_check`` fixture and two command-line options.

Installed with ifmatch (entry point ``pytest11``), so any test can ask for the fixture::

    def test_documents_are_safe(ifmatch_check, wsgi_app):
        ifmatch_check.assert_safe(wsgi_app, "/documents/1")

``--ifmatch-rounds`` and ``--ifmatch-concurrency`` set the race probe's size for the whole
run (raise them in a nightly job to hunt narrow windows). Importing this module loads neither
httpx nor any web framework.

The hooks and the fixture live in the top-level module ``_ifmatch_pytestplugin`` (the entry
point pytest loads, before ``pytest --cov`` starts measuring, so it imports nothing of ifmatch)
and are re-exported here, so ``-p ifmatch.testing.plugin`` loads them too.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from _ifmatch_pytestplugin import ifmatch_check, pytest_addoption

from ..check.model import Report
from .assertions import (
    acheck_target,
    assert_conditional_write_safe,
    assert_conditional_write_safe_async,
    check_target,
)

__all__ = ["IfMatchChecker", "ifmatch_check", "pytest_addoption"]


@dataclass(frozen=True, slots=True)
class IfMatchChecker:
    """Runs the checker with the session's race settings; keyword arguments override them."""

    rounds: int = 10
    concurrency: int = 8

    def _settings(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"rounds": self.rounds, "concurrency": self.concurrency, **options}

    def check(self, target: object, path: str = "", **options: Any) -> Report:
        """Run every probe on ``target`` and return the report (see ``check_target``)."""
        return check_target(target, path, **self._settings(options))

    async def acheck(self, target: object, path: str = "", **options: Any) -> Report:
        """Async variant of :meth:`check`."""
        return await acheck_target(target, path, **self._settings(options))

    def assert_safe(
        self,
        target: object,
        path: str = "",
        *,
        ignore: Collection[str] = (),
        strict: bool = False,
        **options: Any,
    ) -> Report:
        """Fail the test unless ``target`` is conditional-write safe (see
        ``assert_conditional_write_safe``)."""
        return assert_conditional_write_safe(
            target, path, ignore=ignore, strict=strict, **self._settings(options)
        )

    async def assert_safe_async(
        self,
        target: object,
        path: str = "",
        *,
        ignore: Collection[str] = (),
        strict: bool = False,
        **options: Any,
    ) -> Report:
        """Async variant of :meth:`assert_safe`."""
        return await assert_conditional_write_safe_async(
            target, path, ignore=ignore, strict=strict, **self._settings(options)
        )
