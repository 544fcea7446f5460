"""httpx transports that run the conditional-request flow around any inner transport.

::

    transport = IfMatchTransport(httpx.HTTPTransport())
    with httpx.Client(transport=transport) as http:
        http.get(url)                          # the store learns the ETag
        http.put(url, json=doc)                # sent with If-Match

They work with every ``httpx.Client`` / ``httpx.AsyncClient`` feature (auth, cookies, event
hooks, redirects, retries of the inner transport), because they only see finished requests.

Each redirect hop is a request of its own: httpx builds the next hop from the headers of the
request it redirected, so before a redirect response goes back to httpx the request's header
lines are reset to what may go on (``ifmatch.client.redirects``): the flow's own additions
are removed, and the next hop gets the remembered validators of its own URL, if any.
"""

from __future__ import annotations

import httpx

from .cache import ResponseCache
from .errors import raise_for_conflict
from .flow import ConditionalRequests, Flow, FlowConfig
from .messages import Headers, Request, Response
from .redirects import forwarded_headers
from .validators import ValidatorStore

__all__ = ["AsyncIfMatchTransport", "IfMatchTransport"]

#: Set on a response built from the cache after a 304 Not Modified.
REVALIDATED_EXTENSION = "ifmatch.revalidated"


def _text_headers(headers: httpx.Headers) -> tuple[tuple[str, str], ...]:
    # Field values are octets; latin-1 maps each to one character (as WSGI does).
    return tuple([(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers.raw])


def _httpx_headers(lines: Headers) -> httpx.Headers:
    return httpx.Headers(
        [(name.encode("latin-1"), value.encode("latin-1")) for name, value in lines]
    )


class _Driver:
    """What the sync and async transports share: converting between httpx and flow values."""

    def __init__(
        self,
        store: ValidatorStore | None,
        cache: ResponseCache | None,
        config: FlowConfig | None,
        raise_errors: bool,
        policy: ConditionalRequests | None,
    ) -> None:
        self.policy = policy or ConditionalRequests(store, cache, config)
        self.raise_errors = raise_errors

    @property
    def store(self) -> ValidatorStore:
        """The validator store the flow reads and teaches."""
        return self.policy.store

    @property
    def cache(self) -> ResponseCache | None:
        return self.policy.cache

    @staticmethod
    def to_flow(request: httpx.Request) -> Request:
        return Request(request.method, str(request.url), _text_headers(request.headers))

    @staticmethod
    def to_httpx(outgoing: Request, ours: Request, original: httpx.Request) -> httpx.Request:
        if outgoing is ours:
            return original
        if outgoing.content is None:
            # The application's request with preconditions added: keep its body stream, and
            # add only the new lines when nothing else changed (the common, cheap case).
            known = len(ours.headers)
            if outgoing.headers[:known] == ours.headers:
                for name, value in outgoing.headers[known:]:
                    original.headers[name] = value
            else:
                original.headers = _httpx_headers(outgoing.headers)
            return original
        return httpx.Request(
            outgoing.method,
            outgoing.url,
            headers=list(outgoing.headers),
            content=outgoing.content,
            extensions={k: v for k, v in original.extensions.items() if k == "timeout"},
        )

    @staticmethod
    def head(raw: httpx.Response) -> Response:
        """The flow's view of a response whose body has not been read."""
        return Response(raw.status_code, _text_headers(raw.headers))

    @staticmethod
    def rebuild(result: Response, raw: httpx.Response, original: httpx.Request) -> httpx.Response:
        """An httpx response for a flow result built from the cache after a 304."""
        return httpx.Response(
            result.status,
            headers=list(result.headers),
            content=result.content or b"",
            request=original,
            extensions={**raw.extensions, REVALIDATED_EXTENSION: result.revalidated},
        )

    @staticmethod
    def redirected(ours: Request, result: Response, original: httpx.Request) -> None:
        """When ``result`` redirects, leave on ``original`` (which httpx copies the next hop
        from) only the lines that may go on: the application's own, less the conditionals of
        this URL when the target is another one."""
        forward = forwarded_headers(ours, result)
        if forward is not None:
            original.headers = _httpx_headers(forward)

    def check(self, result: Response, original: httpx.Request) -> None:
        if self.raise_errors:
            raise_for_conflict(result, method=original.method, url=str(original.url))


class IfMatchTransport(httpx.BaseTransport):
    """A sync transport adding conditional requests to ``transport``.

    Args:
        transport: the transport that does the I/O (``httpx.HTTPTransport()`` by default).
        store: the validator store (a new bounded one by default); share one between
            transports to share what they learn.
        cache: a ``ResponseCache`` to enable the conditional-GET cache.
        config: flow settings (body fields, id fields, limits).
        raise_errors: raise ``PreconditionFailed`` / ``PreconditionRequired`` /
            ``VersionConflict`` for 412 / 428 / 409 instead of returning the response.
        policy: a ready ``ConditionalRequests`` (instead of store/cache/config).
    """

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        *,
        store: ValidatorStore | None = None,
        cache: ResponseCache | None = None,
        config: FlowConfig | None = None,
        raise_errors: bool = False,
        policy: ConditionalRequests | None = None,
    ) -> None:
        self._inner = transport if transport is not None else httpx.HTTPTransport()
        self._driver = _Driver(store, cache, config, raise_errors, policy)

    @property
    def store(self) -> ValidatorStore:
        return self._driver.store

    @property
    def cache(self) -> ResponseCache | None:
        return self._driver.cache

    @property
    def policy(self) -> ConditionalRequests:
        return self._driver.policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        driver = self._driver
        ours = driver.to_flow(request)
        flow: Flow = driver.policy.flow(ours)
        outgoing = next(flow)
        while True:
            raw = self._inner.handle_request(driver.to_httpx(outgoing, ours, request))
            received = driver.head(raw)
            if driver.policy.needs_body(outgoing, received):
                received = received.with_content(raw.read())
            try:
                outgoing = flow.send(received)
            except StopIteration as done:
                result: Response = done.value
                if result is not received:
                    raw.close()
                    raw = driver.rebuild(result, raw, request)
                driver.redirected(ours, result, request)
                try:
                    driver.check(result, request)
                except BaseException:
                    raw.close()
                    raise
                return raw
            except BaseException:
                raw.close()
                raise
            raw.close()

    def close(self) -> None:
        self._inner.close()


class AsyncIfMatchTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`IfMatchTransport` (same arguments), running the same flow."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        store: ValidatorStore | None = None,
        cache: ResponseCache | None = None,
        config: FlowConfig | None = None,
        raise_errors: bool = False,
        policy: ConditionalRequests | None = None,
    ) -> None:
        self._inner = transport if transport is not None else httpx.AsyncHTTPTransport()
        self._driver = _Driver(store, cache, config, raise_errors, policy)

    @property
    def store(self) -> ValidatorStore:
        return self._driver.store

    @property
    def cache(self) -> ResponseCache | None:
        return self._driver.cache

    @property
    def policy(self) -> ConditionalRequests:
        return self._driver.policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        driver = self._driver
        ours = driver.to_flow(request)
        flow: Flow = driver.policy.flow(ours)
        outgoing = next(flow)
        while True:
            raw = await self._inner.handle_async_request(driver.to_httpx(outgoing, ours, request))
            received = driver.head(raw)
            if driver.policy.needs_body(outgoing, received):
                received = received.with_content(await raw.aread())
            try:
                outgoing = flow.send(received)
            except StopIteration as done:
                result: Response = done.value
                if result is not received:
                    await raw.aclose()
                    raw = driver.rebuild(result, raw, request)
                driver.redirected(ours, result, request)
                try:
                    driver.check(result, request)
                except BaseException:
                    await raw.aclose()
                    raise
                return raw
            except BaseException:
                await raw.aclose()
                raise
            await raw.aclose()

    async def aclose(self) -> None:
        await self._inner.aclose()
