"""Drive the shared conformance table (``tests/conformance.py``) through a real HTTP stack.

Each framework's test module supplies one ``send`` function (method, target, headers, body ->
``Exchange``) over its test client or a live server; everything else is here, once:

- a fresh resource per case, created with ``PUT If-None-Match: *`` (the route must allow
  creation), whose ``ETag`` and ``Last-Modified`` fill the case's placeholders;
- the outcome (``proceed`` = 2xx) compared with the table;
- what each outcome must carry: 304 the current validators and no body, 4xx a problem body
  (and the current ``ETag`` on 412/428), a successful write a *new* ``ETag``;
- no unguarded write: after any refused write the resource still has its old tag;
- every exchange passes httplint with no BAD note.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal
from httplint import HttpRequestLinter, HttpResponseLinter
from httplint.note import levels
from hypothesis import strategies as st

from conformance import Case, render_headers
from ifmatch.core import (
    PROBLEM_MEDIA_TYPE,
    ETag,
    Preconditions,
    format_http_date,
    parse_etag,
    parse_http_date,
    version_etag,
)

Headers = list[tuple[str, str]]
BASE_HEADERS: Headers = [("Host", "testserver"), ("User-Agent", "ifmatch-tests/1")]
UNSAFE = frozenset({"PUT", "PATCH", "DELETE", "POST"})


@dataclass
class Exchange:
    """One recorded request and its response."""

    method: str
    target: str
    request_headers: Headers
    request_body: bytes | None
    status: int
    headers: Headers
    body: bytes
    # Requests built from the table may be deliberately malformed (that is what is tested):
    # their responses are linted, the requests themselves only when this is True.
    lint_request: bool = True

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.body)
        return data


Send = Callable[[str, str, Headers, bytes | None], Exchange]


class AsgiClient:
    """A synchronous client for an ASGI app: requests run on one event loop in a portal."""

    def __init__(self, app: Callable[..., Any], portal: BlockingPortal) -> None:
        transport = httpx.ASGITransport(app=app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self.portal = portal

    def request(self, method: str, target: str, **kwargs: Any) -> httpx.Response:
        return self.portal.call(lambda: self.client.request(method, target, **kwargs))

    def send(self, method: str, target: str, headers: Headers, body: bytes | None) -> Exchange:
        raw = [(name, value.encode("latin-1")) for name, value in headers]

        async def exchange() -> tuple[httpx.Response, bytes]:
            request = self.client.build_request(method, target, headers=raw, content=body)
            response = await self.client.send(request, stream=True)
            wire = b"".join([chunk async for chunk in response.aiter_raw()])  # not decoded
            await response.aclose()
            return response, wire

        response, wire = self.portal.call(exchange)
        fields = with_date(list(response.headers.multi_items()))
        return Exchange(method, target, headers, body, response.status_code, fields, wire)


def lint(exchange: Exchange) -> list[str]:
    """The BAD notes httplint finds in the request and in the response."""
    request = HttpRequestLinter()
    request.process_request_topline(
        exchange.method.encode(), b"http://testserver" + exchange.target.encode(), b"HTTP/1.1"
    )
    request.process_headers(
        [(n.encode(), v.encode("latin-1")) for n, v in exchange.request_headers]
    )
    request.feed_content(exchange.request_body or b"")
    request.finish_content(True)
    response = HttpResponseLinter(_related=request)
    response.is_head_response = exchange.method == "HEAD"
    response.process_response_topline(b"HTTP/1.1", str(exchange.status).encode(), b"Status")
    response.process_headers([(n.encode(), v.encode("latin-1")) for n, v in exchange.headers])
    response.feed_content(exchange.body)
    response.finish_content(True)
    linters = (request, response) if exchange.lint_request else (response,)
    return [
        f"{type(note).__name__}: {note}"
        for linter in linters
        for note in _walk(linter.notes)
        if note.level is levels.BAD
    ]


def _walk(notes: Sequence[object]) -> list[object]:
    found: list[object] = []
    for note in notes:
        found.append(note)
        found.extend(_walk(getattr(note, "subnotes", [])))
    return found


def with_date(headers: Headers) -> Headers:
    """Add ``Date`` as a real server would: test clients call the app without one."""
    if any(name.lower() == "date" for name, _ in headers):
        return headers
    return [*headers, ("Date", format_http_date(datetime.now(UTC)))]


def outcome(status: int) -> str:
    return "proceed" if 200 <= status < 300 else str(status)


@dataclass
class Runner:
    """Runs conformance cases against ``{base}{key}`` through ``send``."""

    send: Send
    base: str = "/documents/"
    body_type: str = "application/json"
    exchanges: list[Exchange] = field(default_factory=list, repr=False)

    def request(
        self,
        method: str,
        target: str,
        headers: Headers = (),
        body: object = None,  # type: ignore[assignment]
    ) -> Exchange:
        data = None if body is None else json.dumps(body).encode()
        sent = [*BASE_HEADERS, *headers]
        if data is not None:
            sent.append(("Content-Type", self.body_type))
        exchange = self.send(method, target, sent, data)
        self.exchanges.append(exchange)
        return exchange

    def create(self, target: str, text: str = "first") -> Exchange:
        created = self.request("PUT", target, [("If-None-Match", "*")], {"text": text})
        assert created.status == 201, (created.status, created.body)
        return created

    def current_etag(self, target: str) -> str | None:
        return self.request("GET", target).header("ETag")

    def run(self, case: Case) -> Exchange:
        target = f"{self.base}{uuid.uuid4().hex[:12]}"
        etag: ETag = version_etag(0)  # a placeholder: the resource does not exist
        last_modified = datetime(2026, 1, 1, tzinfo=UTC)
        if case.exists:
            created = self.create(target)
            etag = parse_etag(created.header("ETag") or "")
            last_modified = parse_http_date(created.header("Last-Modified") or "") or last_modified
        headers = render_headers(case, etag, last_modified)
        body = {"text": f"by {case.id}"} if case.method in {"PUT", "PATCH"} else None
        exchange = self.request(case.method, target, headers, body)
        exchange.lint_request = False
        assert outcome(exchange.status) == case.expect, (case.id, exchange.status, exchange.body)
        self.check_carries(case, exchange, str(etag))
        if case.method in UNSAFE and case.expect != "proceed":
            # No unguarded write: the refused request changed nothing.
            after = self.current_etag(target)
            assert after == (str(etag) if case.exists else None), (case.id, after)
        return exchange

    def check_carries(self, case: Case, exchange: Exchange, etag: str) -> None:
        status = exchange.status
        if status == 304:
            assert exchange.body == b""
            assert exchange.header("ETag") == etag
        elif status >= 400:
            assert (exchange.header("Content-Type") or "").startswith(PROBLEM_MEDIA_TYPE)
            assert exchange.json()["status"] == status
            if status in (412, 428) and case.exists:
                assert exchange.header("ETag") == etag
        elif case.method in {"PUT", "PATCH"}:
            new = exchange.header("ETag")
            assert new is not None and new != etag, (case.id, new)
        elif case.method in {"GET", "HEAD"}:
            assert exchange.header("ETag") == etag

    def lint_all(self) -> None:
        """Every exchange recorded so far passes httplint with no BAD note."""
        failures = [(e.method, e.target, e.status, lint(e)) for e in self.exchanges]
        bad = [failure for failure in failures if failure[3]]
        assert not bad, bad[:5]


# --- fuzzing: no 500, no unguarded write ----------------------------------------------------

PRECONDITION_NAMES = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")


def header_values() -> st.SearchStrategy[str]:
    """Header values from near-valid to garbage (latin-1 text without CR/LF/NUL)."""
    opaque = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), max_size=12)
    pieces = st.one_of(
        st.sampled_from(["*", '"v1"', 'W/"v1"', "v1", '"stale"', "", ",", '"', "W/", " "]),
        opaque.map(lambda text: f'"{text}"'),
        opaque,
        st.sampled_from(["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT"]),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=20),
    )
    return st.lists(pieces, max_size=4).map(", ".join)


def fuzzed_headers() -> st.SearchStrategy[Headers]:
    return st.lists(st.tuples(st.sampled_from(PRECONDITION_NAMES), header_values()), max_size=4)


def check_fuzzed(runner: Runner, target: str, method: str, headers: Headers) -> None:
    """Send one fuzzed request to the existing resource at ``target`` (whose tag is never
    ``"v1"``-current when the fuzzer names it: the resource is at version 2 or more)."""
    before = runner.current_etag(target)
    sent = [(name, value.strip(" \t")) for name, value in headers]
    body = {"text": "fuzzed"} if method in {"PUT", "PATCH"} else None
    exchange = runner.request(method, target, sent, body)
    exchange.lint_request = False
    assert exchange.status < 500, (exchange.status, exchange.body)
    assert exchange.status in {200, 204, 304, 400, 412, 428}, exchange.status
    after = runner.current_etag(target) if method != "DELETE" or exchange.status >= 300 else None
    if exchange.status >= 300 and method in UNSAFE:
        assert after == before, (headers, exchange.status)
    if 200 <= exchange.status < 300 and method in UNSAFE:
        # A write went through: the request must have carried a precondition that parses,
        # i.e. never an absent or malformed one (428 / 400 otherwise).
        parsed = Preconditions.from_headers(sent)
        assert (parsed.if_match, parsed.if_none_match, parsed.if_unmodified_since) != (
            None,
            None,
            None,
        ), headers
