"""The conditional-request flow: one generator per request, shared by every driver.

Like httpx's ``Auth.auth_flow``, :meth:`ConditionalRequests.flow` yields the requests it wants
sent and receives their responses; it never does I/O itself, so the sync and async httpx
transports and the requests adapter all run the same code, and tests step it by hand::

    flow = policy.flow(request)
    outgoing = next(flow)                    # the request, now with If-Match
    try:
        outgoing = flow.send(response)       # another request (a re-read) ...
    except StopIteration as done:
        final = done.value                   # ... or the response for the application

What it does:

* PUT / PATCH / DELETE without a precondition of their own get ``If-Match`` with the strong
  tag the store holds for that URL (RFC 9110 §13.1.1: "An origin server MUST use the strong
  comparison function when comparing entity-tags for If-Match", so a weak tag can never
  match). With only a weak tag, ``If-Unmodified-Since`` from the Last-Modified (§13.1.4);
  without that, a re-read asking for the identity coding (compressing proxies weaken tags),
  accepted only if it still names the version that was read.
* Every response teaches the store (see ``ifmatch.client.learning``); a successful DELETE, a
  404 or a 410 makes it forget the URL.
* With a :class:`~ifmatch.client.cache.ResponseCache`, GETs revalidate the stored
  representation and a 304 comes back as that representation.
* A redirect teaches nothing; the drivers make each hop a request of its own, whose flow
  adds that URL's validators only (``ifmatch.client.redirects``).
* POST / PUT / PATCH / DELETE without an ``Idempotency-Key`` get one, so a server that honours
  keys recognises a retry of the same request (``FlowConfig.idempotency_keys``).
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from ..core.dates import format_http_date
from ..core.etag import ETag, weak_match
from ..core.idempotency import IDEMPOTENCY_KEY, format_idempotency_key
from .cache import ResponseCache
from .errors import PreconditionFailed
from .learning import (
    DEFAULT_LEARNING,
    LearningConfig,
    body_etag,
    header_validators,
    item_url,
    iter_items,
    response_validators,
    self_link,
)
from .messages import MISSING, Request, Response
from .validators import Validators, ValidatorStore, normalize_url, same_origin, vary_names

__all__ = ["ConditionalRequests", "FlowConfig", "has_precondition", "precondition_headers"]

WRITE_METHODS = frozenset({"PUT", "PATCH", "DELETE"})
#: Methods that get an ``Idempotency-Key`` when they have none (``FlowConfig.idempotency_keys``).
KEYED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_METHODS = frozenset({"GET", "HEAD"})
PRECONDITIONS = ("if-match", "if-none-match", "if-unmodified-since")
# Request fields that describe the request's own content, dropped from a re-read.
_CONTENT_FIELDS = frozenset(
    {"content-type", "content-length", "content-encoding", "transfer-encoding", "accept-encoding"}
    | set(PRECONDITIONS)
    | {"if-modified-since", "if-range", "range"}
)

Flow = Generator[Request, Response, Response]


@dataclass(frozen=True, slots=True)
class FlowConfig:
    """How the flow behaves.

    Attributes:
        learning: where to find validators in bodies.
        learn_from_bodies: read JSON bodies to learn from (``_etag`` fields, list items).
            Headers are always read.
        write_methods: methods that get a precondition added. POST creates; it has nothing
            to be conditional on.
        reread_weak: when only a weak tag is known, re-read to learn the strong one.
        max_body_bytes: bodies declared longer than this are not read for learning.
        idempotency_keys: give every POST, PUT, PATCH and DELETE without one an
            ``Idempotency-Key`` (a new UUID), so a retry of it (an inner transport's, or the
            application's with the same request) can be recognised by the server.
    """

    learning: LearningConfig = DEFAULT_LEARNING
    learn_from_bodies: bool = True
    write_methods: frozenset[str] = field(default=WRITE_METHODS)
    reread_weak: bool = True
    max_body_bytes: int = 4 * 1024 * 1024
    idempotency_keys: bool = True


def has_precondition(headers: Iterable[tuple[str, str]]) -> bool:
    """Whether a request already carries If-Match, If-None-Match or If-Unmodified-Since.

    An application's own precondition always wins: ``If-None-Match: *`` to create only,
    ``If-Match: *`` to overwrite whatever is there (last writer wins, asked for explicitly).
    """
    return any(name.lower() in PRECONDITIONS for name, _ in headers)


def precondition_headers(validators: Validators) -> tuple[tuple[str, str], ...]:
    """The precondition a write based on ``validators`` should carry, or ``()``.

    A strong tag gives ``If-Match``. A weak one never does (it cannot match, §13.1.1); then a
    Last-Modified gives ``If-Unmodified-Since`` ("the condition is true if the selected
    representation's last modification date is earlier than or equal to the date provided",
    §13.1.4).
    """
    if validators.etag is not None and not validators.etag.weak:
        return (("If-Match", str(validators.etag)),)
    if validators.last_modified is not None:
        return (("If-Unmodified-Since", format_http_date(validators.last_modified)),)
    return ()


class ConditionalRequests:
    """The per-request policy: a validator store, an optional cache, and a :class:`FlowConfig`.

    Args:
        store: where validators are remembered; a new bounded store by default.
        cache: a :class:`ResponseCache` to turn 304s into stored representations; off by
            default.
        config: behaviour switches.
    """

    def __init__(
        self,
        store: ValidatorStore | None = None,
        cache: ResponseCache | None = None,
        config: FlowConfig | None = None,
    ) -> None:
        self.store = store if store is not None else ValidatorStore()
        self.cache = cache
        self.config = config or FlowConfig()
        # A body that does not contain any tag field's name cannot teach anything: skip
        # decoding it (the application decodes it anyway; this keeps the flow cheap).
        self._needles = tuple(f'"{name}"'.encode() for name in self.config.learning.etag_fields)

    # -- what the driver must read ------------------------------------------------------------

    def needs_body(self, request: Request, response: Response) -> bool:
        """Whether the driver must read the body of ``response`` (received without it) before
        sending it into the flow.

        Error bodies of 409/412/428 are read for the typed errors; 2xx JSON bodies when
        learning from bodies; GET 200 bodies when caching. Others stay unread (streamable).
        """
        declared = response.header("content-length")
        if (
            declared is not None
            and declared.isdigit()
            and int(declared) > self.config.max_body_bytes
        ):
            return False
        status = response.status
        if self.cache is not None and request.method == "GET" and status == 200:
            return True
        json_body = "json" in (response.header("content-type") or "").lower()
        if status in (409, 412, 428):
            return json_body
        return json_body and self.config.learn_from_bodies and 200 <= status < 300

    # -- the flow -------------------------------------------------------------------------------

    def flow(self, request: Request) -> Flow:
        """Run one request: add preconditions, send, learn, and return the final response.

        Raises:
            PreconditionFailed: a re-read made to find a strong tag showed the resource had
                changed since it was read; nothing was written.
        """
        if request.method == "GET" and self.cache is not None:
            return (yield from self._cached_get(request))
        if (
            self.config.idempotency_keys
            and request.method in KEYED_METHODS
            and request.header(IDEMPOTENCY_KEY) is None
        ):
            key = format_idempotency_key(str(uuid.uuid4()))
            request = Request(
                request.method,
                request.url,
                (*request.headers, (IDEMPOTENCY_KEY, key)),
                request.content,
            )
        if request.method in self.config.write_methods and not has_precondition(request.headers):
            known = self.store.get(request.url, request.headers)
            if known is not None:
                headers = precondition_headers(known)
                if headers:
                    # The request has no precondition line yet, so these are simply added.
                    request = Request(
                        request.method, request.url, request.headers + headers, request.content
                    )
                elif known.etag is not None and self.config.reread_weak:
                    request = yield from self._reread_strong(request, known.etag)
        response = yield request
        self.observe(request, response)
        return response

    def _cached_get(self, request: Request) -> Flow:
        assert self.cache is not None
        entry = None
        if not any(name.lower().startswith("if-") for name, _ in request.headers):
            entry = self.cache.lookup(request.url, request.headers)
        sent = request if entry is None else request.with_headers(*entry.conditional_headers())
        response = yield sent
        if response.status == 304 and entry is not None:
            response = entry.freshened(response)
        self.observe(request, response)
        if response.status == 200:
            self.cache.store(request.url, request.headers, response, header_validators(response))
        return response

    def _reread_strong(self, request: Request, weak: ETag) -> Generator[Request, Response, Request]:
        """Only a weak tag is known, and no date: a compressing proxy may have weakened the
        origin's strong tag (nginx does for gzip). Ask for the identity coding to see the
        strong form, and use it only if it names the version that was read."""
        probe_headers = tuple(
            line for line in request.headers if line[0].lower() not in _CONTENT_FIELDS
        ) + (("Accept-Encoding", "identity"),)
        probe = Request("GET", request.url, probe_headers, b"")
        response = yield probe
        fresh = response_validators(response, self.config.learning)
        if response.status != 200 or fresh.etag is None:
            return request
        if not weak_match(fresh.etag, weak):
            # The resource changed since it was read: writing now would overwrite that change.
            # The store keeps the old tag, so a blind retry fails the same way.
            body = response.json
            raise PreconditionFailed(
                "the resource changed since it was read (seen on a re-read before writing; "
                "nothing was sent)",
                method=request.method,
                url=request.url,
                current_etag=fresh.etag,
                current=None if body is MISSING else body,
                headers=response.headers,
            )
        self.observe(probe, response)
        return request.with_headers(*precondition_headers(fresh))

    # -- learning ---------------------------------------------------------------------------------

    def observe(self, request: Request, response: Response) -> None:
        """Update the store (and cache) from one exchange. Called by :meth:`flow`."""
        method, status, url = request.method, response.status, request.url
        if method == "DELETE" and (200 <= status < 300 or status in (404, 410)):
            self._forget(url)
            return
        if status in (404, 410):
            self._forget(url)
            return
        unsafe = method not in READ_METHODS and method not in ("OPTIONS", "TRACE")
        if unsafe and 200 <= status < 400 and self.cache is not None:
            # RFC 9111 §4.4: "A cache MUST invalidate the target URI ... when it receives a
            # non-error status code in response to an unsafe request method".
            for target in (url, *self._locations(response, url)):
                self.cache.forget(target)
        if status == 304 or (200 <= status < 300):
            self._learn(request, response)

    def _learn(self, request: Request, response: Response) -> None:
        url = request.url
        vary = vary_names(response.header("vary"))
        validators = header_validators(response)
        body = response.json if self._may_name_tags(response) else MISSING
        if validators.etag is None and body is not MISSING:
            tag = body_etag(body, self.config.learning)
            if tag is not None:
                validators = Validators(tag, validators.last_modified)
        if (
            response.status == 304
            and validators.etag is not None
            and validators.last_modified is None
        ):
            # RFC 9111 §4.3.4: a 304 freshens only the fields it carries, and a 304 to
            # If-None-Match carries the ETag alone (RFC 9110 §15.4.5): the date known for that
            # very tag still holds (a weak tag's write needs it for If-Unmodified-Since).
            known = self.store.get(url, request.headers)
            if known is not None and known.etag == validators.etag:
                validators = Validators(validators.etag, known.last_modified)
        target = self._target(request, response)
        if target is not None:
            if target == url:
                if validators or response.status != 304:
                    # Empty validators forget: a successful write without a validator leaves
                    # the old tag stale, and a representation without one has no tag to echo.
                    # (A 304 without validators says nothing new.)
                    self.store.learn(url, validators, vary=vary, request_headers=request.headers)
            elif validators:
                self.store.learn(target, validators)
        if body is not MISSING and response.status != 304:
            self._learn_items(body, url)

    def _may_name_tags(self, response: Response) -> bool:
        content = response.content
        return (
            self.config.learn_from_bodies
            and bool(content)
            and any(needle in content for needle in self._needles)  # type: ignore[operator]
        )

    def _target(self, request: Request, response: Response) -> str | None:
        if request.method in ("GET", "HEAD", "PUT", "PATCH"):
            return request.url
        if request.method == "POST":
            name = "location" if response.status == 201 else "content-location"
            location = response.header(name)
            if location is None:
                return None
            # Only the origin that answered speaks for its own resources: a Location on
            # another origin teaches nothing (a tag is never learned for, nor sent to, it).
            target = urljoin(request.url, location)
            return target if same_origin(target, request.url) else None
        return None

    def _learn_items(self, body: Any, url: str) -> None:
        learning = self.config.learning
        if isinstance(body, dict):
            tag = body_etag(body, learning)
            own = None if tag is None else self_link(body, url, links_only=True)
            if own is not None and tag is not None and normalize_url(own) != normalize_url(url):
                self.store.learn(own, Validators(tag))
        for item in iter_items(body, learning):
            tag = body_etag(item, learning)
            if tag is None:
                continue
            where = item_url(item, url, learning)
            if where is not None:
                self.store.learn(where, Validators(tag))

    def _forget(self, url: str) -> None:
        self.store.forget(url)
        if self.cache is not None:
            self.cache.forget(url)

    @staticmethod
    def _locations(response: Response, url: str) -> Iterator[str]:
        # RFC 9111 §4.4: "A cache MUST NOT invalidate a URI from a Location or
        # Content-Location response header field if the host part of that URI differs from
        # the host part in the target URI"; same origin is stricter still.
        for name in ("location", "content-location"):
            value = response.header(name)
            if value is not None:
                target = urljoin(url, value)
                if same_origin(target, url):
                    yield target
