"""Entity-tags (RFC 9110 §8.8.3): one immutable value type, one parser, two comparisons.

This is the only module that splits ``If-Match`` / ``If-None-Match`` lists. Adapters never
re-implement any of it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from ._abnf import ENTITY_TAG, OWS, TOKEN
from .errors import InvalidPreconditionHeader

__all__ = [
    "ANY",
    "DEFAULT_MAX_HEADER_LENGTH",
    "DEFAULT_MAX_TAGS",
    "ETag",
    "ETagList",
    "Star",
    "UnquotedEntityTag",
    "format_etag_list",
    "parse_etag",
    "parse_etag_list",
    "strong_match",
    "weak_match",
]

#: Longest precondition header value accepted, in characters. Gunicorn's default limit for a
#: whole header line is 8190 bytes; we allow the same for the value alone.
DEFAULT_MAX_HEADER_LENGTH: Final = 8190
#: Most entity-tags accepted in one If-Match / If-None-Match list.
DEFAULT_MAX_TAGS: Final = 64


@dataclass(frozen=True, slots=True)
class ETag:
    """An entity-tag: an opaque string and a weak flag.

    >>> ETag("v42")
    ETag(opaque='v42', weak=False)
    >>> str(ETag("v42", weak=True))
    'W/"v42"'
    """

    opaque: str
    weak: bool = False

    def __post_init__(self) -> None:
        if ENTITY_TAG.fullmatch(f'"{self.opaque}"') is None:
            raise ValueError(f"not a valid opaque-tag: {self.opaque!r}")

    def __str__(self) -> str:
        return f'W/"{self.opaque}"' if self.weak else f'"{self.opaque}"'

    @classmethod
    def _parsed(cls, opaque: str, weak: bool) -> ETag:
        # The parser has already matched the grammar: skip re-validation on the hot path.
        tag = object.__new__(cls)
        _set_opaque(tag, opaque)
        _set_weak(tag, weak)
        return tag

    def as_weak(self) -> ETag:
        """Return the same tag marked weak."""
        return ETag(self.opaque, weak=True)

    def as_strong(self) -> ETag:
        """Return the same tag without the weak flag."""
        return ETag(self.opaque)


# The slots' own setters: faster than object.__setattr__, and they bypass the frozen check.
_set_opaque = ETag.__dict__["opaque"].__set__
_set_weak = ETag.__dict__["weak"].__set__
_parsed = ETag._parsed


class Star(enum.Enum):
    """The ``*`` member of If-Match / If-None-Match: "any current representation"."""

    ANY = "*"

    def __str__(self) -> str:
        return "*"


ANY: Final = Star.ANY

#: A parsed If-Match / If-None-Match value: ``ANY`` or a tuple of tags (possibly empty).
ETagList = Star | tuple[ETag, ...]


def strong_match(a: ETag, b: ETag) -> bool:
    """RFC 9110 §8.8.3.2: "both are not weak and their opaque-tags match character-by-character"."""
    return not a.weak and not b.weak and a.opaque == b.opaque


def weak_match(a: ETag, b: ETag) -> bool:
    """RFC 9110 §8.8.3.2: "their opaque-tags match character-by-character, regardless of either
    or both being tagged as 'weak'"."""
    return a.opaque == b.opaque


HeaderName = Literal["If-Match", "If-None-Match", "ETag"]


class UnquotedEntityTag(InvalidPreconditionHeader):
    """The field is exactly one unquoted token (``v3``): not entity-tag syntax.

    Clients that copy an Eve-style ``_etag`` body member send it this way. It is malformed
    (RFC 9110 §8.8.3), and raised as such, but it is the one shape ``evaluate`` may still
    accept: as the strong tag ``.tag``, when it equals the current version tag's opaque-tag
    (``Policy.accept_bare_version_token``).

    Attributes:
        tag: the token read as a strong entity-tag.
    """

    def __init__(self, header: str, token: str) -> None:
        shown = _shown(token)
        super().__init__(header, f'the entity-tag {shown} is not quoted: write it "{shown}"')
        self.tag = ETag._parsed(token, False)


def _shown(text: str, limit: int = 40) -> str:
    # Client text echoed in a reason, cut short: a problem body need not repeat 8 KiB.
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_etag(value: str, *, header: HeaderName = "ETag") -> ETag:
    """Parse a single entity-tag such as ``"v1"`` or ``W/"v1"``.

    A value that is exactly one bare token (``v1``, an Eve-style ``_etag`` member) is read as
    the strong tag ``"v1"``.

    Raises:
        InvalidPreconditionHeader: the value is not one entity-tag.
    """
    try:
        tags = parse_etag_list(value, header=header, max_tags=1)
    except UnquotedEntityTag as bare:
        return bare.tag
    if isinstance(tags, Star) or len(tags) != 1:
        raise InvalidPreconditionHeader(header, "expected exactly one entity-tag")
    return tags[0]


def parse_etag_list(
    value: str,
    *,
    header: HeaderName = "If-Match",
    max_tags: int = DEFAULT_MAX_TAGS,
    max_length: int = DEFAULT_MAX_HEADER_LENGTH,
) -> ETagList:
    """Parse an If-Match / If-None-Match field value.

    Grammar (RFC 9110 §13.1.1): ``If-Match = "*" / #entity-tag``. Empty list elements and
    optional whitespace around commas are accepted, as §5.6.1 requires of recipients. Repeated
    header lines should be joined with ``", "`` before calling (see ``join_header_lines``).
    Nothing outside that grammar is read as a tag.

    Returns:
        ``ANY`` for ``*``, otherwise a tuple of tags in the order received (possibly empty).

    Raises:
        UnquotedEntityTag: the value is exactly one unquoted token (``v3``); its ``.tag`` is
            the strong tag it would name. A subclass of ``InvalidPreconditionHeader``.
        InvalidPreconditionHeader: unbalanced quotes, control characters, unquoted tokens,
            ``*`` mixed with tags, lowercase ``w/``, more than ``max_tags`` tags or more than
            ``max_length`` characters.

    >>> parse_etag_list('"a", W/"b,c"')
    (ETag(opaque='a', weak=False), ETag(opaque='b,c', weak=True))
    """
    if len(value) > max_length:
        raise InvalidPreconditionHeader(
            header, f"value is {len(value)} characters long; the limit is {max_length}"
        )
    stripped = value.strip(" \t")
    if stripped == "*":
        return ANY
    well_formed = _well_formed(value, max_tags)
    if well_formed is not None:
        return well_formed
    if TOKEN.fullmatch(stripped) is not None:
        raise UnquotedEntityTag(header, stripped)
    # The careful pass: finding what exactly is wrong (or reading empty list elements).
    tags: list[ETag] = []
    pos, end = 0, len(value)
    while True:
        pos = _skip_separators(value, pos)
        if pos >= end:
            return tuple(tags)
        tag, pos = _read_member(value, pos, header)
        tags.append(tag)
        if len(tags) > max_tags:
            raise InvalidPreconditionHeader(header, f"more than {max_tags} entity-tags")
        pos = OWS.match(value, pos).end()  # type: ignore[union-attr]
        if pos < end and value[pos] != ",":
            raise InvalidPreconditionHeader(
                header, f"expected ',' between entity-tags at position {pos}"
            )


def _well_formed(value: str, max_tags: int) -> tuple[ETag, ...] | None:
    # Fast path for the usual shape, quoted tags separated by commas: the tags are found by one
    # C-level scan and only the gaps between them are checked. Anything else returns None and
    # goes through the careful character-by-character pass.
    single = ENTITY_TAG.fullmatch(value)
    if single is not None:
        weak, opaque = single.groups()
        return (ETag._parsed(opaque, weak is not None),)
    # split() gives [gap, weak, opaque, gap, weak, opaque, ..., gap]: the gaps may hold only
    # whitespace and commas, and each gap between two tags needs a comma.
    parts = ENTITY_TAG.split(value)
    gaps = parts[::3]
    count = len(gaps) - 1
    if count == 0 or count > max_tags:
        return None
    for index, gap in enumerate(gaps):
        if gap and gap.strip(" \t,"):
            return None
        if 0 < index < count and "," not in gap:
            return None
    parsed = _parsed
    return tuple(
        [
            parsed(opaque, weak is not None)
            for weak, opaque in zip(parts[1::3], parts[2::3], strict=True)
        ]
    )


def _skip_separators(value: str, pos: int) -> int:
    # RFC 9110 §5.6.1.2: "a recipient MUST parse and ignore a reasonable number of empty list
    # elements". Whitespace and commas between members are skipped in one linear pass.
    end = len(value)
    while pos < end and value[pos] in " \t,":
        pos += 1
    return pos


def _read_member(value: str, pos: int, header: HeaderName) -> tuple[ETag, int]:
    match = ENTITY_TAG.match(value, pos)
    if match is not None:
        return ETag._parsed(match.group(2), match.group(1) is not None), match.end()
    char = value[pos]
    if char == "*":
        raise InvalidPreconditionHeader(header, "'*' cannot be combined with entity-tags")
    if value.startswith(("w/", "W/"), pos):
        what = "lowercase 'w/'" if char == "w" else "'W/' without a quoted tag"
        raise InvalidPreconditionHeader(
            header, f'{what} at position {pos}; a weak tag is written W/"..."'
        )
    if char == '"':
        raise InvalidPreconditionHeader(
            header, f"unbalanced or invalid quoted entity-tag at position {pos}"
        )
    token = TOKEN.match(value, pos)
    if token is not None:
        # §8.8.3: opaque-tag = DQUOTE *etagc DQUOTE. In a list, an unquoted token is never
        # read as a tag: "v3", garbage is malformed, not a list holding "v3".
        raise InvalidPreconditionHeader(
            header,
            f"unquoted entity-tag {_shown(token.group())} at position {pos}; "
            'entity-tags are quoted: "..." or W/"..."',
        )
    raise InvalidPreconditionHeader(header, f"invalid character {char!r} at position {pos}")


def format_etag_list(tags: ETagList | Iterable[ETag]) -> str:
    """Serialise a list of tags (or ``ANY``) as a field value."""
    if isinstance(tags, Star):
        return "*"
    return ", ".join(str(tag) for tag in tags)
