"""The ``IFMATCH`` settings namespace, read lazily (Django REST framework ``api_settings`` style).

In ``settings.py``::

    IFMATCH = {
        "WARN_ONLY": True,            # log instead of answering 428 while clients migrate
        "ACCEPT_WEAK_ECHO": True,     # behind a compressing proxy
    }

Every key can be overridden per view by a lower-case class attribute with an ``ifmatch_``
prefix (``ifmatch_warn_only = True``). This module imports Django only, never DRF, so the plain
Django integration uses it too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from ...core.errors import ConfigurationError
from ...core.etag import DEFAULT_MAX_HEADER_LENGTH, DEFAULT_MAX_TAGS
from ...core.policy import Policy
from .._idempotency import Idempotency

__all__ = ["DEFAULTS", "IfMatchSettings", "ifmatch_settings"]

DEFAULTS: dict[str, Any] = {
    # Methods that must carry a precondition (else 428). An empty list requires none.
    "REQUIRE_PRECONDITION": ("PUT", "PATCH", "DELETE"),
    # Let unconditional writes through and log a warning instead of answering 428.
    "WARN_ONLY": False,
    # Accept W/"v…" echoes of our own version tags in If-Match (compressing proxies).
    "ACCEPT_WEAK_ECHO": False,
    # Accept a field that is exactly the current version tag's bare token (If-Match: v3), as
    # halchemy / Eve-style clients send a list item's _etag; False refuses it with 400.
    "ACCEPT_BARE_VERSION_TOKEN": True,
    # Whether If-Unmodified-Since alone satisfies REQUIRE_PRECONDITION.
    "UNMODIFIED_SINCE_COUNTS": True,
    "MAX_TAGS": DEFAULT_MAX_TAGS,
    "MAX_HEADER_LENGTH": DEFAULT_MAX_HEADER_LENGTH,
    # Send Last-Modified (from the model's database-clock column) next to ETag.
    "SEND_LAST_MODIFIED": True,
    # The per-item entity-tag member of list payloads: "etag", or "_etag" for HAL/Eve clients.
    "ETAG_FIELD_NAME": "etag",
    # Write the per-item tag quoted ('"v3"') rather than as a bare token ('v3').
    "ETAG_FIELD_QUOTED": False,
    # The body member carrying the version number in the version scheme (409 on mismatch).
    "VERSION_FIELD_NAME": "version",
    # Put the current representation in 412/409 bodies so a client can merge without a GET.
    "INCLUDE_CURRENT_REPRESENTATION": False,
    # Prefix for problem "type" URIs (None: about:blank).
    "PROBLEM_TYPE_BASE": None,
    # "problem" (RFC 9457 application/problem+json) or "jsonapi" (JSON:API error document).
    "ERROR_FORMAT": "problem",
    # Send a collection entity-tag on list responses (one aggregate query) for cheap 304s.
    "COLLECTION_ETAG": True,
    # Logger for warn-only mode and lost writes.
    "LOGGER": "ifmatch",
    # Begin the write's transaction before the guarded write, so that what the view writes
    # after it (a history row, a signal's writes) commits with it or not at all.
    "ATOMIC_WRITES": False,
    # Honour Idempotency-Key on writes (records in the ifmatch.integrations.djangoapp app).
    "IDEMPOTENCY_KEYS": False,
    # Methods answered 400 without an Idempotency-Key (e.g. ("POST",)).
    "IDEMPOTENCY_REQUIRED": (),
    # Seconds a key's record is kept, and a claimed key counts as in flight.
    "IDEMPOTENCY_RETENTION": 86400,
    "IDEMPOTENCY_IN_FLIGHT": 30,
}


class IfMatchSettings:
    """Attribute access to ``settings.IFMATCH`` merged over :data:`DEFAULTS`, cached until a
    ``setting_changed`` signal for ``IFMATCH`` arrives."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None
        self._policies: dict[str, Policy] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        configured = getattr(django_settings, "IFMATCH", {}) or {}
        unknown = set(configured) - set(DEFAULTS)
        if unknown:
            raise ConfigurationError(f"unknown IFMATCH settings: {', '.join(sorted(unknown))}")
        return dict(configured)

    def _values(self) -> dict[str, Any]:
        if self._cache is None:
            self._cache = {**DEFAULTS, **self.user_settings}
        return self._cache

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"invalid IFMATCH setting: {name!r}")
        return self._values()[name]

    def reload(self) -> None:
        """Forget cached values (called when ``IFMATCH`` changes in tests)."""
        self._cache = None
        self._policies = {}

    def idempotency(self, overrides: dict[str, Any] | None = None) -> Idempotency | None:
        """The ``Idempotency-Key`` settings with per-view ``overrides``, or ``None`` when keys
        are not honoured."""
        values = {**self._values(), **(overrides or {})}
        if not values["IDEMPOTENCY_KEYS"]:
            return None
        return Idempotency(
            required=frozenset(m.upper() for m in values["IDEMPOTENCY_REQUIRED"]),
            retention=timedelta(seconds=float(values["IDEMPOTENCY_RETENTION"])),
            in_flight=timedelta(seconds=float(values["IDEMPOTENCY_IN_FLIGHT"])),
        )

    def policy(self, overrides: dict[str, Any] | None = None) -> Policy:
        """The core ``Policy`` for these settings, with per-view ``overrides`` applied (built
        and validated once per distinct set of overrides, as views ask for it per request)."""
        key = repr(sorted((overrides or {}).items()))
        found = self._policies.get(key)
        if found is None:
            if len(self._policies) >= 256:  # overrides computed per request: do not grow
                self._policies.clear()
            found = self._policies[key] = self._build_policy(overrides)
        return found

    def _build_policy(self, overrides: dict[str, Any] | None) -> Policy:
        values = {**self._values(), **(overrides or {})}
        return Policy(
            require_precondition=frozenset(m.upper() for m in values["REQUIRE_PRECONDITION"]),
            warn_only=bool(values["WARN_ONLY"]),
            unmodified_since_counts=bool(values["UNMODIFIED_SINCE_COUNTS"]),
            accept_weak_echo=bool(values["ACCEPT_WEAK_ECHO"]),
            max_header_length=int(values["MAX_HEADER_LENGTH"]),
            max_tags=int(values["MAX_TAGS"]),
            accept_bare_version_token=bool(values["ACCEPT_BARE_VERSION_TOKEN"]),
        )


ifmatch_settings = IfMatchSettings()


@receiver(setting_changed)
def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "IFMATCH":
        ifmatch_settings.reload()
