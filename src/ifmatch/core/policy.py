"""What a protected resource demands of requests: one frozen, validated value."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .etag import DEFAULT_MAX_HEADER_LENGTH, DEFAULT_MAX_TAGS

__all__ = ["DEFAULT_POLICY", "Policy"]

_TOKEN = re.compile(r"[A-Z!#$%&'*+.^_`|~0-9-]+")


@dataclass(frozen=True, slots=True)
class Policy:
    """How strictly preconditions are required and read.

    Attributes:
        require_precondition: methods that must carry a precondition; without one the answer
            is 428 Precondition Required (RFC 6585 §3). Empty to require nothing.
        warn_only: instead of 428, let the request proceed with a warning the adapter logs.
            For migrating an existing API whose clients do not send If-Match yet.
        unmodified_since_counts: whether a valid If-Unmodified-Since satisfies the requirement
            (only for resources that have a Last-Modified).
        accept_weak_echo: accept ``W/"v…"`` in If-Match as the same version when the current
            tag is one of ifmatch's own version tags. Compressing proxies (nginx gzip, Django's
            GZipMiddleware) weaken strong tags, after which every write would fail. RFC 9110
            requires strong comparison, so this is off by default; it is safe for version tags
            because they name a stored version, not a byte sequence.
        max_header_length: longest If-Match / If-None-Match value accepted (else 400).
        max_tags: most tags accepted in one list (else 400).
    """

    require_precondition: frozenset[str] = field(
        default_factory=lambda: frozenset({"PUT", "PATCH", "DELETE"})
    )
    warn_only: bool = False
    unmodified_since_counts: bool = True
    accept_weak_echo: bool = False
    max_header_length: int = DEFAULT_MAX_HEADER_LENGTH
    max_tags: int = DEFAULT_MAX_TAGS

    def __post_init__(self) -> None:
        methods = frozenset(self.require_precondition)
        for method in methods:
            if not isinstance(method, str) or _TOKEN.fullmatch(method) is None:
                raise ValueError(f"not an upper-case HTTP method: {method!r}")
        object.__setattr__(self, "require_precondition", methods)
        if self.max_header_length < 1:
            raise ValueError("max_header_length must be positive")
        if self.max_tags < 1:
            raise ValueError("max_tags must be positive")


DEFAULT_POLICY = Policy()
