"""drf-spectacular field extensions: the OpenAPI schema of ``ETagField`` and ``HalLinksField``.

Imported by ``ifmatch.integrations.drf.serializers`` when drf-spectacular is installed, so a
schema built from a serializer using these fields (with ``AutoSchema`` or
``ConditionalAutoSchema``) documents them exactly, without "could not resolve serializer
field" warnings. Subclasses are matched too.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension

from .settings import ifmatch_settings

__all__ = ["ETagFieldExtension", "HalLinksFieldExtension", "LINK_SCHEMA"]

#: One HAL link object.
LINK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"href": {"type": "string", "format": "uri"}},
    "required": ["href"],
}


class ETagFieldExtension(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """``ETagField``: a read-only string, the item's entity-tag (quoted or the bare token)."""

    target_class = "ifmatch.integrations.drf.serializers.ETagField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        quoted = self.target.quoted
        if quoted is None:
            quoted = ifmatch_settings.ETAG_FIELD_QUOTED
        example = '"v3"' if quoted else "v3"
        return {
            "type": "string",
            "description": f"The item's entity-tag ({example}); send it in If-Match.",
            "example": example,
        }


class HalLinksFieldExtension(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """``HalLinksField``: HAL ``_links``, ``self`` and any further link relations."""

    target_class = "ifmatch.integrations.drf.serializers.HalLinksField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {
            "type": "object",
            "description": "HAL links: self is the item's URL.",
            "properties": {"self": LINK_SCHEMA},
            "required": ["self"],
            "additionalProperties": LINK_SCHEMA,
        }
