"""``python -m ifmatch.check URL``: the same as ``ifmatch check URL``."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ifmatch check`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    from ..cli import main as ifmatch

    return ifmatch(["check", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
