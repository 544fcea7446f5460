"""Body entity-tags (Google AIP-154 / AEP-154, Eve's ``_etag``) for Django and Django REST
framework.

Add the middleware before the views it serves (early in ``MIDDLEWARE``)::

    MIDDLEWARE = [
        "ifmatch.integrations.django_bodyetag.BodyETagMiddleware",
        ...,
    ]
    IFMATCH_BODY_ETAG = {"mismatch_status": 409}   # optional: BodyETag's fields, or a BodyETag

A ``PUT`` / ``PATCH`` / ``DELETE`` whose JSON body carries ``"etag": "\\"v3\\""`` reaches the
view as the same request with ``If-Match: "v3"`` and without the member, so the
``@conditional`` view or ``ConditionalMixin`` guards it with the model's compare-and-set, as it
guards the header. Refusals name the member; JSON representations carry their ``ETag`` in it.
The rules are in ``ifmatch.integrations._bodyetag``; see ``docs/body-etags.md``.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from ..core.errors import ConfigurationError
from ._bodyetag import (
    BodyETag,
    Rejected,
    Translated,
    is_json,
    too_large,
    translate_request,
    translate_response,
)

__all__ = ["BodyETagMiddleware", "body_etag_settings"]


def body_etag_settings() -> BodyETag:
    """The convention's settings: ``settings.IFMATCH_BODY_ETAG`` (a :class:`BodyETag`, or a
    dict of its fields), else the defaults.

    Raises:
        ConfigurationError: the setting is neither, or names an unknown field.
    """
    configured = getattr(settings, "IFMATCH_BODY_ETAG", None)
    if configured is None:
        return BodyETag()
    if isinstance(configured, BodyETag):
        return configured
    if isinstance(configured, dict):
        try:
            return BodyETag(**configured)
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f"IFMATCH_BODY_ETAG: {error}") from error
    raise ConfigurationError("IFMATCH_BODY_ETAG must be a BodyETag or a dict of its fields")


class BodyETagMiddleware:
    """Reads the body's entity-tag into ``If-Match`` before the view, and writes the answer's
    ``ETag`` into JSON representations after it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.config = body_etag_settings()

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        config = self.config
        method = (request.method or "GET").upper()
        path = request.path
        translated: Translated = Translated()
        if method in config.methods and is_json(request.META.get("CONTENT_TYPE")):
            declared = str(request.META.get("CONTENT_LENGTH") or "0").strip()
            if declared.isdigit() and int(declared) > config.max_body_size:
                return _rejected(too_large(config, path), config)
            read = translate_request(
                config,
                method,
                path,
                request.META.get("CONTENT_TYPE"),
                request.META.get("HTTP_IF_MATCH"),
                request.body,
            )
            if isinstance(read, Rejected):
                return _rejected(read, config)
            translated = read
            _pass_on(request, translated)
        response = self.get_response(request)
        if not isinstance(response, HttpResponse) or response.streaming:
            return response
        answer = translate_response(
            config,
            translated,
            method,
            path,
            response.status_code,
            list(response.items()),
            response.content,
        )
        if answer is not None:
            status, _fields, data = answer
            response.status_code = status
            response.content = data
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(data))
        return response


def _rejected(rejected: Rejected, config: BodyETag) -> HttpResponse:
    data, headers = rejected.render(config)
    response = HttpResponse(data, status=rejected.status)
    for name, value in headers:
        response[name] = value
    return response


def _pass_on(request: HttpRequest, translated: Translated) -> None:
    """Give the view the request with ``If-Match`` and the body without the member."""
    meta = request.META
    if translated.if_match is not None:
        meta["HTTP_IF_MATCH"] = translated.if_match
    if translated.body is not None:
        body = translated.body
        request._body = body  # HttpRequest.body's cache
        request._stream = io.BytesIO(body)
        meta["CONTENT_LENGTH"] = str(len(body))
        if not body:
            meta.pop("CONTENT_TYPE", None)
    # request.headers is cached from META on first use.
    request.__dict__.pop("headers", None)
