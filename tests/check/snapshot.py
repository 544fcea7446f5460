"""Compare command output with a stored snapshot, after masking what changes between runs.

Regenerate with ``IFMATCH_UPDATE_SNAPSHOTS=1 python -m pytest tests/check/test_command.py``
and review the diff before committing it.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("IFMATCH_UPDATE_SNAPSHOTS") == "1"

_MASKS = (
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"probes in \d+\.\d s"), "probes in X.X s"),
    (re.compile(r'"elapsed_seconds": [0-9.]+'), '"elapsed_seconds": 0.0'),
)


def normalise(text: str) -> str:
    """Mask ports and timings. Dates need no mask: the reference servers' clock starts at a
    fixed instant and steps one minute per write (``servers.StepClock``)."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def assert_matches_snapshot(name: str, text: str) -> None:
    """Assert ``text`` (normalised) equals ``snapshots/<name>``, or rewrite it when updating."""
    path = SNAPSHOTS / name
    actual = normalise(text)
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path}; create it with IFMATCH_UPDATE_SNAPSHOTS=1"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"snapshots/{name}",
                "actual",
            )
        )
        raise AssertionError(f"output differs from snapshots/{name}:\n{diff}")
