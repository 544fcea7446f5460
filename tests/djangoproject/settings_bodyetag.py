"""The test project's settings with the body entity-tag middleware in front (409 when stale)."""

from __future__ import annotations

from djangoproject.settings import *  # noqa: F403
from djangoproject.settings import MIDDLEWARE as _MIDDLEWARE

MIDDLEWARE = ["ifmatch.integrations.django_bodyetag.BodyETagMiddleware", *_MIDDLEWARE]
IFMATCH_BODY_ETAG = {"mismatch_status": 409}
