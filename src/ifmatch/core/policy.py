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
        max_header_length: longest value of each precondition field, its lines joined
            (else 400).
        max_tags: most tags accepted in one list (else 400).
        accept_bare_version_token: accept an If-Match / If-None-Match that is exactly one
            unquoted token equal to the current version tag's opaque-tag (``If-Match: v3``
            for ``"v3"``), as that strong tag. halchemy and other Eve-style clients send the
            bare ``_etag`` member of a list item this way. It is not entity-tag syntax (RFC
            9110 §8.8.3), so this is a deliberate, documented deviation, on by default. A
            lone token in If-Match that is not the current version tag is then a false
            precondition (412: re-read), in If-None-Match malformed (400). Off: every unquoted
            token is malformed (400).
    """

    require_precondition: frozenset[str] = field(
        default_factory=lambda: frozenset({"PUT", "PATCH", "DELETE"})
    )
    warn_only: bool = False
    unmodified_since_counts: bool = True
    accept_weak_echo: bool = False
    max_header_length: int = DEFAULT_MAX_HEADER_LENGTH
    max_tags: int = DEFAULT_MAX_TAGS
    # Last, so that positional construction written before it existed keeps its meaning.
    accept_bare_version_token: bool = True

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
