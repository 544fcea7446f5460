"""The opt-in conditional-GET cache: revalidate stored representations, turn 304 into them.

This is not an HTTP cache (RFC 9111): it never answers without asking the server. It only
remembers the last representation of each URL that came with a validator, sends that
validator in ``If-None-Match`` / ``If-Modified-Since``, and when the server answers
``304 Not Modified`` hands the application the stored representation as a 200, freshened
with the 304's header fields (RFC 9111 §4.3.4). Bounded in entries and in bytes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from ..core.dates import format_http_date
from .messages import Headers, Response
from .validators import Validators, normalize_url, variant_key, vary_names

__all__ = ["CachedResponse", "ResponseCache"]

# Header fields a 304 must not overwrite in the stored response: they describe the stored
# bytes, not the validators (RFC 9111 §3.2: "Content-Length" and the fields of the framing).
_KEEP_FROM_STORED = frozenset({"content-length", "content-encoding", "transfer-encoding"})
# Removed from what is stored, because the stored content is already decoded.
_DROP_WHEN_STORING = frozenset({"content-encoding", "transfer-encoding", "content-length"})


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """One stored representation."""

    headers: Headers
    content: bytes
    validators: Validators

    def conditional_headers(self) -> tuple[tuple[str, str], ...]:
        """The ``If-None-Match`` / ``If-Modified-Since`` lines to revalidate this entry.

        RFC 9110 §13.1.3: a recipient ignores If-Modified-Since when If-None-Match is present,
        so it is sent only for entries without an entity-tag.
        """
        if self.validators.etag is not None:
            return (("If-None-Match", str(self.validators.etag)),)
        if self.validators.last_modified is not None:
            return (("If-Modified-Since", format_http_date(self.validators.last_modified)),)
        return ()

    def freshened(self, not_modified: Response) -> Response:
        """The stored response as a 200, updated with the 304's header fields."""
        fresh = {name.lower() for name, _ in not_modified.headers} - _KEEP_FROM_STORED
        headers = tuple(line for line in self.headers if line[0].lower() not in fresh)
        headers += tuple(line for line in not_modified.headers if line[0].lower() in fresh)
        headers += (("Content-Length", str(len(self.content))),)
        return Response(200, headers, self.content, revalidated=True)


class ResponseCache:
    """A bounded, thread-safe store of representations for conditional GETs.

    Args:
        max_entries: most representations kept; least recently used evicted first.
        max_bytes: most content bytes kept in total.
        max_entry_bytes: larger representations are not stored.
    """

    def __init__(
        self,
        *,
        max_entries: int = 256,
        max_bytes: int = 16 * 1024 * 1024,
        max_entry_bytes: int = 1024 * 1024,
    ) -> None:
        if min(max_entries, max_bytes, max_entry_bytes) < 1:
            raise ValueError("cache bounds must be positive")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_entry_bytes = min(max_entry_bytes, max_bytes)
        self._entries: OrderedDict[tuple[str, object], CachedResponse] = OrderedDict()
        self._vary: dict[str, tuple[str, ...]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """Content bytes currently stored."""
        return self._bytes

    def lookup(self, url: str, request_headers: Iterable[tuple[str, str]]) -> CachedResponse | None:
        """The entry stored for this URL and these request headers (exact variant only)."""
        key = normalize_url(url)
        with self._lock:
            names = self._vary.get(key)
            if names is None:
                return None
            full = (key, variant_key(names, request_headers))
            entry = self._entries.get(full)
            if entry is not None:
                self._entries.move_to_end(full)
            return entry

    def store(
        self,
        url: str,
        request_headers: Iterable[tuple[str, str]],
        response: Response,
        validators: Validators,
    ) -> None:
        """Keep ``response`` (a 200 to a GET) if it can be revalidated and may be stored."""
        content = response.content
        if content is None or not validators or len(content) > self.max_entry_bytes:
            return
        names = vary_names(response.header("vary"))
        cache_control = (response.header("cache-control") or "").lower()
        if names == ("*",) or "no-store" in cache_control:
            return
        key = normalize_url(url)
        headers = tuple(
            line for line in response.headers if line[0].lower() not in _DROP_WHEN_STORING
        )
        entry = CachedResponse(headers, content, validators)
        with self._lock:
            if self._vary.get(key) != names:
                self._drop_url(key)
                self._vary[key] = names
            full = (key, variant_key(names, request_headers))
            self._drop(full)
            self._entries[full] = entry
            self._bytes += len(content)
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                oldest = next(iter(self._entries))
                self._drop(oldest)
                if not any(stored[0] == oldest[0] for stored in self._entries):
                    self._vary.pop(oldest[0], None)

    def forget(self, url: str) -> None:
        """Drop every variant of ``url`` (RFC 9111 §4.4: after an unsafe request)."""
        with self._lock:
            self._drop_url(normalize_url(url))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._vary.clear()
            self._bytes = 0

    def _drop(self, full: tuple[str, object]) -> None:
        old = self._entries.pop(full, None)
        if old is not None:
            self._bytes -= len(old.content)

    def _drop_url(self, key: str) -> None:
        for full in [full for full in self._entries if full[0] == key]:
            self._drop(full)
        self._vary.pop(key, None)
