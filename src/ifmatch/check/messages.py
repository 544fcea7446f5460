"""The messages the checker's probes exchange with a server, as plain immutable values.

Probes are generators that yield a :class:`Request` (or a :class:`Batch` of requests to send
at the same instant) and receive the :class:`Response` back. They never touch the network: a
driver (``ifmatch.check.drivers``) performs the I/O with httpx, over a real connection or an
in-process WSGI/ASGI transport, synchronously or with asyncio. The same probes therefore run
from the command line and inside a user's test suite.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

__all__ = [
    "Batch",
    "Failure",
    "Flow",
    "Reply",
    "Request",
    "Response",
    "Step",
    "TransportError",
    "exchange",
    "exchange_together",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Request:
    """One request to the URL under test.

    Attributes:
        method: the request method.
        headers: headers specific to this request; the driver adds the user's ``--header``
            values (authentication and the like) to every request.
        body: the request content, or ``None``.
        target: another resource of the same origin, as an absolute path (``/openapi.json``),
            or ``None`` for the URL under test. Probes never name another origin, so the
            user's credentials only go where they were meant to.
    """

    method: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    target: str | None = None

    def __post_init__(self) -> None:
        if self.target is not None and not (
            self.target.startswith("/") and not self.target.startswith("//")
        ):
            raise ValueError(f"a request target must be an absolute path, got {self.target!r}")

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Response:
    """A response as received: status, reason phrase, header lines in order, content."""

    status: int
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    http_version: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        """The field value of ``name``; repeated lines are joined with ``", "`` (RFC 9110
        §5.3), so a server that sends two ETag lines yields a value that is not one tag."""
        wanted = name.lower()
        values = [value for key, value in self.headers if key.lower() == wanted]
        return ", ".join(values) if values else None

    @property
    def is_success(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Batch:
    """Requests to release at the same instant, each on its own connection."""

    requests: tuple[Request, ...]


@dataclass(frozen=True, slots=True)
class Failure:
    """A request of a batch that got no response (connection refused, reset, timeout)."""

    message: str


class TransportError(Exception):
    """A single request got no response. Drivers throw it into the probe that sent it."""


Step: TypeAlias = Request | Batch
Reply: TypeAlias = Response | tuple[Response | Failure, ...]
#: A probe, or any piece of one: yields steps, receives replies, returns a ``T``.
Flow: TypeAlias = Generator[Step, Reply, T]


def exchange(request: Request) -> Flow[Response]:
    """Send one request and return its response (use with ``yield from``)."""
    reply = yield request
    if not isinstance(reply, Response):
        raise TypeError(f"the driver answered a Request with {type(reply).__name__}")
    return reply


def exchange_together(requests: tuple[Request, ...]) -> Flow[tuple[Response | Failure, ...]]:
    """Send requests at the same instant and return their outcomes, in order."""
    reply = yield Batch(requests)
    if not isinstance(reply, tuple) or len(reply) != len(requests):
        raise TypeError("the driver answered a Batch with something other than its outcomes")
    return reply
