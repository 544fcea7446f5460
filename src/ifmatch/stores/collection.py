"""The validator of a collection: one aggregate over the listed rows that no write can miss.

A collection's representation changes when a row is inserted, updated or deleted. The aggregate
must change with each of them, whatever the keys look like (UUIDs) and with or without a
Last-Modified column. Counts, sums and maxima of versions and keys do not: delete one row and
insert another and the count is the same; the sum of versions moves back if the new row's
version equals the old one's; the maximum key is unchanged when the deleted row was not the
largest, and with UUID keys is meaningless.

Each row contributes a 60-bit hash of its key and version, ``row_digest(key, version)``, and the
collection's ``digest`` is their sum (with the row count beside it). Every write changes the set
of ``(key, version)`` pairs: an update bumps the version (every write through ifmatch, and
every ``save()`` of a versioned model, does), an insert adds a pair, a delete removes one. The
sum then changes unless the hashes of the pairs removed and added cancel, a chance of about one
in 2**60 per change. The hash is computed by the database where it has one (PostgreSQL
``hashtextextended``, MariaDB/MySQL ``MD5``), in the same single aggregate query over the
filtered rows as before; SQLite has no hash function, so the ``(key, version)`` pairs are read
and hashed here (SQLite is in-process: no network round trip per row).

The cost is one pass over the filtered rows, as for any aggregate: a 304 to a list still reads
no row bodies and renders nothing. Writes that bypass the version column (``QuerySet.update()``
of other columns, raw SQL) are invisible to it, as they are to a single resource's tag.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.etag import ETag
from ..core.tags import content_etag

__all__ = ["CollectionState", "fold", "row_digest"]

#: Digest bits per row: a sum of them stays exact in a DECIMAL / NUMERIC / Python int.
DIGEST_BITS = 60


def row_digest(key: Any, version: int) -> int:
    """A row's contribution to a collection's digest, where the database cannot hash."""
    data = f"{key}:{version}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") >> (
        64 - DIGEST_BITS
    )


@dataclass(frozen=True, slots=True)
class CollectionState:
    """What a collection's validators are made of.

    Attributes:
        count: how many rows are listed.
        digest: the sum of the rows' ``(key, version)`` hashes (see the module's docstring).
        last_modified: the newest row's Last-Modified (``None``: no rows, or no column). A
            delete does not move it, so it is sent but never used to answer 304.
    """

    count: int
    digest: int
    last_modified: datetime | None = None

    def etag(self, *, target: str, variant: str | None = None, key: bytes = b"") -> ETag:
        """The collection's strong entity-tag, for the representation at ``target`` (the
        request's path and query) in ``variant``, keyed with ``key`` (a secret: a caller
        cannot confirm a guess of the rows by hashing candidates)."""
        material = repr((self.count, self.digest, target, variant)).encode()
        return content_etag(material, key=key[:64])


def fold(rows: Iterable[tuple[Any, int, datetime | None]]) -> CollectionState:
    """The state of the rows ``(key, version, last_modified)``, computed here."""
    count = digest = 0
    newest: datetime | None = None
    for key, version, last_modified in rows:
        count += 1
        digest += row_digest(key, int(version))
        if last_modified is not None and (newest is None or last_modified > newest):
            newest = last_modified
    return CollectionState(count, digest, newest)
