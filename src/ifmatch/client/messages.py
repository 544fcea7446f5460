"""The plain request and response values the sans-I/O flows work on.

The flows never touch a socket: they yield :class:`Request` values and receive
:class:`Response` values. A driver (the httpx transports, the requests adapter, the
high-level clients) converts them to and from its library's own objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "JSON_MEDIA_TYPES",
    "MISSING",
    "Headers",
    "LostReply",
    "Missing",
    "Request",
    "Response",
    "Sleep",
    "find_header",
    "is_json_media_type",
]

Headers = tuple[tuple[str, str], ...]


class Missing:
    """The type of :data:`MISSING`: "no value here", distinct from JSON ``null``."""

    _instance: Missing | None = None

    def __new__(cls) -> Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = Missing()

#: Suffix and names that mark a JSON body (RFC 6839 §3.1 ``+json`` structured syntax suffix).
JSON_MEDIA_TYPES: Final = frozenset({"application/json", "text/json"})


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a Content-Type names JSON (``application/json``, ``application/hal+json``, ...)."""
    if not content_type:
        return False
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type in JSON_MEDIA_TYPES or media_type.endswith("+json")


def find_header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The value of header ``name`` (case-insensitive); repeated lines joined with ``", "``."""
    wanted = name.lower()
    found: str | None = None
    for key, value in headers:
        if key.lower() == wanted:
            found = value if found is None else f"{found}, {value}"
    return found


@dataclass(frozen=True, slots=True)
class Request:
    """A request a flow wants sent.

    Attributes:
        method: upper-case method.
        url: the absolute URL.
        headers: the header lines to send, in order.
        content: the body; ``None`` means "the application's own body, untouched" (the driver
            sends the stream of the request the flow was started with).
    """

    method: str
    url: str
    headers: Headers = ()
    content: bytes | None = None

    def header(self, name: str) -> str | None:
        """The value of header ``name``, or ``None``."""
        return find_header(self.headers, name)

    def with_headers(self, *pairs: tuple[str, str]) -> Request:
        """A copy with each ``(name, value)`` set, replacing lines of the same name."""
        names = {name.lower() for name, _ in pairs}
        kept = tuple(line for line in self.headers if line[0].lower() not in names)
        return Request(self.method, self.url, kept + tuple(pairs), self.content)


@dataclass(frozen=True, slots=True)
class LostReply:
    """What a driver sends into a flow instead of a response when the request may have
    reached the server but no answer came back (the connection broke or timed out): the
    outcome is unknown.

    Attributes:
        reason: the error, for messages.
    """

    reason: str


class Response:
    """A response a flow received (or built from its cache).

    Attributes:
        status: the status code.
        headers: the header lines received.
        content: the decoded body, or ``None`` when the driver did not read it because the flow
            said it did not need it (see ``ConditionalRequests.needs_body``).
        revalidated: built from the conditional-GET cache after a 304 Not Modified.
        url: the URL that answered, when the driver followed redirects to get this response
            (``None``: the URL of the request). A representation and its validators belong
            to this URL, not to the one first asked.
    """

    # A plain slotted class rather than a dataclass: one is built per request, and the header
    # index and decoded body are computed at most once, lazily.
    __slots__ = ("_fields", "_json", "content", "headers", "revalidated", "status", "url")

    def __init__(
        self,
        status: int,
        headers: Headers = (),
        content: bytes | None = None,
        revalidated: bool = False,
        url: str | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.content = content
        self.revalidated = revalidated
        self.url = url
        self._fields: dict[str, str] | None = None
        self._json: Any = _UNDECODED

    def __repr__(self) -> str:
        size = "unread" if self.content is None else f"{len(self.content)} bytes"
        return f"<Response {self.status}, {len(self.headers)} fields, {size}>"

    @property
    def fields(self) -> dict[str, str]:
        """The header fields by lower-case name, repeated lines joined with ``", "``."""
        fields = self._fields
        if fields is None:
            fields = {}
            for name, value in self.headers:
                key = name.lower()
                fields[key] = f"{fields[key]}, {value}" if key in fields else value
            self._fields = fields
        return fields

    def header(self, name: str) -> str | None:
        """The value of header ``name``, or ``None``."""
        fields = self._fields
        if fields is None:
            fields = self.fields
        return fields.get(name.lower())

    def with_content(self, content: bytes) -> Response:
        """The same response with its body read."""
        read = Response(self.status, self.headers, content, self.revalidated, self.url)
        read._fields = self._fields
        return read

    @property
    def ok(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status < 300

    @property
    def json(self) -> Any:
        """The body decoded as JSON, or :data:`MISSING` when it is absent, not read, not
        labelled as JSON, or not valid JSON."""
        if self._json is _UNDECODED:
            self._json = self._decode()
        return self._json

    def _decode(self) -> Any:
        if not self.content or not is_json_media_type(self.header("content-type")):
            return MISSING
        try:
            return json.loads(self.content)
        except ValueError:
            return MISSING


_UNDECODED = object()


@dataclass(frozen=True, slots=True)
class Sleep:
    """A pause a flow asks its driver for (the backoff between retries)."""

    seconds: float
