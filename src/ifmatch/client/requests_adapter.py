"""The conditional-request flow for ``requests``: a transport adapter to mount on a Session.

::

    session = ifmatch.client.requests_adapter.session()
    session.get(url)                 # remembers the ETag
    session.put(url, json=doc)       # sent with If-Match

Imported by module path only, so that ``ifmatch.client`` does not load ``requests``.

Each redirect hop is a request of its own: ``Session.resolve_redirects`` copies the next hop
from the request it redirected, so before a redirect response goes back to the session that
request's header lines are reset to what may go on (``ifmatch.client.redirects``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from .cache import ResponseCache
from .errors import raise_for_conflict
from .flow import ConditionalRequests, Flow, FlowConfig
from .messages import Request, Response
from .redirects import forwarded_headers
from .validators import ValidatorStore

__all__ = ["IfMatchAdapter", "session"]


class IfMatchAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` running the conditional-request flow (same arguments as
    ``ifmatch.client.IfMatchTransport``, plus ``HTTPAdapter``'s own)."""

    def __init__(
        self,
        *,
        store: ValidatorStore | None = None,
        cache: ResponseCache | None = None,
        config: FlowConfig | None = None,
        raise_errors: bool = False,
        policy: ConditionalRequests | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.policy = policy or ConditionalRequests(store, cache, config)
        self.raise_errors = raise_errors

    @property
    def store(self) -> ValidatorStore:
        return self.policy.store

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        ours = Request(
            (request.method or "GET").upper(), request.url or "", tuple(request.headers.items())
        )
        flow: Flow = self.policy.flow(ours)
        outgoing = next(flow)
        while True:
            raw = super().send(
                self._prepared(outgoing, ours, request),
                stream=True,
                timeout=timeout,
                verify=verify,
                cert=cert,
                proxies=proxies,
            )
            received = Response(raw.status_code, tuple(raw.headers.items()))
            if self.policy.needs_body(outgoing, received):
                received = received.with_content(raw.content)
            try:
                outgoing = flow.send(received)
            except StopIteration as done:
                return self._finish(done.value, received, raw, request, ours)
            except BaseException:
                raw.close()
                raise
            raw.close()

    @staticmethod
    def _prepared(outgoing: Request, ours: Request, original: PreparedRequest) -> PreparedRequest:
        if outgoing is ours:
            return original
        if outgoing.content is None:
            prepared = original.copy()
            prepared.headers = CaseInsensitiveDict(dict(outgoing.headers))
            return prepared
        return requests.Request(
            outgoing.method, outgoing.url, headers=dict(outgoing.headers), data=outgoing.content
        ).prepare()

    def _finish(
        self,
        result: Response,
        received: Response,
        raw: requests.Response,
        original: PreparedRequest,
        ours: Request,
    ) -> requests.Response:
        forward = forwarded_headers(ours, result)
        if forward is not None:
            # The session copies the next hop from ``original``: leave only what may go on.
            original.headers = CaseInsensitiveDict(dict(forward))
        if result is not received:
            raw.close()
            built = requests.Response()
            built.status_code = result.status
            built.reason = "OK" if result.status == 200 else raw.reason
            built.headers = CaseInsensitiveDict(dict(result.headers))
            built._content = result.content or b""
            built.encoding = get_encoding_from_headers(built.headers)
            built.url = raw.url
            built.request = raw.request
            built.elapsed = raw.elapsed
            built.connection = self
            raw = built
        if self.raise_errors:
            try:
                raise_for_conflict(
                    result, method=(original.method or "GET").upper(), url=original.url or ""
                )
            except BaseException:
                raw.close()
                raise
        return raw


def session(
    *,
    store: ValidatorStore | None = None,
    cache: ResponseCache | None = None,
    config: FlowConfig | None = None,
    raise_errors: bool = False,
) -> requests.Session:
    """A ``requests.Session`` with :class:`IfMatchAdapter` mounted for http and https, both
    sharing one validator store."""
    adapter = IfMatchAdapter(store=store, cache=cache, config=config, raise_errors=raise_errors)
    http = requests.Session()
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http
