"""Run the benchmark suite: ``python -m benchmarks [--quick] [--only NAME ...] [--json PATH]``.

Every benchmark runs on this machine in one go, each comparison measured side by side
(interleaved) in the same run; the results are printed, written as JSON and, for a full run,
rendered into ``docs/performance.md``. ``--quick`` is a smoke test: every code path once,
numbers meaningless.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .harness.cells import Options
from .harness.machine import ROOT, Conditions, facts
from .harness.records import Result, print_result

LATEST = ROOT / "benchmarks" / "results" / "latest.json"
DOCS = ROOT / "docs"


def registry() -> dict[str, tuple[Callable[[Options], list[Result]], str]]:
    """name -> (run, what it measures). Modules are imported when they run."""

    def lazy(module: str, attribute: str, *args: str) -> Callable[[Options], list[Result]]:
        def run(options: Options) -> list[Result]:
            import importlib

            target = getattr(importlib.import_module(f"benchmarks.{module}"), attribute)
            found: list[Result] = target(*args, options) if args else target(options)
            return found

        return run

    return {
        "core": (lazy("core", "run"), "evaluate() per call vs Django's get_conditional_response"),
        "stores": (lazy("stores", "run"), "guarded vs plain UPDATE on PostgreSQL"),
        "django": (lazy("web", "run_app", "django"), "Django REST framework and Django"),
        "flask": (lazy("web", "run_app", "flask"), "Flask"),
        "fastapi": (lazy("web", "run_app", "fastapi"), "FastAPI"),
        "client": (lazy("client", "run"), "the client transport vs plain httpx"),
        "goodput": (lazy("goodput", "run"), "Client.update vs the naive loop on one row"),
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    names = registry()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.splitlines()[0],
        epilog="benchmarks: " + "; ".join(f"{k}: {v[1]}" for k, v in names.items()),
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: every path once")
    parser.add_argument("--only", nargs="+", choices=list(names), metavar="NAME")
    parser.add_argument(
        "--json", type=Path, help=f"write the results here (a plain full run writes {LATEST})"
    )
    parser.add_argument(
        "--docs",
        type=Path,
        help=f"render performance.md and its plots into this folder (a plain full run: {DOCS})",
    )
    parser.add_argument("--seconds", type=int, help="seconds per cell (default 2)")
    parser.add_argument("--repetitions", type=int, help="repetitions per cell (default 5)")
    parser.add_argument(
        "--worker-class", choices=["sync", "gthread"], default="gthread", help="gunicorn's"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    overrides: dict[str, object] = {"worker_class": args.worker_class}
    if args.seconds:
        overrides["seconds"] = args.seconds
    if args.repetitions:
        overrides["repetitions"] = args.repetitions
    options = Options.make(args.quick, **overrides)
    # A full run publishes (latest.json and the page) unless told where to write instead.
    publish = not (args.quick or args.only or args.json or args.docs)
    json_path = LATEST if publish else args.json
    docs = DOCS if publish else args.docs
    started = time.monotonic()
    conditions = Conditions()
    run: dict[str, object] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": options.quick,
        "options": options.__dict__,
        "machine": facts(),
        "benchmarks": [],
    }
    results: list[Result] = []
    for name, (bench, _) in registry().items():
        if args.only and name not in args.only:
            continue
        print(f"\n### {name}", file=sys.stderr)
        for result in bench(options):
            print_result(result)
            results.append(result)
    run["benchmarks"] = [result.to_json() for result in results]
    run["conditions"] = conditions.finish()
    run["seconds"] = round(time.monotonic() - started, 1)
    print(f"\nfinished in {run['seconds']} s; conditions {run['conditions']}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(run, indent=1) + "\n")
        print(f"wrote {json_path}")
    if docs is not None:
        from .report import render

        render(run, docs)
        print(f"rendered {docs / 'performance.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
