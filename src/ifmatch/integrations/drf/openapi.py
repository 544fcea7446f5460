"""OpenAPI for conditional views with drf-spectacular.

Set ``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] =
"ifmatch.integrations.drf.openapi.ConditionalAutoSchema"`` (or ``schema =
ConditionalAutoSchema()`` on a view). Operations of views using ``ConditionalMixin`` then
document the ``If-Match`` / ``If-None-Match`` / ``If-Unmodified-Since`` /
``If-Modified-Since`` parameters, the ``ETag`` and ``Last-Modified`` response headers, and the
304, 400, 412 and 428 (or, for the version scheme, 409) responses with problem+json bodies,
and, where the view honours it, the ``Idempotency-Key`` header with its 409 and 422.
Other views are documented exactly as drf-spectacular's ``AutoSchema`` documents them.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from ...core.problems import PROBLEM_MEDIA_TYPE
from .._idempotency import Idempotency
from .mixins import ConditionalMixin

__all__ = ["PROBLEM_SCHEMA", "ConditionalAutoSchema"]

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "format": "uri-reference"},
        "code": {"type": "string", "description": "Machine-readable reason."},
        "current_etag": {"type": "string", "description": "The current entity-tag."},
    },
    "required": ["type", "title", "status", "detail"],
}
_UNSAFE = {"PUT", "PATCH", "DELETE"}


def _header(name: str, description: str, *, required: bool = False) -> OpenApiParameter:
    return OpenApiParameter(
        name, OpenApiTypes.STR, OpenApiParameter.HEADER, required=required, description=description
    )


def _requires_precondition(view: ConditionalMixin, method: str) -> bool:
    # Warn-only mode logs a missing precondition instead of answering 428.
    policy = view.get_ifmatch_policy()
    return method in policy.require_precondition and not policy.warn_only


def _requirement(required: bool, creates: bool) -> str:
    if not required:
        return ""
    if creates:
        return "Required to update; to create, send If-None-Match: * instead (428 without either)."
    return "Required (428 without a precondition)."


def _keys(view: ConditionalMixin) -> Idempotency | None:
    from .mixins import _KEY_ATTRIBUTES, _overrides
    from .settings import ifmatch_settings

    return ifmatch_settings.idempotency(_overrides(view, _KEY_ATTRIBUTES))


class ConditionalAutoSchema(AutoSchema):
    """``AutoSchema`` that documents ifmatch's headers and status codes."""

    def _conditional(self) -> ConditionalMixin | None:
        view = self.view
        return view if isinstance(view, ConditionalMixin) else None

    def _is_list(self) -> bool:
        return bool(self._is_list_view())

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        view = self._conditional()
        if view is None:
            return parameters
        method = self.method.upper()
        required = _requires_precondition(view, method)
        if method in {"GET", "HEAD"}:
            parameters.append(
                _header("If-None-Match", "Answer 304 if the current entity-tag is listed.")
            )
            if not self._is_list():
                parameters.append(
                    _header("If-Modified-Since", "Answer 304 if not modified since this date.")
                )
        elif method in _UNSAFE:
            # With PUT-create, If-None-Match: * alone is a valid precondition (create only if
            # absent), so If-Match cannot be required on PUT.
            creates = method == "PUT" and view.ifmatch_allow_put_create
            parameters.append(
                _header(
                    "If-Match",
                    "Entity-tag(s) of the representation you read (ETag header or the items' "
                    "etag member); 412 if the resource has changed. "
                    + _requirement(required, creates),
                    required=required and view.ifmatch_scheme == "etag" and not creates,
                )
            )
            parameters.append(
                _header("If-Unmodified-Since", "Last-Modified you read; 412 if modified since.")
            )
            if method == "PUT":
                parameters.append(_header("If-None-Match", "`*`: create only if absent."))
        keys = _keys(view)
        if keys is not None and method in keys.methods:
            parameters.append(
                _header(
                    "Idempotency-Key",
                    "A unique key per logical write, sent again unchanged on every retry: a "
                    "retry of a write that committed gets its first answer "
                    "(Idempotent-Replayed: true); 409 while it is in flight; 422 if the key was "
                    "used with another request.",
                    required=method in keys.required,
                )
            )
        codes = ["200", "201"]
        parameters.append(
            OpenApiParameter(
                "ETag",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=codes,
                description="Strong entity-tag of the current version.",
            )
        )
        parameters.append(
            OpenApiParameter(
                "Last-Modified",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=codes,
                description="HTTP-date of the last change (database clock).",
            )
        )
        return parameters

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        view = self._conditional()
        if view is None:
            return responses
        method = self.method.upper()
        problem = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}
        if method in {"GET", "HEAD"}:
            responses["304"] = {"description": "Not Modified: the entity-tag still matches."}
        if method in _UNSAFE:
            responses["400"] = {"description": "Malformed precondition header.", "content": problem}
            responses["412"] = {
                "description": "Precondition Failed: the resource changed since you read it; "
                "the ETag header and current_etag carry its current tag.",
                "content": problem,
            }
            if _requires_precondition(view, method):
                responses["428"] = {
                    "description": "Precondition Required: send If-Match.",
                    "content": problem,
                }
            if view.ifmatch_scheme == "version":
                responses["409"] = {
                    "description": "Conflict: the version in the body is not current.",
                    "content": problem,
                }
        keys = _keys(view)
        if keys is not None and method in keys.methods:
            responses.setdefault(
                "409",
                {
                    "description": "Conflict: a request with this Idempotency-Key is in flight.",
                    "content": problem,
                },
            )
            responses["422"] = {
                "description": "This Idempotency-Key was used with another request.",
                "content": problem,
            }
        if method in _UNSAFE | {"POST"}:
            responses["503"] = {
                "description": "The database could not be reached; the outcome of a write is "
                "unknown (read again, or retry with the same Idempotency-Key).",
                "content": problem,
            }
        return responses
