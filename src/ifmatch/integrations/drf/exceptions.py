"""DRF exceptions for precondition failures, rendered as RFC 9457 problem details.

Each carries the problem body (``.problem``) and the headers to send (``.headers``, the current
``ETag``). Views using ``ConditionalMixin`` render them as ``application/problem+json``; for
other views, set ``REST_FRAMEWORK["EXCEPTION_HANDLER"]`` to
``"ifmatch.integrations.drf.exceptions.exception_handler"``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from ...core.etag import ETag

__all__ = [
    "BadPrecondition",
    "IfMatchAPIException",
    "NotModified",
    "PreconditionFailed",
    "PreconditionRequired",
    "VersionConflict",
    "exception_handler",
]


class IfMatchAPIException(exceptions.APIException):
    """Base class: an API exception with an RFC 9457 problem body."""

    def __init__(self, problem: dict[str, Any], etag: ETag | None = None) -> None:
        super().__init__(detail=problem.get("detail"), code=problem.get("code"))
        self.problem = problem
        self.etag = etag
        self.status_code = int(problem["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.etag is None else {"ETag": str(self.etag)}

    def response(self, error_format: str | None = None) -> HttpResponse:
        """The problem+json response (or JSON:API): ``error_format``, by default
        ``IFMATCH["ERROR_FORMAT"]``."""
        from ..django import problem_response

        return problem_response(self.problem, etag=self.etag, error_format=error_format)


class BadPrecondition(IfMatchAPIException):
    """400: a malformed If-Match / If-None-Match header."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid-header"


class PreconditionFailed(IfMatchAPIException):
    """412: a precondition was false, or the guarded write lost the race."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "etag-mismatch"


class PreconditionRequired(IfMatchAPIException):
    """428: the write carried no precondition."""

    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_code = "precondition-required"


class VersionConflict(IfMatchAPIException):
    """409: the version number in the body is not the stored version."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "version-mismatch"


class NotModified(exceptions.APIException):
    """304, raised from ``get_object`` to short-circuit before the serializer runs."""

    status_code = status.HTTP_304_NOT_MODIFIED
    default_code = "not-modified"

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        super().__init__(detail="")
        self.validator_headers = headers


def exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """DRF ``EXCEPTION_HANDLER`` that renders ifmatch's exceptions as problem details."""
    if isinstance(exc, IfMatchAPIException):
        return exc.response()
    if isinstance(exc, NotModified):
        from django.http import HttpResponseNotModified

        response = HttpResponseNotModified()
        for name, value in exc.validator_headers:
            response[name] = value
        return response
    return drf_exception_handler(exc, context)
