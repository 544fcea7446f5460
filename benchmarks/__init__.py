"""ifmatch's benchmark suite: ``python -m benchmarks --help``.

The suite measures this checkout: its ``src`` goes first on ``sys.path`` (and on the servers'
``PYTHONPATH``), whether or not ifmatch is installed.
"""

import sys
from pathlib import Path

_SRC = str(Path(__file__).resolve().parents[1] / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)
