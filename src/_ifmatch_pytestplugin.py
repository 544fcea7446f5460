"""ifmatch's pytest plugin as pytest loads it: two options and the ``ifmatch_check`` fixture.

Registered as the ``pytest11`` entry point ``ifmatch.testing.plugin``; documented in
``ifmatch.testing.plugin``, which re-exports it (``-p ifmatch.testing.plugin`` loads the same
hooks). It is a module of its own, outside the ``ifmatch`` package, because pytest imports
every entry-point plugin before ``pytest --cov`` starts measuring: importing anything of ifmatch
here would leave the modules it loads unmeasured ("Module ifmatch was previously imported, but
not measured") and the coverage of ifmatch's own suite wrong. ifmatch is imported when a test
asks for the fixture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ifmatch.testing.plugin import IfMatchChecker

__all__ = ["ifmatch_check", "pytest_addoption"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--ifmatch-rounds`` and ``--ifmatch-concurrency``."""
    group = parser.getgroup("ifmatch", "ifmatch conditional-write checks")
    group.addoption(
        "--ifmatch-rounds",
        type=int,
        default=10,
        help="race rounds per ifmatch_check run (default: 10)",
    )
    group.addoption(
        "--ifmatch-concurrency",
        type=int,
        default=8,
        help="writers released together in each race round (default: 8)",
    )


@pytest.fixture
def ifmatch_check(request: pytest.FixtureRequest) -> IfMatchChecker:
    """A checker configured from ``--ifmatch-rounds`` and ``--ifmatch-concurrency``."""
    from ifmatch.testing.plugin import IfMatchChecker

    config = request.config
    return IfMatchChecker(
        rounds=config.getoption("--ifmatch-rounds"),
        concurrency=config.getoption("--ifmatch-concurrency"),
    )
