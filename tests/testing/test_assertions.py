"""assert_conditional_write_safe and friends, on apps in-process and on a live URL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from check.servers import make_asgi_app, make_wsgi_app, serve_wsgi
from ifmatch.check import Status, Verdict
from ifmatch.testing import (
    UnsafeAPIError,
    acheck_target,
    assert_conditional_write_safe,
    assert_conditional_write_safe_async,
    check_target,
    is_asgi_app,
)


def test_asgi_and_wsgi_apps_are_told_apart() -> None:
    class Asgi:
        async def __call__(self, scope: object, receive: object, send: object) -> None: ...

    assert is_asgi_app(make_asgi_app()) and is_asgi_app(Asgi())
    assert not is_asgi_app(make_wsgi_app()) and not is_asgi_app("http://x")


@pytest.mark.parametrize("make", [make_wsgi_app, make_asgi_app], ids=["wsgi", "asgi"])
def test_a_correct_app_passes_in_process(make: object) -> None:
    report = assert_conditional_write_safe(make(), "/doc", rounds=3)  # type: ignore[operator]
    assert report.verdict is Verdict.SAFE and report.url == "http://testserver/doc"
    assert {result.status for result in report.results} == {Status.PASS}


@pytest.mark.parametrize("make", [make_wsgi_app, make_asgi_app], ids=["wsgi", "asgi"])
def test_a_check_then_write_app_fails_with_the_evidence(make: object) -> None:
    app = make("check-then-write")  # type: ignore[operator]
    with pytest.raises(UnsafeAPIError) as raised:
        assert_conditional_write_safe(app, "/doc", rounds=3)
    message = str(raised.value)
    assert message.startswith("http://testserver/doc is not conditional-write safe: race fail")
    assert "(released together)" in message and "UNSAFE: 1 probe failed (race)." in message
    assert raised.value.problems == ("race fail",)


def test_ignore_lets_a_deliberate_deviation_through() -> None:
    app = make_wsgi_app("star-412")
    with pytest.raises(UnsafeAPIError):
        assert_conditional_write_safe(app, "/doc", rounds=2)
    report = assert_conditional_write_safe(app, "/doc", rounds=2, ignore={"if-match-star"})
    assert report.verdict is Verdict.UNSAFE


def test_strict_fails_on_warnings() -> None:
    app = make_wsgi_app("ignores-if-match")
    report = check_target(app, "/doc", rounds=2)
    ignored = {r.id for r in report.by_status(Status.FAIL)}
    assert_conditional_write_safe(app, "/doc", rounds=2, ignore=ignored)
    with pytest.raises(UnsafeAPIError) as raised:
        assert_conditional_write_safe(app, "/doc", rounds=2, ignore=ignored, strict=True)
    assert raised.value.problems == ("no-precondition warn",)


def test_a_live_url() -> None:
    with serve_wsgi(make_wsgi_app()) as base:
        report = assert_conditional_write_safe(base, "/doc", rounds=3)
    assert report.url == base + "/doc"


def test_a_users_own_client() -> None:
    transport = httpx.WSGITransport(app=make_wsgi_app("put-304"))
    with httpx.Client(transport=transport, base_url="http://api.local") as client:
        report = check_target(client, "/doc", rounds=2)
        assert not client.is_closed
    assert [r.id for r in report.by_status(Status.FAIL)] == ["if-none-match-write"]


def test_a_resource_that_cannot_be_checked_fails_the_assertion() -> None:
    def missing(environ: object, start_response: Callable[..., object]) -> list[bytes]:
        start_response("404 Not Found", [])
        return [b""]

    with pytest.raises(UnsafeAPIError) as raised:
        assert_conditional_write_safe(missing, "/doc/9")
    assert raised.value.problems[0].startswith("could not check (GET answered 404")
    assert raised.value.report.verdict is Verdict.UNKNOWN


def test_anything_else_is_refused() -> None:
    with pytest.raises(TypeError):
        check_target(42, "/doc")


@pytest.mark.asyncio
async def test_async_variants_with_an_asgi_app() -> None:
    report = await assert_conditional_write_safe_async(make_asgi_app(), "/doc", rounds=2)
    assert report.verdict is Verdict.SAFE
    transport = httpx.ASGITransport(app=make_asgi_app("check-then-write"))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        unsafe = await acheck_target(client, "/doc", rounds=2)
    assert [r.id for r in unsafe.by_status(Status.FAIL)] == ["race"]


@pytest.mark.asyncio
async def test_the_sync_call_refuses_an_asgi_app_inside_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="acheck_target"):
        check_target(make_asgi_app(), "/doc")


def test_the_sync_call_runs_an_asgi_app_on_its_own_loop() -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    assert check_target(make_asgi_app(), "/doc", rounds=1).verdict is Verdict.SAFE
