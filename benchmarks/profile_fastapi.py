"""The top frames of the FastAPI benchmark app's worker answering each path, under cProfile:
``python -m benchmarks.profile_fastapi [--requests N] [--top N] [PATH ...]``.

The app runs in this process under uvicorn (uvloop, httptools, one worker, as in the
benchmarks); a client thread sends each path's requests over one keep-alive connection, and the
profiler is switched on in the server's event loop only around the measured requests of that
path (after 30 unmeasured ones), timing the loop thread's CPU (so the loop waiting for the
next request counts for nothing). Printed per path: function calls per request, then the frames
taking the most internal time, each with its share of the profiled time and its calls per
request (cProfile counts a coroutine's resumptions as calls; one that never suspends shows
0.0). Paths are those of ``benchmarks.callgrind_fastapi`` ("304", "fastapi-etag 304", ...).

Needs a PostgreSQL server (``IFMATCH_POSTGRES_URL``); seeds a scratch database of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import subprocess
import sys
import threading
import time
from typing import Any

from .callgrind_fastapi import APPS, WARM_UP, _Client, _free_port, _paths
from .harness.machine import ROOT
from .harness.servers import scratch_database


def _frame(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name.strip("<>").removeprefix("built-in method ")
    parts = filename.split(os.sep)
    for anchor in ("site-packages", "src"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1 :]
            break
    return f"{'/'.join(parts[-2:])}:{line}({name})"


def report(profile: cProfile.Profile, requests: int, top: int) -> list[str]:
    """Calls per request, then the ``top`` frames by internal time."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    # Each row: primitive calls, calls, internal time, cumulative time, callers.
    total = sum(row[2] for row in table.values()) or 1.0  # internal times add up to the whole
    calls = sum(row[1] for row in table.values())
    lines = [f"{calls / requests:.0f} function calls per request"]
    ranked = sorted(table.items(), key=lambda item: item[1][2], reverse=True)[:top]
    for key, (_, called, internal, _, _) in ranked:
        share = 100 * internal / total
        lines.append(f"| `{_frame(key)}` | {share:.1f} % | {called / requests:.1f} |")
    return lines


def _stop(profile: cProfile.Profile, done: threading.Event) -> None:
    profile.disable()
    done.set()


def run(names: list[str], requests: int, top: int) -> dict[str, list[str]]:
    import uvicorn

    with scratch_database() as database:
        env = {**os.environ, "IFMATCH_BENCH_DATABASE_URL": database.url()}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(APPS)])
        subprocess.run([sys.executable, "-m", "sa_models"], cwd=APPS, env=env, check=True)
        os.environ["IFMATCH_BENCH_DATABASE_URL"] = database.url()
        sys.path.insert(0, str(APPS))
        from fastapi_app import create_app

        port = _free_port()
        config = uvicorn.Config(
            create_app(),
            host="127.0.0.1",
            port=port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="warning",
        )
        server = uvicorn.Server(config)
        results: dict[str, list[str]] = {}
        failure: list[BaseException] = []

        def drive(loop: asyncio.AbstractEventLoop) -> None:
            try:
                while not server.started:
                    time.sleep(0.05)
                client = _Client(port)
                paths = _paths(client)
                for name in names or list(paths):
                    call, status = paths[name]
                    for _ in range(WARM_UP):
                        if (got := call()) != status:
                            raise RuntimeError(f"{name}: {got}, expected {status}")
                    profile = cProfile.Profile(time.thread_time)  # the loop thread's CPU
                    loop.call_soon_threadsafe(profile.enable)
                    for _ in range(requests):
                        call()
                    done = threading.Event()
                    loop.call_soon_threadsafe(_stop, profile, done)
                    done.wait(60)
                    results[name] = report(profile, requests, top)
            except BaseException as error:  # reported by the main thread
                failure.append(error)
            finally:
                server.should_exit = True

        async def serve() -> None:
            thread = threading.Thread(target=drive, args=(asyncio.get_running_loop(),))
            thread.start()
            await server.serve()
            thread.join()

        import uvloop

        uvloop.run(serve())
        if failure:
            raise failure[0]
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("paths", nargs="*", help='e.g. "304" "fastapi-etag 304" (default: all)')
    parser.add_argument("--requests", type=int, default=2000, help="profiled requests per path")
    parser.add_argument("--top", type=int, default=8, help="frames listed per path")
    args = parser.parse_args()
    for name, lines in run(args.paths, args.requests, args.top).items():
        print(f"\n{name}: {lines[0]}\n| frame | share | calls |\n|---|---|---|")
        print("\n".join(lines[1:]))


if __name__ == "__main__":
    main()
