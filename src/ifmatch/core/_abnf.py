"""RFC 9110 grammar used by the core, transcribed as regular expressions.

Every pattern here is linear-time: character classes with a single quantifier and no nested or
alternating repetition, so a hostile 64 KiB header cannot trigger catastrophic backtracking.
The ABNF each pattern transcribes is pasted above it.
"""

from __future__ import annotations

import re

__all__ = [
    "BARE_TOKEN",
    "ENTITY_TAG",
    "OWS",
    "etagc",
]

# OWS = *( SP / HTAB )                                             ; RFC 9110 §5.6.3
OWS = re.compile(r"[ \t]*")

# etagc = %x21 / %x23-7E / obs-text                                ; RFC 9110 §8.8.3
# obs-text = %x80-FF                                               ; RFC 9110 §5.5
etagc = r"\x21\x23-\x7e\x80-\xff"

# entity-tag = [ weak ] opaque-tag                                 ; RFC 9110 §8.8.3
# weak       = %s"W/"            (case-sensitive)
# opaque-tag = DQUOTE *etagc DQUOTE
ENTITY_TAG = re.compile(rf'(W/)?"([{etagc}]*)"')

# Not in the RFC: a bare, unquoted run of etagc characters other than "," is accepted as a
# strong tag, because clients that echo an Eve-style `_etag` body field send it unquoted.
BARE_TOKEN = re.compile(r"[\x21\x23-\x2b\x2d-\x7e\x80-\xff]+")
