"""A JSON document as read from a server, together with the validators of that read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from ..core.etag import ETag
from .learning import DEFAULT_LEARNING, LearningConfig, response_validators, self_link
from .messages import MISSING, Response
from .validators import Validators

__all__ = ["Document"]


@dataclass(frozen=True, slots=True)
class Document:
    """A representation and the validators that came with it.

    A write based on this document carries its validators (``If-Match: <etag>``, or
    ``If-Unmodified-Since: <last_modified>``), so it succeeds only if nobody changed the
    resource since this read.

    Attributes:
        url: the URL it was read from.
        data: the decoded JSON (treat it as read-only; edit a copy).
        etag: its entity-tag, or ``None``.
        last_modified: its Last-Modified, or ``None``.
    """

    url: str
    data: Any
    etag: ETag | None = None
    last_modified: datetime | None = None

    @property
    def validators(self) -> Validators:
        return Validators(self.etag, self.last_modified)

    @property
    def self_url(self) -> str:
        """Where to write it: the HAL ``_links.self.href`` (or JSON:API ``links.self``) on the
        same origin, resolved against :attr:`url`; :attr:`url` when it names no such link.

        Plain ``url`` / ``self`` members are not followed for writes: a document may well have a
        ``url`` field that names something else."""
        if isinstance(self.data, dict):
            found = self_link(self.data, self.url, links_only=True)
            if found is not None:
                return found
        return self.url

    def link(self, rel: str) -> str | None:
        """The absolute URL of the HAL link relation ``rel`` (``_links.<rel>.href``), or
        ``None``. Follow it with ``client.read(doc.link("next"))``; writes to it carry the
        tag of *that* resource, never this one's."""
        links = self.data.get("_links") if isinstance(self.data, dict) else None
        if not isinstance(links, dict):
            return None
        target = links.get(rel)
        if isinstance(target, list) and target:
            target = target[0]
        href = target.get("href") if isinstance(target, dict) else None
        return urljoin(self.url, href) if isinstance(href, str) and href else None

    @classmethod
    def from_response(
        cls, url: str, response: Response, config: LearningConfig = DEFAULT_LEARNING
    ) -> Document:
        """The document a 2xx response carries (``data`` is ``None`` without a JSON body)."""
        body = response.json
        found = response_validators(response, config)
        return cls(url, None if body is MISSING else body, found.etag, found.last_modified)
