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

from .etag import ETag

__all__ = ["content_etag", "is_version_etag", "version_etag", "version_from_etag"]

_VERSION = re.compile(r"[A-Za-z0-9_.-]{1,128}")
# v<version>[~<variant digest>]
_VERSION_TAG = re.compile(r"v(?P<version>[A-Za-z0-9_.-]{1,128})(?:~(?P<variant>[0-9a-f]{8}))?")


def _variant_digest(variant: str) -> str:
    return hashlib.blake2b(variant.encode(), digest_size=4).hexdigest()


def version_etag(version: int | str, *, variant: str | None = None) -> ETag:
    """Return the strong tag for a stored version, e.g. ``"v42"``.

    ``variant`` distinguishes representations of the same version (a media type, a language,
    a field projection): each variant gets its own tag, ``"v42~1a2b3c4d"``.

    >>> str(version_etag(42))
    '"v42"'
    """
    text = str(version)
    if isinstance(version, bool) or _VERSION.fullmatch(text) is None:
        raise ValueError(f"a version must be an int or 1-128 of [A-Za-z0-9_.-]: {version!r}")
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


def is_version_etag(tag: ETag) -> bool:
    """Whether ``tag`` has the shape of a tag minted by :func:`version_etag`."""
    return _VERSION_TAG.fullmatch(tag.opaque) is not None


def content_etag(content: bytes, *, key: bytes = b"", weak: bool = False) -> ETag:
    """Return a tag hashing ``content`` (BLAKE2b-128, base64url), e.g. ``"c.3q2-7w..."``.

    Pass a secret ``key`` so a client cannot confirm a guess of private content by hashing
    candidates and watching for a 304.
    """
    digest = hashlib.blake2b(content, digest_size=16, key=key).digest()
    return ETag("c." + base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), weak=weak)
