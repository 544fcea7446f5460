"""Serializer fields for the "ETags in result entities" scheme.

List and search responses carry each item's entity-tag as a read-only member (``etag`` by
default, ``_etag`` for HAL/Eve-style clients). It is exactly the tag the item's own ``ETag``
header carries, so a client can send it as ``If-Match`` to update the item straight from a
search result; if a client sends it back in a request body it is ignored (read-only).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from rest_framework import serializers

from ...stores.django import snapshot_of
from .settings import ifmatch_settings

__all__ = ["ETagField", "ETagSerializerMixin", "HalLinksField"]


class ETagField(serializers.Field[Any, Any, Any, Any]):
    """The item's version entity-tag, read-only.

    Args:
        quoted: write ``"v3"`` (a full entity-tag) instead of the bare token ``v3``; both are
            accepted in ``If-Match``. Default: ``IFMATCH["ETAG_FIELD_QUOTED"]``.
        variant: the representation variant, as the item view uses it.
    """

    def __init__(
        self, *, quoted: bool | None = None, variant: str | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("source", "*")
        kwargs["read_only"] = True
        super().__init__(**kwargs)
        self.quoted = quoted
        self.variant = variant

    def to_representation(self, value: Any) -> str:
        tag = snapshot_of(value).etag(variant=self.variant)
        quoted = ifmatch_settings.ETAG_FIELD_QUOTED if self.quoted is None else self.quoted
        return str(tag) if quoted else tag.opaque


class ETagSerializerMixin:
    """Add an :class:`ETagField` named ``IFMATCH["ETAG_FIELD_NAME"]`` (or
    ``Meta.etag_field_name``) to a serializer."""

    def get_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = super().get_fields()  # type: ignore[misc]
        meta = getattr(self, "Meta", None)
        name = getattr(meta, "etag_field_name", None) or ifmatch_settings.ETAG_FIELD_NAME
        fields.setdefault(name, ETagField())
        return fields


class HalLinksField(serializers.Field[Any, Any, Any, Any]):
    """A read-only HAL ``_links`` member: ``{"self": {"href": <item URL>}}``.

    Args:
        view_name: the URL name of the item route (``"document-detail"`` for a router).
        lookup_field: the instance attribute put in the URL (default ``pk``).
        lookup_url_kwarg: the URL keyword argument (default: ``lookup_field``).
    """

    def __init__(
        self,
        *,
        view_name: str,
        lookup_field: str = "pk",
        lookup_url_kwarg: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("source", "*")
        kwargs["read_only"] = True
        super().__init__(**kwargs)
        self.view_name = view_name
        self.lookup_field = lookup_field
        self.lookup_url_kwarg = lookup_url_kwarg or lookup_field

    def to_representation(self, value: Any) -> dict[str, Any]:
        from django.urls import reverse

        href = reverse(
            self.view_name, kwargs={self.lookup_url_kwarg: getattr(value, self.lookup_field)}
        )
        request = self.context.get("request")
        if request is not None:
            href = request.build_absolute_uri(href)
        return {"self": {"href": href}}


def _register_schema_extensions() -> None:
    # drf-spectacular is optional: when it is installed, teach it these fields' schema
    # (ifmatch.integrations.drf.spectacular) so schema generation does not warn about them.
    if importlib.util.find_spec("drf_spectacular") is not None:
        from . import spectacular  # noqa: F401


_register_schema_extensions()
