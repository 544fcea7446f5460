"""An in-process HTTP client for the test project that records and lints every exchange."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from django.http import HttpResponseBase
from django.test import Client

from ifmatch.core import format_http_date
from integrations.http_conformance import Exchange, with_date

from .lint import lint_exchange


def _join(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    # Repeated lines are joined with ", " as a WSGI server does (RFC 9110 §5.3).
    joined: dict[str, str] = {}
    for name, value in headers:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


class LintingClient:
    """Send requests through Django's test client; lint each exchange with httplint."""

    def __init__(self, *, fields_under_test: bool = False) -> None:
        self.client = Client()
        self.problems: list[str] = []
        self.fields_under_test = fields_under_test

    def request(
        self,
        method: str,
        path: str,
        headers: Iterable[tuple[str, str]] = (),
        body: dict[str, Any] | None = None,
    ) -> HttpResponseBase:
        joined = _join(headers)
        payload = b"" if body is None else json.dumps(body).encode()
        sent = [("Host", "testserver"), ("User-Agent", "ifmatch-tests"), *joined.items()]
        if body is not None:
            sent += [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        response = self.client.generic(
            method,
            path,
            data=payload,
            content_type="application/json",
            headers=joined,
        )
        content = b"" if getattr(response, "streaming", False) else response.content
        if method == "HEAD":
            content = b""
        received = list(response.items())
        if not response.has_header("Date"):
            # The WSGI server (gunicorn) adds Date; the in-process handler does not.
            received.append(("Date", format_http_date(datetime.now(UTC))))
        self.problems += lint_exchange(
            method,
            "http://testserver" + path,
            sent,
            payload,
            response.status_code,
            HTTPStatus(response.status_code).phrase,
            received,
            content,
            fields_under_test=self.fields_under_test,
        )
        return response


def runner_send(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
) -> Exchange:
    """One request through Django's test client as an ``integrations.http_conformance``
    exchange, so the shared ``Runner`` can drive the test project."""
    joined = _join(headers)
    joined.pop("Host", None)
    content_type = joined.pop("Content-Type", "application/json")
    response = Client().generic(
        method, target, data=body or b"", content_type=content_type, headers=joined
    )
    content = b"" if getattr(response, "streaming", False) else response.content
    return Exchange(
        method,
        target,
        headers,
        body,
        response.status_code,
        with_date(list(response.items())),
        b"" if method == "HEAD" else content,
    )
