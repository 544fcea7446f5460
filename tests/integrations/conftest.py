from __future__ import annotations

from collections.abc import Iterator

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    """One event loop in a background thread, for driving ASGI apps from synchronous tests."""
    with start_blocking_portal() as portal:
        yield portal
