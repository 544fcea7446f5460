"""Prepare the demo's database and serve it with gunicorn (a production server, not runserver).

:func:`prepare` configures Django in this process and applies the migrations shipped in the
package (the first run creates the tables and the sample document). :func:`serve` then runs a
gunicorn master in this process with ``workers`` worker processes; the master stops them and
returns on ``SIGINT`` (Ctrl-C) or ``SIGTERM``. Where gunicorn cannot run (it needs a POSIX
system), a single-process threaded server from the standard library takes its place.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any, TextIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .._extras import MissingExtra
from .config import configure

__all__ = ["ServerError", "prepare", "serve", "serve_threaded", "urls"]

THREADS_PER_WORKER = 4


class ServerError(Exception):
    """The demo cannot start (bad database URL, database unreachable, port in use)."""


def prepare(*, data_dir: Path, database_url: str | None, host: str) -> str:
    """Configure Django and migrate the database; return a description of the database.

    Raises:
        ServerError: the URL is unsupported or the database cannot be reached or migrated.
    """
    try:
        configure(data_dir=data_dir, database_url=database_url, host=host)
    except ModuleNotFoundError as error:
        if error.name in ("pymysql", "MySQLdb"):  # a mysql:// URL; the demo extra has no driver
            raise MissingExtra("mysql", ("pymysql",)) from error
        raise  # a requirement of the demo extra: the command names that extra
    except ValueError as error:
        raise ServerError(f"database: {error}") from error
    from django.core.management import call_command
    from django.db import DatabaseError, connections

    try:
        call_command("migrate", verbosity=0, interactive=False)
    except DatabaseError as error:
        raise ServerError(f"cannot prepare the database: {error}".strip()) from error
    finally:
        connections.close_all()  # never share a connection with forked workers
    settings = connections["default"].settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"SQLite {settings['NAME']}"
    return f"{connections['default'].vendor} {settings['NAME']} on {settings['HOST']}"


def urls(host: str, port: int) -> dict[str, str]:
    """The URLs to open, by label."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    base = f"http://{shown}:{port}"
    return {
        "Guido": f"{base}/?user=Guido",
        "Ada": f"{base}/?user=Ada",
        "API": f"{base}/api/documents/",
        "API docs": f"{base}/api/docs/",
    }


def banner(host: str, port: int, database: str, server: str) -> str:
    """What the demo prints once it accepts connections."""
    links = urls(host, port)
    width = max(len(label) for label in links) + 2
    lines = [
        "ifmatch demo: Guido & Ada edit one document, and neither loses work.",
        f"  database: {database}",
        f"  server:   {server}",
        "",
        "Open one window per person:",
        *(f"  {label + ':':<{width}}{url}" for label, url in links.items()),
        "",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def _wsgi_application() -> Callable[..., Any]:
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def _bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def serve(*, host: str, port: int, workers: int, on_ready: Callable[[str], None]) -> int:
    """Serve the (prepared) demo until SIGINT or SIGTERM; return the exit status.

    Args:
        host: the address to bind.
        port: the TCP port.
        workers: gunicorn worker processes (each with a few threads for polling pages).
        on_ready: called with a one-line description of the server once it listens.

    Raises:
        ServerError: the address cannot be bound, or ``workers > 1`` where gunicorn is not
            available.
    """
    _check_port(host, port)
    try:
        from gunicorn.app.base import BaseApplication
        from gunicorn.arbiter import Arbiter  # noqa: F401  (POSIX only: needs fcntl)
    except ImportError as error:
        if workers > 1:
            raise ServerError(f"--workers needs gunicorn ({error})") from error
        return serve_threaded(host=host, port=port, on_ready=on_ready)

    plural = "es" if workers > 1 else ""
    description = f"gunicorn, {workers} worker process{plural} x {THREADS_PER_WORKER} threads"

    class DemoApplication(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": [_bind_address(host, port)],
                "workers": workers,
                "worker_class": "gthread",
                "threads": THREADS_PER_WORKER,
                "preload_app": True,
                "proc_name": "ifmatch-demo",
                "loglevel": "warning",
                "graceful_timeout": 5,
                # Let ifmatch judge long If-Match lists (400 with a problem body, at 8190
                # characters) instead of the server refusing the request line by itself.
                "limit_request_field_size": 16384,
                "when_ready": lambda _arbiter: on_ready(description),
                "post_worker_init": _quit_at_once,
                "worker_exit": _leave_at_once,
            }
            if "control_socket_disable" in self.cfg.settings:  # gunicorn 24+
                # No runtime control socket (a file in the home directory shared by every
                # gunicorn of this user): the demo is stopped with Ctrl-C.
                options["control_socket_disable"] = True
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self) -> Callable[..., Any]:
            return _wsgi_application()

    try:
        DemoApplication().run()  # SIGINT/SIGTERM: the arbiter stops its workers and exits
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    return 0


def _leave() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _quit_at_once(_worker: object) -> None:
    """gunicorn's ``post_worker_init`` hook: Ctrl-C ends a worker at once, quietly.

    A terminal's Ctrl-C sends ``SIGINT`` to the worker, and the arbiter relays ``SIGQUIT``
    ("quick shutdown") right after. gunicorn's own handler stops the thread pool inside the
    signal handler, so the second signal arriving during the first can deadlock the worker
    on the pool's lock; past that, the interpreter waits for the pool's threads, and one may
    be waiting five seconds for the first request on a connection a browser opened ahead of
    time. Either way the arbiter kills the worker with SIGKILL after its graceful timeout
    ("Perhaps out of memory?"). Nothing of the demo lives in a worker's memory (each request
    commits its own write), so a quick shutdown leaves at once, with status 0.
    """
    for signum in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, lambda *_: _leave())


def _leave_at_once(_arbiter: object, worker: Any) -> None:
    """gunicorn's ``worker_exit`` hook: end the worker process once it has stopped serving.

    After ``SIGTERM`` gunicorn answers what is in progress, then calls this in the worker;
    left to itself the interpreter would then wait for threads still waiting for a request on
    a browser's idle connection.
    """
    if os.getpid() == getattr(worker, "pid", None):
        _leave()
    # else: the arbiter also calls the hook, for a worker it found already gone


def _check_port(host: str, port: int) -> None:
    """Fail at once on a port in use or an address that is not this machine's (gunicorn would
    retry for several seconds)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:  # in use, not an address here, or a name that does not resolve
            raise ServerError(f"cannot listen on {_bind_address(host, port)}: {error}") from error


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the page's polling would flood the terminal."""


@contextmanager
def _stop_on_sigterm(stop: Callable[[], None]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: stop())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve_threaded(
    *,
    host: str,
    port: int,
    on_ready: Callable[[str], None],
    started: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Serve with the standard library's WSGI server, one process, one thread per request.

    Used where gunicorn cannot run. Stops on Ctrl-C, ``SIGTERM``, or when ``stop`` is set.
    """
    server_class = _ThreadingServer6 if ":" in host else _ThreadingServer
    server = make_server(
        host, port, _wsgi_application(), server_class=server_class, handler_class=_QuietHandler
    )
    stopping = threading.Thread(target=server.shutdown, daemon=True)
    if stop is not None:

        def stop_when_set() -> None:
            stop.wait()
            server.shutdown()

        threading.Thread(target=stop_when_set, daemon=True).start()
    on_ready("the standard library's threaded WSGI server, 1 process")
    if started is not None:
        started.set()
    with _stop_on_sigterm(stopping.start):
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0


def write_line(stream: TextIO = sys.stdout) -> Callable[[str], None]:
    """A callback printing a message and flushing at once (the output may be a pipe)."""

    def write(message: str) -> None:
        print(message, file=stream, flush=True)

    return write
