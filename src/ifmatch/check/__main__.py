"""``python -m ifmatch.check URL``: the same as ``ifmatch check URL``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import command


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the check; return the exit status."""
    parser = argparse.ArgumentParser(prog="ifmatch check")
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
