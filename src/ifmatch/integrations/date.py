"""``DateMiddleware``: an exact ``Date`` on every response of an ASGI app (pure ASGI).

RFC 9110 §6.6.1: a sender "SHOULD generate its field value as the best available
approximation of the date and time of message generation", and §8.8.2.1: "An origin server
with a clock ... MUST NOT generate a Last-Modified date that is later than the server's time of
message origination (Date)." ifmatch sends Last-Modified only when it is not later than its own
clock, but uvicorn stamps responses with a Date it refreshes once a second: just after a write
that Date can be up to a second older than the Last-Modified, and linters report the
Last-Modified as being in the future. Run uvicorn with ``--no-date-header`` and wrap the app::

    app.add_middleware(DateMiddleware)          # FastAPI / Starlette
    app = DateMiddleware(app)                   # any ASGI app

Each response then gets ``Date`` from the clock when it starts, after the app chose its
Last-Modified. A ``Date`` the app set itself is kept. Other scopes pass straight through.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..core import format_http_date
from .asgi import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DateMiddleware"]


class DateMiddleware:
    """Stamp ``Date`` on each HTTP response when it starts (stateless)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"date" for name, _ in headers):
                    now = format_http_date(datetime.now(UTC)).encode("latin-1")
                    message = {**message, "headers": [*headers, (b"date", now)]}
            await send(message)

        await self.app(scope, receive, stamped)
