"""Error bodies: RFC 9457 problem details, and the JSON:API error document variant.

Bodies are plain dicts; adapters serialise them with their framework's JSON encoder and the
media type below. The ``type`` is ``about:blank`` (so ``title`` is the status phrase) unless a
``type_base`` URI is given, and a ``code`` extension member tells failures apart.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from .decisions import BadPrecondition, Decision, PreconditionFailed, PreconditionRequired
from .etag import ETag

__all__ = [
    "JSONAPI_MEDIA_TYPE",
    "PROBLEM_MEDIA_TYPE",
    "decision_problem",
    "jsonapi_errors",
    "problem",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
JSONAPI_MEDIA_TYPE = "application/vnd.api+json"


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    title: str | None = None,
    type_base: str | None = None,
    instance: str | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    """Build an RFC 9457 problem object.

    >>> problem(412, "Stale.", code="etag-mismatch")["title"]
    'Precondition Failed'
    """
    body: dict[str, Any] = {
        "type": "about:blank" if type_base is None or code is None else type_base + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    if code is not None:
        body["code"] = code
    body.update({key: value for key, value in extensions.items() if value is not None})
    return body


def _etag_member(etag: ETag | None) -> str | None:
    return None if etag is None else str(etag)


def decision_problem(
    decision: Decision,
    *,
    instance: str | None = None,
    type_base: str | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    """Build the problem body for a failing decision (400, 412 or 428).

    The current entity-tag travels as ``current_etag`` so a client can re-read and retry.

    Raises:
        ValueError: the decision is ``Proceed`` or ``NotModified``, which have no body.
    """
    common = {"instance": instance, "type_base": type_base}
    if isinstance(decision, PreconditionFailed):
        return problem(
            412,
            decision.detail,
            code=decision.code,
            header=decision.header,
            current_etag=_etag_member(decision.current_etag),
            **common,
            **extensions,
        )
    if isinstance(decision, PreconditionRequired):
        return problem(
            428,
            decision.detail,
            code="precondition-required",
            current_etag=_etag_member(decision.current_etag),
            **common,
            **extensions,
        )
    if isinstance(decision, BadPrecondition):
        return problem(
            400,
            f"Malformed {decision.header} header: {decision.detail}",
            code="invalid-header",
            header=decision.header,
            **common,
            **extensions,
        )
    raise ValueError(f"{type(decision).__name__} has no problem body")


def jsonapi_errors(problem_body: dict[str, Any]) -> dict[str, Any]:
    """Convert a problem object to a JSON:API error document (``{"errors": [...]}``)."""
    error: dict[str, Any] = {
        "status": str(problem_body["status"]),
        "title": problem_body["title"],
        "detail": problem_body["detail"],
    }
    if "code" in problem_body:
        error["code"] = problem_body["code"]
    if "header" in problem_body:
        error["source"] = {"header": problem_body["header"]}
    meta = {
        key: value
        for key, value in problem_body.items()
        if key not in {"type", "title", "status", "detail", "code", "header", "instance"}
    }
    if meta:
        error["meta"] = meta
    return {"errors": [error]}
