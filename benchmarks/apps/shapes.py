"""The resources every benchmark app serves, the same in every framework.

Six documents: a single text field of about 1 KB, 100 KB and 1 MB, and a document holding
10, 1,000 and 10,000 nested items (about 1 KB, 100 KB and 1 MB of JSON) that each framework
builds with its usual serializer (DRF ``ModelSerializer``, marshmallow, pydantic, or dicts for
plain Django). Plus one document per PUT writer and one shared counter for the race.

The text is deterministic pseudo-prose, so PostgreSQL compresses it about as much as real text
(a run of one repeated letter would compress to almost nothing).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    key: str
    doc_id: int
    kind: str  # "field": one text field; "nested": many nested items
    size: int  # characters of text, or number of items
    label: str  # what the page calls it


RESOURCES = (
    Shape("field-1KB", 1, "field", 1_000, "1 KB field"),
    Shape("field-100KB", 2, "field", 100_000, "100 KB field"),
    Shape("field-1MB", 3, "field", 1_000_000, "1 MB field"),
    Shape("nested-1KB", 4, "nested", 10, "10 objects (1 KB)"),
    Shape("nested-100KB", 5, "nested", 1_000, "1,000 objects (100 KB)"),
    Shape("nested-1MB", 6, "nested", 10_000, "10,000 objects (1 MB)"),
)
BY_KEY = {shape.key: shape for shape in RESOURCES}
#: Documents the PUT cells write, one per writer connection: ids PUT_BASE + 1 ... + WRITERS.
PUT_BASE = 100
WRITERS = 8
#: The counter document of the lost-update race (its text is a decimal number).
RACE_ID = 200
PUT_TEXT = "x" * 200

_WORDS = [
    *("the", "a", "of", "to", "and", "in", "that", "it", "with", "as", "for", "was", "on"),
    *("be", "by", "this", "which", "at", "from", "or", "an", "are", "not", "version"),
    *("document", "update", "request", "server", "client", "write", "read", "lost"),
    *("conflict", "tag", "entity", "precondition", "database", "row", "commit", "guard"),
    *("header", "response", "resource", "change", "editor", "ada", "guido"),
]


def prose(length: int, seed: int) -> str:
    """About ``length`` characters of words, the same for the same arguments."""
    chooser = random.Random(seed)
    words: list[str] = []
    total = 0
    while total < length:
        word = chooser.choice(_WORDS)
        words.append(word)
        total += len(word) + 1
    return " ".join(words)[:length]


def text_of(shape: Shape) -> str:
    return prose(shape.size, shape.doc_id) if shape.kind == "field" else "nested items"


def items_of(shape: Shape) -> list[dict[str, object]]:
    """Rows of the nested items: position, name, value, comma-separated tags (with the id the
    database gives each, about 100 bytes of JSON per item)."""
    if shape.kind != "nested":
        return []
    return [
        {
            "position": n,
            "name": f"item number {n:05d}",
            "value": n * 1.25,
            "tags": "alpha,beta,gamma",
        }
        for n in range(shape.size)
    ]


def documents() -> list[dict[str, object]]:
    """Every document row: id, title, text."""
    rows: list[dict[str, object]] = [
        {"id": s.doc_id, "title": s.key, "text": text_of(s)} for s in RESOURCES
    ]
    rows += [
        {"id": PUT_BASE + n, "title": f"put-{n}", "text": PUT_TEXT} for n in range(1, WRITERS + 1)
    ]
    rows.append({"id": RACE_ID, "title": "race", "text": "0"})
    return rows
