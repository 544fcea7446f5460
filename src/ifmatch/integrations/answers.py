"""A pure-ASGI middleware that gives a false precondition's answer after the handler's own.

FastAPI resolves the ``Conditional`` dependency before the handler runs, and before any
dependency declared after it or depending on it. If the preconditions are false there, the
answer (304, 400, 412, 428) must still wait for every access decision of the route: a later
dependency or the handler itself may answer 401, 403 or 404, and the caller must then learn
nothing about the resource. So the dependency does not raise; it hands the handler a condition
whose writes raise the answer without touching the store, and this middleware replaces a 2xx the
route answers anyway (a GET that granted access, a write that wrote nothing) with the waiting
answer. Any other answer of the route passes through unchanged.

It also releases the request's ``Idempotency-Key`` claim when the request ended without its
write, so a retry goes on at once, and closes a loader that yielded the request's row (and the
session it read the row in) when the request ends. ``ifmatch.integrations.fastapi.install``
adds it; the dependency checks that it is there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import Response

__all__ = ["SCOPE_KEY", "LateAnswerMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Set in the scope of every HTTP request this middleware handles.
SCOPE_KEY = "ifmatch.late_answers"


class LateAnswerMiddleware:
    """Replace a 2xx with the waiting answer of a refused ``ConditionalRequest``.

    The condition is the one the dependency stored as ``request.state.ifmatch``; its
    ``refusal`` is the waiting answer. Stateless: the per-request state lives in ``__call__``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[SCOPE_KEY] = True
        replaced = False

        async def send_or_replace(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the route's own body, after its start was replaced
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                refusal = _refusal(scope)
                if refusal is not None:
                    replaced = True
                    await refusal(scope, receive, send)
                    return
            await send(message)

        try:
            await self.app(scope, receive, send_or_replace)
        finally:
            await _release(scope)


async def _release(scope: Scope) -> None:
    """Forget the request's ``Idempotency-Key`` claim if it ended without its write, and close
    the loader that yielded its row (``Conditional(load=...)`` with a loader that yields)."""
    condition = (scope.get("state") or {}).get("ifmatch")
    if condition is not None and isinstance(condition, _starlette().ConditionalRequest):
        try:
            await condition.release_claim()
        finally:
            await condition.close()


def _refusal(scope: Scope) -> Response | None:
    condition = (scope.get("state") or {}).get("ifmatch")
    if condition is None:
        return None
    starlette = _starlette()
    if not isinstance(condition, starlette.ConditionalRequest) or condition.refusal is None:
        return None
    response: Response = starlette.error_response(condition.answer(condition.refusal))
    return response


def _starlette() -> Any:
    # Imported on first use (the integration imports this module), then kept.
    global _STARLETTE
    if _STARLETTE is None:
        from . import starlette

        _STARLETTE = starlette
    return _STARLETTE


_STARLETTE: Any = None
