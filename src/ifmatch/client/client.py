"""``Client`` / ``AsyncClient``: httpx clients with the conditional-request transport and the
conflict strategies, each one call::

    with Client("https://api.example") as client:
        doc = client.read("/docs/7")                           # remembers the ETag
        mine = {**doc.data, "title": "New"}
        client.save(doc, mine)                                  # raise PreconditionFailed
        client.save(doc, mine, on_conflict="merge")             # three-way merge and retry
        client.save(doc, mine, on_conflict="overwrite")         # last writer wins, explicitly
        client.update("/docs/7", add_tag, retries=5)            # re-read and re-apply
        client.put("/docs/8", json=new, create=True)            # If-None-Match: * (create only)
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Generator, Hashable, Mapping
from typing import Any, TypeVar

import anyio
import httpx

from .bulk import BulkOutcome, bulk_update_flow
from .cache import ResponseCache
from .documents import Document
from .errors import raise_for_conflict
from .flow import ConditionalRequests, FlowConfig
from .limiter import SHARED, AsyncConflictLimiter, ConflictLimiter
from .messages import LostReply, Request, Response, Sleep
from .patch import JSON_PATCH_MEDIA_TYPE, MERGE_PATCH_MEDIA_TYPE, PatchFormat
from .strategies import Backoff, OnConflict, StrategyFlow, read_flow, save_flow, update_flow
from .transport import AsyncIfMatchTransport, IfMatchTransport
from .validators import ValidatorStore, normalize_url

#: Errors after which a request may have reached the server with no answer coming back.
LOST = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

__all__ = ["AsyncClient", "Client"]

T = TypeVar("T")
Flow = Generator[Request | Sleep, Response | LostReply | None, T]


def _precondition_headers(headers: Any, *, create: bool, overwrite: bool) -> httpx.Headers | None:
    if not (create or overwrite):
        return None if headers is None else httpx.Headers(headers)
    merged = httpx.Headers(headers)
    if create and overwrite:
        raise ValueError("create=True and overwrite=True contradict each other")
    if create:
        # RFC 9110 §13.1.2: If-None-Match: * "can be used by a client to prevent the request
        # from overwriting an existing representation".
        merged["If-None-Match"] = "*"
    else:
        # §13.1.1: If-Match: * is true for any current representation: the last writer wins.
        merged["If-Match"] = "*"
    return merged


# httpx.Client options that configure its default transport; httpx ignores them when a
# transport is passed, so the client builds the inner transport from them itself.
_TRANSPORT_OPTIONS = ("verify", "cert", "trust_env", "http1", "http2", "limits")


def _transport_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {name: kwargs[name] for name in _TRANSPORT_OPTIONS if name in kwargs}


def _wrap_mounts(
    http: httpx.Client | httpx.AsyncClient,
    policy: ConditionalRequests,
    wrap: Callable[[Any, ConditionalRequests], Any],
    kind: type,
) -> None:
    """Run the flow on the client's mounted transports too (``mounts=``, and the proxies
    httpx mounts from ``HTTP_PROXY`` / ``ALL_PROXY``): otherwise requests routed through them
    would skip it. httpx has no public API to reach them after construction."""
    mounts = getattr(http, "_mounts", None)
    if not isinstance(mounts, dict):
        return
    for pattern, mounted in list(mounts.items()):
        if mounted is not None and not isinstance(mounted, kind):
            mounts[pattern] = wrap(mounted, policy)


def _to_response(raw: httpx.Response) -> Response:
    # ``raw.url`` is the URL that answered: after followed redirects, not the one asked.
    return Response(
        raw.status_code, tuple(raw.headers.multi_items()), raw.content, url=str(raw.url)
    )


#: Answers to a write that tell the limiter about contention: refused (conflict) or committed.
_CONFLICTS = frozenset({409, 412})


def _outcome(step: Request, received: Response | LostReply | None) -> bool | None:
    """Whether ``received`` answers a write with a conflict (``True``), a commit
    (``False``), or says nothing about contention (``None``)."""
    if step.method in ("GET", "HEAD") or not isinstance(received, Response):
        return None
    if received.status in _CONFLICTS:
        return True
    return False if received.ok else None


def _learn(
    limiter: ConflictLimiter | AsyncConflictLimiter,
    limited: str | None,
    step: Request,
    received: Response | LostReply | None,
) -> None:
    """Tell ``limiter`` whether a write to ``limited`` (a URL's slot key) committed or was
    refused; nothing without a slot key or for an answer that says nothing of contention."""
    if limited is not None:
        outcome = _outcome(step, received)
        if outcome is not None:
            limiter.record(limited, conflict=outcome)


def _strategy_options(step: Request) -> dict[str, Any]:
    """``httpx.Client.request`` arguments for one request of a strategy flow.

    A strategy's write carries the validators of one URL's read, so it is made to that URL or
    not at all: a redirect answering it is returned (the flow raises ``UnexpectedStatus``),
    never followed to a URL whose resource the change was not computed from. Reads follow
    redirects as the client is configured to; the document is then the target's.
    """
    options: dict[str, Any] = {"headers": list(step.headers), "content": step.content}
    if step.method not in ("GET", "HEAD"):
        options["follow_redirects"] = False
    return options


class _Base:
    http: httpx.Client | httpx.AsyncClient

    def _common(
        self, config: FlowConfig | None, backoff: Backoff | None, rng: random.Random | None
    ) -> None:
        self.config = config or FlowConfig()
        self.backoff = backoff or Backoff()
        self.rng = rng or random.Random()

    def _slot_key(self, url: str | httpx.URL) -> str:
        return normalize_url(self.absolute(url))

    def absolute(self, url: str | httpx.URL) -> str:
        """``url`` resolved against the client's ``base_url``, as httpx resolves it."""
        return str(self.http.build_request("GET", url).url)

    def _update_flow(
        self,
        url: str | httpx.URL,
        fn: Callable[[Any], Any],
        retries: int,
        patch: PatchFormat | None,
        require_validator: bool,
    ) -> StrategyFlow:
        return update_flow(
            self.absolute(url),
            fn,
            retries=retries,
            backoff=self.backoff,
            rng=self.rng,
            patch=patch,
            require_validator=require_validator,
            learning=self.config.learning,
        )

    def _bulk_flow(
        self,
        url: str | httpx.URL,
        changes: Mapping[Hashable, Callable[[Any], Any]],
        atomic: bool,
        retries: int,
        item_url: Callable[[Hashable], str] | None,
    ) -> Flow[BulkOutcome]:
        locate = None if item_url is None else (lambda key: self.absolute(item_url(key)))
        return bulk_update_flow(
            self.absolute(url),
            changes,
            atomic=atomic,
            retries=retries,
            item_url=locate,
            backoff=self.backoff,
            rng=self.rng,
            learning=self.config.learning,
        )

    def _learn_bulk(self, outcome: BulkOutcome) -> BulkOutcome:
        store: ValidatorStore = self.store  # type: ignore[attr-defined]
        for document in outcome.documents.values():
            store.learn(document.url, document.validators)
        return outcome

    def _save_flow(
        self,
        base: Document,
        data: Any,
        on_conflict: OnConflict,
        retries: int,
        patch: PatchFormat | None,
        require_validator: bool,
    ) -> StrategyFlow:
        return save_flow(
            base,
            data,
            on_conflict=on_conflict,
            retries=retries,
            backoff=self.backoff,
            rng=self.rng,
            patch=patch,
            require_validator=require_validator,
            learning=self.config.learning,
        )


class Client(_Base):
    """A sync client that remembers validators and resolves conflicts.

    Args:
        base_url: prefix for relative URLs.
        store: the validator store (bounded; a new one by default).
        cache: a ``ResponseCache`` to revalidate GETs and turn 304s into the stored
            representation; off by default.
        config: flow settings (``_etag`` field names, id fields, limits).
        transport: the inner httpx transport (``httpx.HTTPTransport()`` by default;
            ``httpx.MockTransport`` in tests).
        backoff: waits between retries of ``update`` / ``save``.
        rng: the jitter source (seed it for reproducible tests).
        limiter: how many ``update`` / retrying ``save`` calls to one URL run at once
            (``ifmatch.client.limiter``); by default one adaptive limiter shared by every
            ``Client`` of the process. ``ConflictLimiter(maximum=None)`` turns it off.
        **kwargs: passed to ``httpx.Client`` (headers, auth, timeout, ...).

    Attributes:
        http: the underlying ``httpx.Client``, for anything not wrapped here.
    """

    def __init__(
        self,
        base_url: str | httpx.URL = "",
        *,
        store: ValidatorStore | None = None,
        cache: ResponseCache | None = None,
        config: FlowConfig | None = None,
        transport: httpx.BaseTransport | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        limiter: ConflictLimiter | None = None,
        **kwargs: Any,
    ) -> None:
        self._common(config, backoff, rng)
        self.limiter = SHARED if limiter is None else limiter
        inner = transport or httpx.HTTPTransport(**_transport_options(kwargs))
        self.transport = IfMatchTransport(inner, store=store, cache=cache, config=self.config)
        self.http: httpx.Client = httpx.Client(
            base_url=base_url, transport=self.transport, **kwargs
        )
        _wrap_mounts(
            self.http,
            self.transport.policy,
            lambda mounted, policy: IfMatchTransport(mounted, policy=policy),
            IfMatchTransport,
        )

    @property
    def store(self) -> ValidatorStore:
        return self.transport.store

    @property
    def cache(self) -> ResponseCache | None:
        return self.transport.cache

    # -- plain requests: the "raise" strategy ---------------------------------------------------

    def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        create: bool = False,
        overwrite: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request; PUT / PATCH / DELETE get ``If-Match`` from the store.

        Args:
            create: send ``If-None-Match: *``: only create, never replace.
            overwrite: send ``If-Match: *``: replace whatever is there (last writer wins).
            **kwargs: as for ``httpx.Client.request``.

        Raises:
            PreconditionFailed | PreconditionRequired | VersionConflict: 412 / 428 / 409.
        """
        kwargs["headers"] = _precondition_headers(
            kwargs.get("headers"), create=create, overwrite=overwrite
        )
        response = self.http.request(method, url, **kwargs)
        if response.status_code in (409, 412, 428):
            raise_for_conflict(
                _to_response(response), method=method.upper(), url=str(response.request.url)
            )
        return response

    def get(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def merge_patch(self, url: str | httpx.URL, patch: Any, **kwargs: Any) -> httpx.Response:
        """PATCH with an RFC 7396 merge patch body (``application/merge-patch+json``)."""
        return self._patch_as(url, patch, MERGE_PATCH_MEDIA_TYPE, kwargs)

    def json_patch(
        self, url: str | httpx.URL, operations: list[dict[str, Any]], **kwargs: Any
    ) -> httpx.Response:
        """PATCH with an RFC 6902 JSON Patch body (``application/json-patch+json``)."""
        return self._patch_as(url, operations, JSON_PATCH_MEDIA_TYPE, kwargs)

    def _patch_as(
        self, url: str | httpx.URL, body: Any, media_type: str, kwargs: dict[str, Any]
    ) -> httpx.Response:
        headers = httpx.Headers(kwargs.pop("headers", None))
        headers["Content-Type"] = media_type
        return self.request("PATCH", url, json=body, headers=headers, **kwargs)

    # -- documents and strategies ---------------------------------------------------------------

    def read(self, url: str | httpx.URL) -> Document:
        """GET a JSON document with its validators.

        Raises:
            UnexpectedStatus: the GET did not answer 2xx.
        """
        return self._run(read_flow(self.absolute(url), learning=self.config.learning))

    def save(
        self,
        base: Document,
        data: Any,
        *,
        on_conflict: OnConflict = "raise",
        retries: int = 3,
        patch: PatchFormat | None = None,
        require_validator: bool = True,
    ) -> Document:
        """Write ``data`` as the next version of ``base`` (see ``strategies.save_flow``).

        ``on_conflict``: ``"raise"`` (default), ``"merge"`` (three-way merge and retry),
        ``"overwrite"`` (last writer wins), or ``(base, mine, theirs) -> merged``.
        """
        flow = self._save_flow(base, data, on_conflict, retries, patch, require_validator)
        if on_conflict in ("raise", "overwrite"):
            return self._run(flow)
        return self._limited(base.self_url, flow)

    def update(
        self,
        url: str | httpx.URL,
        fn: Callable[[Any], Any],
        *,
        retries: int = 5,
        patch: PatchFormat | None = None,
        require_validator: bool = True,
    ) -> Document:
        """Read, apply ``fn``, write conditionally; on 412/409 re-read and re-apply, with
        backoff, at most ``retries`` more times (see ``strategies.update_flow``).

        Calls for the same URL share the client's ``limiter``: when they keep refusing each
        other's writes, fewer of them run at once."""
        flow = self._update_flow(url, fn, retries, patch, require_validator)
        return self._limited(url, flow)

    def _limited(self, url: str | httpx.URL, flow: StrategyFlow) -> Document:
        return self._run(flow, self._slot_key(url))

    def bulk_update(
        self,
        url: str | httpx.URL,
        changes: Mapping[Hashable, Callable[[Any], Any]],
        *,
        atomic: bool = False,
        retries: int = 5,
        item_url: Callable[[Hashable], str] | None = None,
    ) -> BulkOutcome:
        """Read each item, apply its function, send one batch to ``url``; re-read, re-apply and
        resend only the items that lost, with backoff, at most ``retries`` more rounds (see
        ``ifmatch.client.bulk``). The new tags are remembered for later writes."""
        return self._learn_bulk(self._run(self._bulk_flow(url, changes, atomic, retries, item_url)))

    def _run(self, flow: Flow[T], limited: str | None = None) -> T:
        # With ``limited`` (a URL's slot key) the flow holds one of the URL's slots, except
        # while it waits out a backoff: a writer that lost sleeps without keeping this
        # process's other writers of the URL out, and queues again (first come, first served)
        # when it wakes.
        with contextlib.ExitStack() as held:
            if limited is not None:
                held.enter_context(self.limiter.slot(limited))
            step = next(flow)
            while True:
                received: Response | LostReply | None = None
                if isinstance(step, Sleep):
                    if limited is not None:
                        held.close()
                    time.sleep(step.seconds)
                    if limited is not None:
                        held.enter_context(self.limiter.slot(limited))
                else:
                    received = self._send(step)
                    _learn(self.limiter, limited, step, received)
                try:
                    step = flow.send(received)
                except StopIteration as done:
                    result: T = done.value
                    return result

    def _send(self, request: Request) -> Response | LostReply:
        try:
            raw = self.http.request(request.method, request.url, **_strategy_options(request))
        except LOST as error:
            return LostReply(f"{type(error).__name__}: {error}")
        return _to_response(raw)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClient(_Base):
    """The async twin of :class:`Client` (same arguments, ``await`` the same methods).

    The ``limiter`` is an :class:`~ifmatch.client.limiter.AsyncConflictLimiter`, by default
    one per client (the tasks of an event loop usually share one client; give clients of
    one loop the same limiter to share it).
    """

    def __init__(
        self,
        base_url: str | httpx.URL = "",
        *,
        store: ValidatorStore | None = None,
        cache: ResponseCache | None = None,
        config: FlowConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        limiter: AsyncConflictLimiter | None = None,
        **kwargs: Any,
    ) -> None:
        self._common(config, backoff, rng)
        # An event loop's tasks share one client; its limiter is the client's own.
        self.limiter = AsyncConflictLimiter() if limiter is None else limiter
        inner = transport or httpx.AsyncHTTPTransport(**_transport_options(kwargs))
        self.transport = AsyncIfMatchTransport(inner, store=store, cache=cache, config=self.config)
        self.http: httpx.AsyncClient = httpx.AsyncClient(
            base_url=base_url, transport=self.transport, **kwargs
        )
        _wrap_mounts(
            self.http,
            self.transport.policy,
            lambda mounted, policy: AsyncIfMatchTransport(mounted, policy=policy),
            AsyncIfMatchTransport,
        )

    @property
    def store(self) -> ValidatorStore:
        return self.transport.store

    @property
    def cache(self) -> ResponseCache | None:
        return self.transport.cache

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        create: bool = False,
        overwrite: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """See :meth:`Client.request`."""
        kwargs["headers"] = _precondition_headers(
            kwargs.get("headers"), create=create, overwrite=overwrite
        )
        response = await self.http.request(method, url, **kwargs)
        if response.status_code in (409, 412, 428):
            raise_for_conflict(
                _to_response(response), method=method.upper(), url=str(response.request.url)
            )
        return response

    async def get(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def head(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return await self.request("HEAD", url, **kwargs)

    async def post(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kwargs)

    async def merge_patch(self, url: str | httpx.URL, patch: Any, **kwargs: Any) -> httpx.Response:
        """PATCH with an RFC 7396 merge patch body."""
        headers = httpx.Headers(kwargs.pop("headers", None))
        headers["Content-Type"] = MERGE_PATCH_MEDIA_TYPE
        return await self.request("PATCH", url, json=patch, headers=headers, **kwargs)

    async def json_patch(
        self, url: str | httpx.URL, operations: list[dict[str, Any]], **kwargs: Any
    ) -> httpx.Response:
        """PATCH with an RFC 6902 JSON Patch body."""
        headers = httpx.Headers(kwargs.pop("headers", None))
        headers["Content-Type"] = JSON_PATCH_MEDIA_TYPE
        return await self.request("PATCH", url, json=operations, headers=headers, **kwargs)

    async def read(self, url: str | httpx.URL) -> Document:
        """See :meth:`Client.read`."""
        return await self._run(read_flow(self.absolute(url), learning=self.config.learning))

    async def save(
        self,
        base: Document,
        data: Any,
        *,
        on_conflict: OnConflict = "raise",
        retries: int = 3,
        patch: PatchFormat | None = None,
        require_validator: bool = True,
    ) -> Document:
        """See :meth:`Client.save`."""
        flow = self._save_flow(base, data, on_conflict, retries, patch, require_validator)
        if on_conflict in ("raise", "overwrite"):
            return await self._run(flow)
        return await self._limited(base.self_url, flow)

    async def update(
        self,
        url: str | httpx.URL,
        fn: Callable[[Any], Any],
        *,
        retries: int = 5,
        patch: PatchFormat | None = None,
        require_validator: bool = True,
    ) -> Document:
        """See :meth:`Client.update`."""
        flow = self._update_flow(url, fn, retries, patch, require_validator)
        return await self._limited(url, flow)

    async def _limited(self, url: str | httpx.URL, flow: StrategyFlow) -> Document:
        return await self._run(flow, self._slot_key(url))

    async def bulk_update(
        self,
        url: str | httpx.URL,
        changes: Mapping[Hashable, Callable[[Any], Any]],
        *,
        atomic: bool = False,
        retries: int = 5,
        item_url: Callable[[Hashable], str] | None = None,
    ) -> BulkOutcome:
        """See :meth:`Client.bulk_update`."""
        flow = self._bulk_flow(url, changes, atomic, retries, item_url)
        return self._learn_bulk(await self._run(flow))

    async def _run(self, flow: Flow[T], limited: str | None = None) -> T:
        # As Client._run: the URL's slot is held except while a backoff is waited out.
        async with contextlib.AsyncExitStack() as held:
            if limited is not None:
                await held.enter_async_context(self.limiter.slot(limited))
            step = next(flow)
            while True:
                received: Response | LostReply | None = None
                if isinstance(step, Sleep):
                    if limited is not None:
                        await held.aclose()
                    await anyio.sleep(step.seconds)
                    if limited is not None:
                        await held.enter_async_context(self.limiter.slot(limited))
                else:
                    received = await self._send(step)
                    _learn(self.limiter, limited, step, received)
                try:
                    step = flow.send(received)
                except StopIteration as done:
                    result: T = done.value
                    return result

    async def _send(self, request: Request) -> Response | LostReply:
        try:
            raw = await self.http.request(request.method, request.url, **_strategy_options(request))
        except LOST as error:
            return LostReply(f"{type(error).__name__}: {error}")
        return _to_response(raw)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
