"""A pure-ASGI middleware that answers ``HEAD`` like ``GET`` for chosen routes.

RFC 9110 §9.3.2: "The HEAD method is identical to GET except that the server MUST NOT send
content in the response." Starlette's ``Route`` serves ``HEAD`` wherever it serves ``GET``;
FastAPI's ``@app.get`` does not, so a ``HEAD`` with ``If-None-Match`` to a protected resource
is a 405 where ``GET`` gives a 304. Declaring the route with ``methods=["GET", "HEAD"]`` works
but gives both operations one ``operationId`` (FastAPI warns of a duplicate).

This middleware serves a ``HEAD`` that no route of the app answers by running the ``GET`` route
that ``serves_head`` accepts, with the method seen as ``GET`` (so the preconditions, the
validators and every header are exactly the ``GET``'s) and without the body. A route the
application declares for ``HEAD`` itself always wins; anything else passes through untouched.
``ifmatch.integrations.fastapi.install`` adds it for the routes protected by a ``Conditional``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match

__all__ = ["HeadMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class HeadMiddleware:
    """Answer ``HEAD`` with the ``GET`` route that ``serves_head`` accepts, without a body.

    Args:
        app: the next ASGI application.
        routes: the routes to match against (read on each ``HEAD``, so routes added after the
            middleware still count), e.g. ``lambda: fastapi_app.routes``.
        serves_head: whether a ``GET`` route may answer ``HEAD``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Callable[[], Sequence[BaseRoute]],
        serves_head: Callable[[BaseRoute], bool],
    ) -> None:
        self.app = app
        self.routes = routes
        self.serves_head = serves_head

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or not self._as_get(scope):
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        # The GET's Content-Length is kept: RFC 9110 §8.6 lets a HEAD response send the length
        # the GET's content would have.
        await self.app({**scope, "method": "GET"}, receive, without_body)

    def _as_get(self, scope: Scope) -> bool:
        """Whether no route answers this ``HEAD`` and a ``GET`` route that may does."""
        routes = self.routes()
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            return False
        as_get = {**scope, "method": "GET"}
        for route in routes:
            if route.matches(as_get)[0] is Match.FULL:
                return self.serves_head(route)
        return False
