"""RFC 9110 grammar used by the core, transcribed as regular expressions.

Every pattern here is linear-time: character classes with a single quantifier and no nested or
alternating repetition, so a hostile 64 KiB header cannot trigger catastrophic backtracking.
The ABNF each pattern transcribes is pasted above it.
"""

from __future__ import annotations

import re

__all__ = [
    "ENTITY_TAG",
    "OWS",
    "TOKEN",
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

# token = 1*tchar                                                 ; RFC 9110 §5.6.2
# tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|"
#       / "~" / DIGIT / ALPHA
# Not entity-tag syntax: it finds an unquoted token where an entity-tag belongs. The one place
# it may count as a tag is a field that is exactly one token equal to the current version tag's
# opaque part (`If-Match: v3`, sent by clients that echo an Eve-style `_etag` body field).
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
