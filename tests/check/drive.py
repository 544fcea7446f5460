"""Run the checker's sans-I/O flows without a network, for unit tests.

``drive`` answers each request with a plain function. ``ResourceServer`` answers with a
``DocumentResource`` from ``servers.py``; for a batch it first evaluates every request, then
performs every write: the interleaving in which a check-then-write server lets all writers win,
made deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from check.servers import DocumentResource, PendingWrite, Reply
from ifmatch.check.context import Context, Options
from ifmatch.check.messages import Batch, Failure, Flow, Request, Response, TransportError

T = TypeVar("T")
Responder = Callable[[Request], Response]


def drive(flow: Flow[T], respond: Callable[[Batch | Request], object]) -> T:
    """Run ``flow``; ``respond`` gets each step and returns its reply (or raises
    ``TransportError``, which is thrown into the flow)."""
    try:
        step = next(flow)
        while True:
            try:
                reply = respond(step)
            except TransportError as error:
                step = flow.throw(error)
            else:
                step = flow.send(reply)  # type: ignore[arg-type]
    except StopIteration as stop:
        result: T = stop.value
        return result


def one_by_one(responder: Responder) -> Callable[[Batch | Request], object]:
    """Answer requests with ``responder``; a batch's requests one after the other."""

    def respond(step: Batch | Request) -> object:
        if isinstance(step, Batch):
            return tuple(responder(request) for request in step.requests)
        return responder(step)

    return respond


def _response(reply: Reply) -> Response:
    return Response(
        reply.status, reply.status_line.partition(" ")[2], tuple(reply.headers), reply.body
    )


@dataclass
class ResourceServer:
    """Serves a ``DocumentResource`` in-process, recording every request."""

    resource: DocumentResource
    seen: list[Request] = field(default_factory=list)

    def _decide(self, request: Request) -> Reply | PendingWrite:
        self.seen.append(request)
        return self.resource.decide(
            request.method, list(request.headers), request.body or b"", request.target or "/doc"
        )

    def _finish(self, pending: Reply | PendingWrite) -> Response:
        if isinstance(pending, PendingWrite):
            pending = self.resource.commit(pending)
        return _response(pending)

    def __call__(self, step: Batch | Request) -> object:
        if isinstance(step, Batch):
            decided = [self._decide(request) for request in step.requests]
            outcomes: tuple[Response | Failure, ...] = tuple(self._finish(d) for d in decided)
            return outcomes
        return self._finish(self._decide(step))


def context(**options: object) -> Context:
    """A context for ``/doc`` with the given options."""
    return Context("/doc", Options(**options))  # type: ignore[arg-type]
