"""Run the checker from a test suite: against a live URL, an httpx client, or an app in-process.

A *target* is one of:

- an ``http://`` or ``https://`` URL (a running server);
- an ``httpx.Client`` or ``httpx.AsyncClient`` (its ``base_url`` and settings are used as they
  are; give it ``max_connections`` of at least ``concurrency``);
- a WSGI application (Flask, Django's ``get_wsgi_application()``, any WSGI callable), driven
  through ``httpx.WSGITransport`` in worker threads, so the race probe really is concurrent;
- an ASGI application (FastAPI, Starlette, Django's ``get_asgi_application()``), driven through
  ``httpx.ASGITransport`` on one event loop. Lifespan events are not sent: start what the app
  needs (database pools) in a fixture.

httpx is imported when a check runs, not when this module is imported.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..check.context import Options
from ..check.model import Report, Status
from ..check.report import render_text

if TYPE_CHECKING:
    import httpx

__all__ = [
    "UnsafeAPIError",
    "acheck_target",
    "assert_conditional_write_safe",
    "assert_conditional_write_safe_async",
    "check_target",
    "is_asgi_app",
]

#: The base URL in-process apps are reached at (Django's test host name).
IN_PROCESS_BASE_URL = "http://testserver"


class UnsafeAPIError(AssertionError):
    """The checker found a problem; ``report`` has the details and ``str()`` the evidence."""

    def __init__(self, report: Report, problems: Sequence[str]) -> None:
        super().__init__(
            f"{report.url} is not conditional-write safe: {', '.join(problems)}\n\n"
            + render_text(report, evidence="problems")
        )
        self.report = report
        self.problems = tuple(problems)


def is_asgi_app(app: object) -> bool:
    """Whether ``app`` looks like an ASGI application (an ``async`` callable)."""
    if inspect.iscoroutinefunction(app):
        return True
    return callable(app) and inspect.iscoroutinefunction(type(app).__call__)


def _options(write: bool, body_field: str, concurrency: int, rounds: int) -> Options:
    return Options(write=write, body_field=body_field, concurrency=concurrency, rounds=rounds)


def _limits(concurrency: int) -> httpx.Limits:
    import httpx

    return httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)


@contextmanager
def _sync_client(target: object, timeout: float, concurrency: int) -> Iterator[httpx.Client]:
    import httpx

    if isinstance(target, httpx.Client):
        yield target
        return
    if isinstance(target, str):
        client = httpx.Client(timeout=timeout, limits=_limits(concurrency))
    elif callable(target):
        client = httpx.Client(
            transport=httpx.WSGITransport(app=target),
            base_url=IN_PROCESS_BASE_URL,
            timeout=timeout,
            limits=_limits(concurrency),
        )
    else:
        raise TypeError(f"cannot check {target!r}: pass a URL, an httpx client or an app")
    with client:
        yield client


def _async_client(target: object, timeout: float, concurrency: int) -> httpx.AsyncClient:
    import httpx

    if isinstance(target, str):
        return httpx.AsyncClient(timeout=timeout, limits=_limits(concurrency))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=target),  # type: ignore[arg-type]
        base_url=IN_PROCESS_BASE_URL,
        timeout=timeout,
        limits=_limits(concurrency),
    )


def _needs_async(target: object) -> bool:
    import httpx

    return isinstance(target, httpx.AsyncClient) or (
        not isinstance(target, str | httpx.Client) and is_asgi_app(target)
    )


def check_target(
    target: object,
    path: str = "",
    *,
    write: bool = True,
    body_field: str = "text",
    concurrency: int = 8,
    rounds: int = 10,
    headers: Sequence[tuple[str, str]] = (),
    timeout: float = 10.0,
) -> Report:
    """Run the checker on ``target`` (see the module docstring) and return its report.

    Args:
        target: a URL, an httpx client, or a WSGI/ASGI application.
        path: appended to the target (e.g. ``"/documents/1"``); empty when the URL is complete.
        write: run the write probes and the race probe (the resource is restored afterwards).
        body_field: the JSON member the write probes change.
        concurrency: writers per race round.
        rounds: race rounds.
        headers: sent with every request (credentials).
        timeout: seconds per response.

    Raises:
        RuntimeError: an ASGI app or ``AsyncClient`` from inside a running event loop; use
            :func:`acheck_target` there.
    """
    from ..check.drivers import check

    if _needs_async(target):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(
                acheck_target(
                    target,
                    path,
                    write=write,
                    body_field=body_field,
                    concurrency=concurrency,
                    rounds=rounds,
                    headers=headers,
                    timeout=timeout,
                )
            )
        raise RuntimeError("an event loop is running: use 'await acheck_target(...)'")
    options = _options(write, body_field, concurrency, rounds)
    with _sync_client(target, timeout, concurrency) as client:
        return check(client, _url(target, path), options, headers=headers)


async def acheck_target(
    target: object,
    path: str = "",
    *,
    write: bool = True,
    body_field: str = "text",
    concurrency: int = 8,
    rounds: int = 10,
    headers: Sequence[tuple[str, str]] = (),
    timeout: float = 10.0,
) -> Report:
    """Like :func:`check_target`, for async tests: a URL, an ``AsyncClient`` or an ASGI app."""
    import httpx

    from ..check.drivers import acheck

    options = _options(write, body_field, concurrency, rounds)
    if isinstance(target, httpx.AsyncClient):
        return await acheck(target, path or "/", options, headers=headers)
    async with _async_client(target, timeout, concurrency) as client:
        return await acheck(client, _url(target, path), options, headers=headers)


def _url(target: object, path: str) -> str:
    """The URL to check: ``path`` appended to a URL target, else relative to the client."""
    return (target + path) if isinstance(target, str) else (path or "/")


def _problems(report: Report, ignore: Collection[str], strict: bool) -> list[str]:
    if report.error is not None:
        return [f"could not check ({report.error})"]
    bad = {Status.FAIL, Status.ERROR} | ({Status.WARN} if strict else set())
    return [
        f"{result.id} {result.status.value}"
        for result in report.results
        if result.status in bad and result.id not in ignore
    ]


def _verify(report: Report, ignore: Collection[str], strict: bool) -> Report:
    problems = _problems(report, ignore, strict)
    if problems:
        raise UnsafeAPIError(report, problems)
    return report


def assert_conditional_write_safe(
    target: object,
    path: str = "",
    *,
    ignore: Collection[str] = (),
    strict: bool = False,
    **options: Any,
) -> Report:
    """Assert that ``target`` cannot lose updates and handles preconditions as RFC 9110 says.

    Runs every probe, the write probes and the race included (see :func:`check_target` for
    ``options``), and fails on any probe that failed or could not run.

    Args:
        target: a URL, an httpx client, or a WSGI/ASGI application.
        path: the resource to check, e.g. ``"/documents/1"``.
        ignore: probe ids whose result does not count, e.g. ``{"no-precondition"}`` for an
            API that deliberately accepts unconditional writes.
        strict: fail on warnings too.

    Returns:
        The report, for further assertions.

    Raises:
        UnsafeAPIError: an ``AssertionError`` whose message is the full text report.
    """
    return _verify(check_target(target, path, **options), ignore, strict)


async def assert_conditional_write_safe_async(
    target: object,
    path: str = "",
    *,
    ignore: Collection[str] = (),
    strict: bool = False,
    **options: Any,
) -> Report:
    """Like :func:`assert_conditional_write_safe`, for async tests."""
    return _verify(await acheck_target(target, path, **options), ignore, strict)
