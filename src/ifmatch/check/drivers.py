"""Drivers: perform the probes' requests with httpx, synchronously or with asyncio.

The sync driver releases a batch from a pool of threads waiting on one barrier; the async
driver starts the batch's requests in the same event-loop turn. Either way each request of a
batch has its own connection (the pool allows ``concurrency`` of them), so the writes reach the
server together.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from .audit import Outcome, audit
from .context import Context, Linter, Options, Progress
from .messages import Batch, Failure, Flow, Reply, Request, Response, Step, TransportError
from .model import Report

__all__ = ["AsyncDriver", "SyncDriver", "acheck", "check", "target_of"]

T = TypeVar("T")

#: How long batch writers wait for each other before giving up.
BARRIER_TIMEOUT = 30.0


def target_of(url: str) -> str:
    """The path and query of ``url``, as shown in evidence."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _response(response: httpx.Response) -> Response:
    return Response(
        response.status_code,
        response.reason_phrase,
        tuple(response.headers.multi_items()),
        response.content,
        response.http_version,
    )


def _describe(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"


#: What httpx raises when there is no response (refused, reset, timed out, bad URL).
_NO_RESPONSE = (httpx.HTTPError, httpx.InvalidURL)


class _Driver:
    """What both drivers share: the target and the headers sent with every request."""

    def __init__(
        self, client: httpx.Client | httpx.AsyncClient, url: str, headers: Sequence[tuple[str, str]]
    ) -> None:
        self.url = url
        self.headers = tuple(headers)
        self._client = client

    def _build(self, request: Request) -> httpx.Request:
        url: str | httpx.URL = self.url
        if request.target is not None:
            # An absolute path: the same scheme, host and port as the URL under test.
            url = self._client.build_request("GET", self.url).url.join(request.target)
        return self._client.build_request(
            request.method,
            url,
            headers=[*self.headers, *request.headers],
            content=request.body,
        )


class SyncDriver(_Driver):
    """Runs probes with an ``httpx.Client``."""

    def __init__(
        self, client: httpx.Client, url: str, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        super().__init__(client, url, headers)
        self.client = client
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._barrier: threading.Barrier | None = None

    def run(self, flow: Flow[T]) -> T:
        """Drive ``flow`` to its end and return its value."""
        try:
            step = next(flow)
            while True:
                try:
                    reply = self._perform(step)
                except TransportError as error:
                    step = flow.throw(error)
                else:
                    step = flow.send(reply)
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            # On Ctrl-C in the middle of a batch, release the writers still waiting.
            if self._barrier is not None:
                self._barrier.abort()
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None

    def _perform(self, step: Step) -> Reply:
        if isinstance(step, Batch):
            return self._send_together(step.requests)
        return self.send(step)

    def send(self, request: Request) -> Response:
        """Send one request.

        Raises:
            TransportError: no response (refused, reset, timed out, bad URL).
        """
        try:
            return _response(self.client.send(self._build(request)))
        except _NO_RESPONSE as error:
            raise TransportError(_describe(error)) from error

    def _send_together(self, requests: tuple[Request, ...]) -> tuple[Response | Failure, ...]:
        if self._pool is None or self._pool_size < len(requests):
            if self._pool is not None:
                self._pool.shutdown()
            self._pool = ThreadPoolExecutor(len(requests), thread_name_prefix="ifmatch-check")
            self._pool_size = len(requests)
        barrier = self._barrier = threading.Barrier(len(requests))

        def release(request: Request) -> Response | Failure:
            try:
                barrier.wait(BARRIER_TIMEOUT)
                return self.send(request)
            except (TransportError, threading.BrokenBarrierError) as error:
                return Failure(str(error) or type(error).__name__)

        return tuple(self._pool.map(release, requests))


class AsyncDriver(_Driver):
    """Runs probes with an ``httpx.AsyncClient``."""

    def __init__(
        self, client: httpx.AsyncClient, url: str, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        super().__init__(client, url, headers)
        self.client = client

    async def run(self, flow: Flow[T]) -> T:
        """Drive ``flow`` to its end and return its value."""
        try:
            step = next(flow)
            while True:
                try:
                    reply = await self._perform(step)
                except TransportError as error:
                    step = flow.throw(error)
                else:
                    step = flow.send(reply)
        except StopIteration as stop:
            result: T = stop.value
            return result

    async def _perform(self, step: Step) -> Reply:
        if isinstance(step, Batch):
            outcomes = await asyncio.gather(*(self._try(request) for request in step.requests))
            return tuple(outcomes)
        return await self.send(step)

    async def _try(self, request: Request) -> Response | Failure:
        try:
            return await self.send(request)
        except TransportError as error:
            return Failure(str(error))

    async def send(self, request: Request) -> Response:
        """Send one request.

        Raises:
            TransportError: no response (refused, reset, timed out, bad URL).
        """
        try:
            return _response(await self.client.send(self._build(request)))
        except _NO_RESPONSE as error:
            raise TransportError(_describe(error)) from error


def _context(
    client: httpx.Client | httpx.AsyncClient,
    url: str,
    options: Options,
    linter: Linter | None,
    progress: Progress | None,
) -> tuple[str, Context]:
    """The absolute URL checked, and the run's context."""
    full = client.build_request("GET", url).url
    ctx = Context(target_of(str(full)), options, linter=linter, progress=progress)
    ctx.origin = f"{full.scheme}://{full.netloc.decode('ascii')}"
    return str(full), ctx


def check(
    client: httpx.Client,
    url: str,
    options: Options | None = None,
    *,
    headers: Sequence[tuple[str, str]] = (),
    linter: Linter | None = None,
    progress: Progress | None = None,
) -> Report:
    """Check ``url`` with a synchronous client (a live server, or a ``WSGITransport``).

    Args:
        client: the client to send with; give it ``max_connections`` of at least
            ``options.concurrency`` so the race writers each get a connection.
        url: the resource to check (absolute, or relative to the client's ``base_url``).
        options: what to run (read-only by default).
        headers: sent with every request (credentials); never shown in the report.
        linter: lints each exchange (see ``ifmatch.check.lint.httplint_linter``).
        progress: told what runs now.

    Returns:
        The report.
    """
    options = options or Options()
    full_url, ctx = _context(client, url, options, linter, progress)
    started = time.perf_counter()
    outcome = SyncDriver(client, url, headers).run(audit(ctx))
    return _report(full_url, options, outcome, started)


async def acheck(
    client: httpx.AsyncClient,
    url: str,
    options: Options | None = None,
    *,
    headers: Sequence[tuple[str, str]] = (),
    linter: Linter | None = None,
    progress: Progress | None = None,
) -> Report:
    """Like :func:`check`, with an asynchronous client (a live server, or an ``ASGITransport``)."""
    options = options or Options()
    full_url, ctx = _context(client, url, options, linter, progress)
    started = time.perf_counter()
    outcome = await AsyncDriver(client, url, headers).run(audit(ctx))
    return _report(full_url, options, outcome, started)


def _report(url: str, options: Options, outcome: Outcome, started: float) -> Report:
    return Report(
        url,
        options.write,
        outcome.results,
        outcome.error,
        options.as_dict(),
        time.perf_counter() - started,
    )
