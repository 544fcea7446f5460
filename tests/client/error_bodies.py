"""A document server for the error-body seam: strict PUT semantics and every refusal format.

``DocumentServer`` serves one JSON document at ``/docs/1`` for ``httpx.MockTransport``. Its
writes are what RFC 9110 says a PUT is: the enclosed representation *replaces* the stored one,
verbatim, so anything a client sends that is not the document (an error body it mistook for
the document) lands in the store, where a test sees it. Preconditions are evaluated by the
ifmatch core; a refused write is answered with the status and the body format under test.

``FORMATS`` holds every body a 412 / 409 can come with: the ones ifmatch itself emits
(``render_problem`` as every integration calls it, with and without DRF's ``current``), and
foreign ones. Only ``usable`` formats may be taken for the current representation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ifmatch.client.patch import apply_json_patch, apply_merge_patch
from ifmatch.core import (
    PreconditionFailed,
    Proceed,
    ResourceState,
    decision_problem,
    evaluate,
    problem,
    version_etag,
)
from ifmatch.integrations._fields import render_problem

PATH = "/docs/1"
INITIAL: dict[str, Any] = {"title": "T", "body": "b", "tags": ["a"]}


@dataclass(frozen=True)
class Refusal:
    """What the server knows when it refuses a write: the status it answers with, the stored
    document and version (``None`` once deleted), and the If-Match the client sent."""

    status: int
    current: dict[str, Any] | None
    version: int
    if_match: str | None
    stale: dict[str, Any]

    @property
    def etag(self) -> str | None:
        return None if self.current is None else str(version_etag(self.version))


Rendered = tuple[list[tuple[str, str]], bytes]


def ifmatch_problem(refusal: Refusal, *, current: bool = False) -> dict[str, Any]:
    """The problem object an ifmatch integration builds for this refusal (DRF adds ``current``
    with ``INCLUDE_CURRENT_REPRESENTATION``)."""
    if refusal.status == 412:
        resource = ResourceState(
            None if refusal.etag is None else version_etag(refusal.version),
            exists=refusal.current is not None,
        )
        headers = [] if refusal.if_match is None else [("If-Match", refusal.if_match)]
        decision = evaluate("PUT", headers, resource)
        assert isinstance(decision, PreconditionFailed)
        body = decision_problem(decision, instance=PATH)
    else:
        body = problem(
            409,
            "The resource is at another version: re-read it, re-apply your change and retry.",
            code="version-conflict",
            instance=PATH,
            current_version=refusal.version if refusal.current is not None else None,
            current_etag=refusal.etag,
        )
    if current and refusal.current is not None:
        body["current"] = refusal.current
    return body


def _ifmatch(error_format: str, *, current: bool) -> Callable[[Refusal], Rendered]:
    def render(refusal: Refusal) -> Rendered:
        tag = None if refusal.etag is None else version_etag(refusal.version)
        content, headers = render_problem(
            ifmatch_problem(refusal, current=current), error_format, tag
        )
        return list(headers), content

    return render


def _json(
    media_type: str, body: Callable[[Refusal], Any], *, etag_header: bool = True
) -> Callable[[Refusal], Rendered]:
    def render(refusal: Refusal) -> Rendered:
        headers = [("Content-Type", media_type)]
        if etag_header and refusal.etag is not None:
            headers.append(("ETag", refusal.etag))
        return headers, json.dumps(body(refusal)).encode()

    return render


def _raw(media_type: str | None, content: bytes) -> Callable[[Refusal], Rendered]:
    def render(refusal: Refusal) -> Rendered:
        headers = [] if media_type is None else [("Content-Type", media_type)]
        if refusal.etag is not None:
            headers.append(("ETag", refusal.etag))
        return headers, content

    return render


def _problem_with(**members: Callable[[Refusal], Any]) -> Callable[[Refusal], Any]:
    def body(refusal: Refusal) -> Any:
        found = ifmatch_problem(refusal)
        found.update({name: value(refusal) for name, value in members.items()})
        return {name: value for name, value in found.items() if value is not None}

    return body


def _headers_differ(refusal: Refusal) -> Rendered:
    # current_etag names the current version, but current is an older copy, and the ETag
    # header names yet another tag: which tag goes with current cannot be told.
    body = {**ifmatch_problem(refusal), "current": refusal.stale}
    headers = [("Content-Type", "application/problem+json")]
    if refusal.etag is not None:
        headers.append(("ETag", str(version_etag(refusal.version + 7))))
    return headers, json.dumps(body).encode()


@dataclass(frozen=True)
class ErrorFormat:
    name: str
    render: Callable[[Refusal], Rendered]
    usable: bool = False

    def __str__(self) -> str:
        return self.name


def _jsonapi_current(refusal: Refusal) -> Rendered:
    # An ifmatch JSON:API error document carries DRF's "current" in the error's meta.
    content, headers = render_problem(ifmatch_problem(refusal, current=True), "jsonapi", None)
    extra = [] if refusal.etag is None else [("ETag", refusal.etag)]
    return [*headers, *extra], content


FORMATS: tuple[ErrorFormat, ...] = (
    # What ifmatch emits.
    ErrorFormat("ifmatch-problem", _ifmatch("problem", current=False)),
    ErrorFormat("ifmatch-problem-current", _ifmatch("problem", current=True), usable=True),
    ErrorFormat("ifmatch-jsonapi", _ifmatch("jsonapi", current=False)),
    ErrorFormat("ifmatch-jsonapi-current", _jsonapi_current),
    # Another server's problem carrying the representation, without an ETag header.
    ErrorFormat(
        "problem-current-no-etag-header",
        _json(
            "application/problem+json",
            _problem_with(current=lambda r: r.current),
            etag_header=False,
        ),
        usable=True,
    ),
    # Foreign bodies.
    ErrorFormat(
        "html-page",
        _raw(
            "text/html; charset=utf-8",
            b"<!doctype html><title>412 Precondition Failed</title><h1>Precondition Failed</h1>",
        ),
    ),
    ErrorFormat("text-plain", _raw("text/plain", b"Precondition Failed")),
    ErrorFormat("empty-body", _raw(None, b"")),
    ErrorFormat("drf-detail", _json("application/json", lambda r: {"detail": "Conflict."})),
    ErrorFormat(
        "error-object",
        _json("application/json", lambda r: {"error": {"code": r.status, "message": "stale"}}),
    ),
    ErrorFormat(
        # A problem object labelled plain JSON: it has a "title" like the document.
        "problem-labelled-json",
        _json("application/json", lambda r: ifmatch_problem(r)),
    ),
    ErrorFormat(
        # The body is the current document, but only as plain JSON: nothing says it is.
        "json-lookalike",
        _json("application/json", lambda r: r.stale),
    ),
    ErrorFormat(
        # "current" here is some other state (a lock), and no current_etag says otherwise.
        "problem-current-without-current-etag",
        _json(
            "application/problem+json",
            _problem_with(
                current=lambda r: {"locked_by": "ada", "since": "10:00"},
                current_etag=lambda r: None,
            ),
        ),
    ),
    ErrorFormat(
        "problem-current-string",
        _json("application/problem+json", _problem_with(current=lambda r: "T / b / a")),
    ),
    ErrorFormat(
        "problem-current-list",
        _json(
            "application/problem+json",
            _problem_with(current=lambda r: None if r.current is None else list(r.current)),
        ),
    ),
    ErrorFormat(
        "problem-current-weak-etag",
        _json(
            "application/problem+json",
            _problem_with(
                current=lambda r: r.current,
                current_etag=lambda r: None if r.etag is None else "W/" + r.etag,
            ),
            etag_header=False,
        ),
    ),
    ErrorFormat("etag-header-differs", _headers_differ),
    ErrorFormat(
        "problem-status-differs",
        _json(
            "application/problem+json",
            _problem_with(current=lambda r: r.current, status=lambda r: 400),
        ),
    ),
    ErrorFormat(
        "problem-not-an-object",
        _json("application/problem+json", lambda r: [{"current": r.current}]),
    ),
    ErrorFormat("problem-invalid-json", _raw("application/problem+json", b'{"current": {')),
)


@dataclass
class DocumentServer:
    """``/docs/1`` with strict PUT, merge-patch and JSON Patch, refusing in ``error_format``.

    ``other_writer`` runs once, right after the first GET has been answered: the concurrent
    edit the client's write will collide with.
    """

    error_format: ErrorFormat
    status: int = 412
    other_writer: Callable[[DocumentServer], None] | None = None
    document: dict[str, Any] | None = field(default_factory=lambda: dict(INITIAL))
    version: int = 1
    requests: list[httpx.Request] = field(default_factory=list)
    #: every document a client write stored, in order
    written: list[dict[str, Any]] = field(default_factory=list)
    _gets: int = 0

    def edit(self, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Another writer's edit (never counted in :attr:`written`)."""
        assert self.document is not None
        self.document = change(dict(self.document))
        self.version += 1

    def delete(self) -> None:
        self.document = None
        self.version += 1

    @property
    def etag(self) -> str:
        return str(version_etag(self.version))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path != PATH:
            return httpx.Response(404)
        if request.method == "GET":
            return self._get()
        resource = ResourceState(
            version_etag(self.version) if self.document is not None else None,
            exists=self.document is not None,
        )
        decision = evaluate(request.method, request.headers.multi_items(), resource)
        if isinstance(decision, PreconditionFailed):
            return self._refuse(request)
        if not isinstance(decision, Proceed):
            content, headers = render_problem(decision_problem(decision), "problem", None)
            return httpx.Response(decision.status, headers=list(headers), content=content)
        return self._write(request)

    def _get(self) -> httpx.Response:
        if self.document is None:
            return httpx.Response(404)
        response = httpx.Response(200, headers={"ETag": self.etag}, json=self.document)
        self._gets += 1
        if self._gets == 1 and self.other_writer is not None:
            self.other_writer(self)
        return response

    def _refuse(self, request: httpx.Request) -> httpx.Response:
        refusal = Refusal(
            self.status,
            None if self.document is None else dict(self.document),
            self.version,
            request.headers.get("If-Match"),
            dict(INITIAL),
        )
        headers, content = self.error_format.render(refusal)
        return httpx.Response(self.status, headers=headers, content=content)

    def _write(self, request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            self.document = None
            self.version += 1
            return httpx.Response(204)
        try:
            sent = json.loads(request.content)
        except ValueError:
            return httpx.Response(400)
        media_type = request.headers.get("Content-Type", "")
        if request.method == "PATCH" and media_type == "application/json-patch+json":
            new = apply_json_patch(self.document, sent)
        elif request.method == "PATCH":
            new = apply_merge_patch(self.document, sent)
        else:
            new = sent  # RFC 9110 §9.3.4: the enclosed representation replaces the state
        if not isinstance(new, dict):
            return httpx.Response(400)
        self.document = new
        self.version += 1
        self.written.append(dict(new))
        return httpx.Response(200, headers={"ETag": self.etag}, json=new)

    def methods(self) -> list[str]:
        """The methods of the requests received, in order."""
        return [request.method for request in self.requests]
