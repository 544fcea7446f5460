"""FastAPI: what ifmatch costs and saves, against the same handlers without it and against
fastapi-etag.

    python benchmarks/fastapi.py [--quick]

Real uvicorn workers on loopback, PostgreSQL through asyncpg, pydantic models (``apps/``).
Cells are interleaved in rotating order over several repetitions; the report gives absolute
req/s (median, min, max) and the ratios the project targets. Compare ratios, not rates.
(This file never imports FastAPI: its own name would shadow it.)
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE / "apps")]

from _harness import main  # noqa: E402


def server(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--workers",
        "2",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--no-access-log",
        "--factory",
        "fastapi_bench_app:create_app",
    ]


if __name__ == "__main__":
    raise SystemExit(main("fastapi", server, "fetag", sys.argv[1:]))
