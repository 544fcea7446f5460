"""The httpx drivers: batches really are concurrent, and failures become findings."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx
import pytest

from check.servers import make_wsgi_app, serve_wsgi
from ifmatch.check import Options, Status, Verdict, acheck, check
from ifmatch.check.drivers import AsyncDriver, SyncDriver, target_of
from ifmatch.check.messages import Batch, Failure, Request, Response, TransportError, exchange
from services import free_port

WRITERS = 6


def test_target_of_keeps_path_and_query() -> None:
    assert target_of("http://127.0.0.1:8000/docs/1?x=2") == "/docs/1?x=2"
    assert target_of("http://127.0.0.1:8000") == "/"


def barrier_wsgi_app() -> Callable[..., Iterable[bytes]]:
    """Every PUT waits until WRITERS PUTs are inside the app at once; 503 if they never are."""
    barrier = threading.Barrier(WRITERS)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            barrier.wait(timeout=5)
        except threading.BrokenBarrierError:
            start_response("503 Service Unavailable", [])
            return [b""]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"together"]

    return app


def batch() -> Batch:
    return Batch(tuple(Request("PUT", body=str(i).encode()) for i in range(WRITERS)))


def test_the_sync_driver_releases_a_batch_at_once_over_real_sockets() -> None:
    with (
        serve_wsgi(barrier_wsgi_app()) as base,
        httpx.Client(limits=httpx.Limits(max_connections=WRITERS)) as client,
    ):
        outcomes = SyncDriver(client, base)._perform(batch())
    assert [o.status for o in outcomes if isinstance(o, Response)] == [200] * WRITERS


def test_the_sync_driver_releases_a_batch_at_once_in_process() -> None:
    transport = httpx.WSGITransport(app=barrier_wsgi_app())
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        outcomes = SyncDriver(client, "/")._perform(batch())
    assert [o.status for o in outcomes if isinstance(o, Response)] == [200] * WRITERS


def barrier_asgi_app() -> Callable[..., Awaitable[None]]:
    barrier = asyncio.Barrier(WRITERS)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await asyncio.wait_for(barrier.wait(), timeout=5)
            status = 200
        except TimeoutError:
            status = 503
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def test_the_async_driver_releases_a_batch_at_once() -> None:
    async def main() -> tuple[Response | Failure, ...]:
        transport = httpx.ASGITransport(app=barrier_asgi_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            reply = await AsyncDriver(client, "/")._perform(batch())
            assert isinstance(reply, tuple)
            return reply

    outcomes = asyncio.run(main())
    assert [o.status for o in outcomes if isinstance(o, Response)] == [200] * WRITERS


def test_no_listener_gives_a_could_not_check_report() -> None:
    url = f"http://127.0.0.1:{free_port()}/doc"
    with httpx.Client(timeout=2) as client:
        report = check(client, url)
    assert report.verdict is Verdict.UNKNOWN and report.results == ()
    assert report.error is not None and report.error.startswith("No response to GET: Connect")


def test_a_timeout_is_thrown_into_the_probe() -> None:
    def slow_head(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ["REQUEST_METHOD"] == "HEAD":
            time.sleep(1.0)
        start_response("200 OK", [("ETag", '"v1"')])
        return [b"{}"]

    with serve_wsgi(slow_head) as base, httpx.Client(timeout=0.3) as client:
        report = check(client, base + "/doc")
    assert report.result("head").status is Status.ERROR
    assert "Timeout" in report.result("head").detail
    assert report.verdict is Verdict.UNKNOWN


def test_a_batch_member_without_response_is_a_failure_not_an_exception() -> None:
    port = free_port()
    with httpx.Client(timeout=2) as client:
        outcomes = SyncDriver(client, f"http://127.0.0.1:{port}/")._perform(batch())
    assert all(isinstance(o, Failure) and "Connect" in o.message for o in outcomes)


def test_the_user_headers_go_with_every_request() -> None:
    seen: list[str | None] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen.append(environ.get("HTTP_AUTHORIZATION"))
        start_response("200 OK", [("ETag", '"v1"')])
        return [b"{}"]

    transport = httpx.WSGITransport(app=app)
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        check(client, "/doc", headers=[("Authorization", "Bearer t")])
    assert seen and set(seen) == {"Bearer t"}


def test_send_wraps_httpx_errors() -> None:
    with httpx.Client(timeout=1) as client:
        driver = SyncDriver(client, "http://127.0.0.1:1/")
        with pytest.raises(TransportError):
            driver.send(Request("GET"))
        assert driver.run(_catching()) == "caught"


def _catching() -> Any:
    try:
        yield from exchange(Request("GET"))
    except TransportError:
        return "caught"
    return "answered"


def test_acheck_runs_the_whole_audit_in_process() -> None:
    from check.servers import make_asgi_app

    async def main() -> Any:
        transport = httpx.ASGITransport(app=make_asgi_app("correct"))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await acheck(client, "/doc", Options(write=True, rounds=3))

    report = asyncio.run(main())
    assert report.verdict is Verdict.SAFE and report.url == "http://testserver/doc"
    assert {result.status for result in report.results} == {Status.PASS}


def test_check_runs_the_whole_audit_over_wsgi() -> None:
    transport = httpx.WSGITransport(app=make_wsgi_app("check-then-write"))
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        report = check(client, "/doc", Options(write=True, rounds=3))
    assert report.verdict is Verdict.UNSAFE
    assert [result.id for result in report.by_status(Status.FAIL)] == ["race"]
