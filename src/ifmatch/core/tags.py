"""Minting entity-tags: from a stored version (preferred) or from content bytes (fallback).

A version tag names a stored version, so it can be computed before any body is built, it is the
same in every process and after every restart, and it says nothing about the content. A content
tag hashes bytes; use it only where there is no version, and know that the body must then be
built before a 304 can be sent.
"""

from __future__ import annotations

import base64
import hashlib
import re

from .etag import ETag, _parsed

__all__ = [
    "PROXY_SUFFIXES",
    "content_etag",
    "is_version_etag",
    "proxy_suffix",
    "version_etag",
    "version_from_etag",
    "version_number",
]

_VERSION = re.compile(r"[A-Za-z0-9_.-]{1,128}")
# v<version>[~<variant digest>]
_VERSION_TAG = re.compile(r"v(?P<version>[A-Za-z0-9_.-]{1,128})(?:~(?P<variant>[0-9a-f]{8}))?")
# The same shape whose version is exactly str(N) for an integer N >= 0: ASCII digits, no sign,
# no leading zero ("0" itself is canonical), at most 128 of them like any version text.
_NUMBER_TAG = re.compile(r"v(?P<version>0|[1-9][0-9]{0,127})(?:~(?P<variant>[0-9a-f]{8}))?")


# Integer versions with at most 128 digits (the version text's limit).
_INT_VERSIONS = 10**128


def _variant_digest(variant: str) -> str:
    return hashlib.blake2b(variant.encode(), digest_size=4).hexdigest()


def version_etag(version: int | str, *, variant: str | None = None) -> ETag:
    """Return the strong tag for a stored version, e.g. ``"v42"``.

    ``variant`` distinguishes representations of the same version (a media type, a language,
    a field projection): each variant gets its own tag, ``"v42~1a2b3c4d"``.

    >>> str(version_etag(42))
    '"v42"'
    """
    if type(version) is int and 0 <= version < _INT_VERSIONS and variant is None:
        # The usual case: ASCII digits, which the grammar accepts as they are.
        return _parsed(f"v{version}", False)
    text = str(version)
    if isinstance(version, bool) or _VERSION.fullmatch(text) is None:
        raise ValueError(f"a version must be an int or 1-128 of [A-Za-z0-9_.-]: {version!r}")
    if isinstance(version, int) and version < 0:
        # Its tag "v-1" would name no version (see version_number): the header check would
        # accept it while a store's guard never could.
        raise ValueError(f"an integer version cannot be negative: {version!r}")
    if variant is None:
        return ETag(f"v{text}")
    return ETag(f"v{text}~{_variant_digest(variant)}")


def version_from_etag(tag: ETag, *, variant: str | None = None) -> str | None:
    """Return the version a tag minted by :func:`version_etag` names, or ``None``.

    The weak flag is ignored here; callers decide whether a weak tag may count.

    >>> version_from_etag(version_etag(42))
    '42'
    """
    match = _VERSION_TAG.fullmatch(tag.opaque)
    if match is None:
        return None
    expected = None if variant is None else _variant_digest(variant)
    if match["variant"] != expected:
        return None
    return match["version"]


def version_number(tag: ETag, *, variant: str | None = None) -> int | None:
    """Return the integer version ``N`` a tag names, or ``None``: the one rule every store uses.

    A tag names ``N`` only if it is exactly the tag ``version_etag(N, variant=variant)``: its
    version text is ``str(N)``, so ASCII digits with no sign and no leading zero. ``"v03"``,
    ``"v+3"``, ``"v3.0"`` and ``"v-1"`` name no version, just as the header check (which
    compares opaque strings with the current ``"v3"``) never finds them equal to one. Whether
    the stored version can be that large is each store's question (``Expectation.bounded``).
    The weak flag is ignored here, as in :func:`version_from_etag`.

    >>> version_number(version_etag(42)), version_number(ETag("v042"))
    (42, None)
    """
    match = _NUMBER_TAG.fullmatch(tag.opaque)
    if match is None:
        return None
    if match["variant"] != (None if variant is None else _variant_digest(variant)):
        return None
    return int(match["version"])


def is_version_etag(tag: ETag) -> bool:
    """Whether ``tag`` has the shape of a tag minted by :func:`version_etag`."""
    return _VERSION_TAG.fullmatch(tag.opaque) is not None


def names_version_number(tag: ETag) -> bool:
    """Whether ``tag`` has the shape of ``version_etag(N)`` for an integer ``N`` (with or
    without a variant): ``"v3"``, ``"v3~1a2b3c4d"``, not ``"v3.0"`` or ``"v3-gzip"``."""
    return _NUMBER_TAG.fullmatch(tag.opaque) is not None


#: What compressing proxies append to the entity-tag of a response they compress: Apache
#: httpd's mod_deflate appends ``-gzip`` (``DeflateAlterETag AddSuffix``, its default since
#: 2.4.0) and mod_brotli ``-br`` (``BrotliAlterETag AddSuffix``, its default).
PROXY_SUFFIXES = ("-gzip", "-br")


def proxy_suffix(tag: ETag, original: ETag) -> str | None:
    """The suffix a compressing proxy appended to ``original`` to make ``tag``, or ``None``.

    ``"v3-gzip"`` is ``"v3"`` altered by mod_deflate; the weak flag is not compared (a proxy
    may weaken the tag too).

    >>> proxy_suffix(ETag("v3-gzip"), ETag("v3")), proxy_suffix(ETag("v3"), ETag("v3"))
    ('-gzip', None)
    """
    opaque, base = tag.opaque, original.opaque
    if len(opaque) <= len(base) or not opaque.startswith(base):
        return None
    suffix = opaque[len(base) :]
    return suffix if suffix in PROXY_SUFFIXES else None


def content_etag(content: bytes, *, key: bytes = b"", weak: bool = False) -> ETag:
    """Return a tag hashing ``content`` (BLAKE2b-128, base64url), e.g. ``"c.3q2-7w..."``.

    Pass a secret ``key`` so a client cannot confirm a guess of private content by hashing
    candidates and watching for a 304.
    """
    digest = hashlib.blake2b(content, digest_size=16, key=key).digest()
    return ETag("c." + base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), weak=weak)
