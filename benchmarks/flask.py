"""Flask: what ifmatch costs and saves, against the same views without it and against
flask-smorest's ``@blp.etag``.

    python benchmarks/flask.py [--quick]

Real gunicorn workers on loopback, PostgreSQL, marshmallow serialization (``apps/``). Cells
are interleaved in rotating order over several repetitions; the report gives absolute req/s
(median, min, max) and the ratios the project targets. Compare ratios, not rates: rates
depend on the machine. (This file never imports Flask: its own name would shadow it.)
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
        "gunicorn",
        "--workers",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
        "flask_bench_app:create_app()",
    ]


if __name__ == "__main__":
    raise SystemExit(main("flask", server, "smorest", sys.argv[1:]))
