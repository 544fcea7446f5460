"""The validator store: what the client knows about each resource's current version.

Keyed by URL, then by representation variant (the request headers the response's ``Vary``
named), least recently used URLs evicted first. Thread-safe: one client may serve many threads.

Lookups are generous on purpose. Sending a tag that names another variant can only cause a
412 (a refused write, never a lost one); sending no tag can let a write through
unconditionally. So a lookup falls back from the exact variant to the URL's newest entry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from ..core.etag import ETag
from .messages import find_header

__all__ = [
    "ANY_VARIANT",
    "Validators",
    "ValidatorStore",
    "normalize_url",
    "origin",
    "same_origin",
    "same_url",
    "vary_names",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}

VariantKey = tuple[tuple[str, str], ...] | None
#: The variant of validators learned without a request to match against (list items, bodies).
ANY_VARIANT: VariantKey = None


@dataclass(frozen=True, slots=True)
class Validators:
    """The validators of one representation: its entity-tag and Last-Modified."""

    etag: ETag | None = None
    last_modified: datetime | None = None

    def __bool__(self) -> bool:
        return self.etag is not None or self.last_modified is not None


@lru_cache(maxsize=4096)
def normalize_url(url: str) -> str:
    """The form URLs are stored under: lower-case scheme and host, no default port, no
    fragment, an empty path as ``/``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    if parts.username is not None:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def origin(url: str) -> tuple[str, str, int] | None:
    """The origin of an absolute URL (RFC 6454 §4): lower-case scheme and host, and the port,
    the scheme's default when none is written; ``None`` for a URL without one (relative, no
    host, an unknown scheme without a port, an invalid port)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return None
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
    if not scheme or not host or port is None:
        return None
    return scheme, host, port


def same_origin(a: str, b: str) -> bool:
    """Whether two absolute URLs have the same origin: scheme, host and port
    (``http://api.test`` is ``http://API.test:80``; not ``https://api.test`` nor
    ``http://api.test:8080``). A URL without an origin is nobody's. User information must be
    the same too (none on both, usually): a link or ``Location`` cannot switch the credentials
    a request is made with."""
    first = origin(a)
    return first is not None and first == origin(b) and _userinfo(a) == _userinfo(b)


def _userinfo(url: str) -> tuple[str | None, str | None]:
    parts = urlsplit(url)
    return parts.username, parts.password


def same_url(a: str, b: str) -> bool:
    """Whether a validator of ``a`` may be sent to ``b``: only to the very URL it describes,
    as the store keys URLs (:func:`normalize_url`). Another path, query, port, host or scheme
    is another resource, whose version numbers may well overlap with this one's."""
    try:
        return normalize_url(a) == normalize_url(b)
    except ValueError:  # an unparsable URL is no URL's
        return False


def vary_names(vary: str | None) -> tuple[str, ...]:
    """The lower-cased, sorted field names of a ``Vary`` value (``("*",)`` for ``*``)."""
    if not vary:
        return ()
    names = {name.strip().lower() for name in vary.split(",") if name.strip()}
    return ("*",) if "*" in names else tuple(sorted(names))


def variant_key(names: tuple[str, ...], request_headers: Iterable[tuple[str, str]]) -> VariantKey:
    """The values of the ``Vary``-named headers in a request (RFC 9111 §4.1)."""
    lines = tuple(request_headers)
    return tuple((name, find_header(lines, name) or "") for name in names)


class _Entry:
    __slots__ = ("variants", "vary")

    def __init__(self, vary: tuple[str, ...]) -> None:
        self.vary = vary
        self.variants: OrderedDict[VariantKey, Validators] = OrderedDict()


class ValidatorStore:
    """A bounded, thread-safe map from URL (and variant) to the latest validators seen.

    Args:
        max_urls: most URLs remembered; the least recently used are forgotten first.
        max_variants: most variants remembered per URL.

    >>> store = ValidatorStore(max_urls=2)
    >>> store.learn("http://api.test/a", Validators(ETag("v1")))
    >>> store.get("http://API.test:80/a")
    Validators(etag=ETag(opaque='v1', weak=False), last_modified=None)
    """

    def __init__(self, *, max_urls: int = 4096, max_variants: int = 8) -> None:
        if max_urls < 1 or max_variants < 1:
            raise ValueError("max_urls and max_variants must be positive")
        self.max_urls = max_urls
        self.max_variants = max_variants
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and normalize_url(url) in self._entries

    def get(self, url: str, request_headers: Iterable[tuple[str, str]] = ()) -> Validators | None:
        """The validators for ``url`` as requested with ``request_headers``, or ``None``.

        Prefers the exact variant, then one learned without a variant, then the newest.
        """
        key = normalize_url(url)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            if entry.vary:
                exact = entry.variants.get(variant_key(entry.vary, request_headers))
                if exact is not None:
                    return exact
            found = entry.variants.get(ANY_VARIANT)
            if found is None and entry.variants:
                found = next(reversed(entry.variants.values()))
            return found

    def learn(
        self,
        url: str,
        validators: Validators,
        *,
        vary: tuple[str, ...] | None = None,
        request_headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Remember ``validators`` as the newest for ``url``.

        Args:
            url: the resource the validators belong to.
            validators: what the response said; empty validators forget the URL.
            vary: the response's ``Vary`` names; ``None`` when the validators did not come with
                a response for this URL (list items, body fields): they replace every variant.
            request_headers: the request the response answered, to key the variant.
        """
        if not validators:
            self.forget(url)
            return
        key = normalize_url(url)
        with self._lock:
            entry = self._entries.get(key)
            if vary is None:
                entry = _Entry(entry.vary if entry is not None else ())
                variant = ANY_VARIANT
            else:
                if entry is None or entry.vary != vary:
                    entry = _Entry(vary)
                variant = variant_key(vary, request_headers) if vary else ()
                # Newer news about one variant makes a variant-less guess stale.
                entry.variants.pop(ANY_VARIANT, None)
            entry.variants[variant] = validators
            entry.variants.move_to_end(variant)
            while len(entry.variants) > self.max_variants:
                entry.variants.popitem(last=False)
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_urls:
                self._entries.popitem(last=False)

    def forget(self, url: str) -> None:
        """Forget everything about ``url`` (after a DELETE, a 404, or a write whose response
        carried no new validator)."""
        with self._lock:
            self._entries.pop(normalize_url(url), None)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
