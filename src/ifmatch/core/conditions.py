"""Reading the four precondition headers out of a request's headers.

Headers come in as plain values: a mapping, or an iterable of ``(name, value)`` pairs (which
keeps repeated lines apart), with ``str`` or ``bytes`` names and values. Repeated lines of one
field are joined with ``", "`` as RFC 9110 §5.3 allows for list-based fields, in one pass that
stops at the length limit: a flood of lines costs no more than the limit allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from .dates import parse_http_date
from .errors import InvalidPreconditionHeader
from .etag import (
    DEFAULT_MAX_HEADER_LENGTH,
    DEFAULT_MAX_TAGS,
    ETagList,
    UnquotedEntityTag,
    parse_etag_list,
)

__all__ = ["HeadersInput", "Preconditions", "join_header_lines"]

HeadersInput = Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[str | bytes, str | bytes]]

_CANONICAL = {
    "if-match": "If-Match",
    "if-none-match": "If-None-Match",
    "if-modified-since": "If-Modified-Since",
    "if-unmodified-since": "If-Unmodified-Since",
}
_WANTED = frozenset(_CANONICAL)


def _text(value: str | bytes) -> str:
    # HTTP field values are octets; latin-1 maps each octet to one character, as WSGI does.
    return value.decode("latin-1") if isinstance(value, bytes) else value


def join_header_lines(
    headers: HeadersInput, *, max_length: int = DEFAULT_MAX_HEADER_LENGTH
) -> dict[str, str]:
    """Return the precondition headers, lower-cased, repeated lines joined with ``", "``.

    Each field's value, its lines joined, may be at most ``max_length`` characters long. The
    length is counted while reading, line by line, and each field is joined once at the end,
    so the work is linear in the input and a flood of lines is refused at the line that
    passes the limit, without reading the rest.

    Raises:
        InvalidPreconditionHeader: a field is longer than ``max_length`` (400 naming it).
    """
    joined: dict[str, str] = {}
    # Fields received on more than one line: their lines so far, and their length joined.
    repeated: dict[str, tuple[list[str], int]] | None = None
    pairs = headers.items() if type(headers) is dict or isinstance(headers, Mapping) else headers
    for raw_name, raw_value in pairs:
        name = raw_name.lower() if isinstance(raw_name, str) else raw_name.decode("latin-1").lower()
        if name in _WANTED:
            value = _text(raw_value)
            if name not in joined and len(value) <= max_length:
                joined[name] = value  # the usual case: the field's first line
                continue
            first = joined.get(name)
            if first is None:
                raise _too_long(name, len(value), max_length, 1)
            if repeated is None:
                repeated = {}
            lines, length = repeated.get(name) or ([first], len(first))
            length += 2 + len(value)
            if length > max_length:
                raise _too_long(name, length, max_length, len(lines) + 1)
            lines.append(value)
            repeated[name] = (lines, length)
    if repeated is not None:
        for name, (lines, _) in repeated.items():
            joined[name] = ", ".join(lines)
    return joined


def _too_long(name: str, length: int, limit: int, lines: int) -> InvalidPreconditionHeader:
    where = "" if lines == 1 else f" after {lines} field lines joined"
    return InvalidPreconditionHeader(
        _CANONICAL[name], f"value is {length} characters long{where}; the limit is {limit}"
    )


@dataclass(frozen=True, slots=True)
class Preconditions:
    """The preconditions one request carries, parsed.

    ``None`` means the header is absent. An If-Modified-Since / If-Unmodified-Since that is not
    a valid HTTP-date is also ``None``: RFC 9110 §13.1.3 and §13.1.4 say to ignore it.

    ``bare_token_fields`` names the fields (``"If-Match"``, ``"If-None-Match"``) whose value
    was exactly one unquoted token (``v3``), read here as that strong tag. That is not
    entity-tag syntax: ``evaluate`` accepts it only as the current version tag's opaque-tag,
    and only under ``Policy.accept_bare_version_token`` (see ``UnquotedEntityTag``).
    """

    if_match: ETagList | None = None
    if_none_match: ETagList | None = None
    if_modified_since: datetime | None = None
    if_unmodified_since: datetime | None = None
    bare_token_fields: frozenset[str] = frozenset()

    @classmethod
    def from_headers(
        cls,
        headers: HeadersInput,
        *,
        max_tags: int = DEFAULT_MAX_TAGS,
        max_length: int = DEFAULT_MAX_HEADER_LENGTH,
        now: datetime | None = None,
    ) -> Preconditions:
        """Parse the precondition headers of a request.

        ``now`` resolves two-digit RFC 850 years; without it, the current time does.

        Raises:
            InvalidPreconditionHeader: If-Match or If-None-Match is malformed (a value that is
                exactly one unquoted token is not raised but kept in ``bare_token_fields``),
                or a precondition field is longer than ``max_length``.
        """
        found = join_header_lines(headers, max_length=max_length)
        if not found:
            return NO_PRECONDITIONS
        if_match = found.get("if-match")
        if_none_match = found.get("if-none-match")
        ims = found.get("if-modified-since")
        ius = found.get("if-unmodified-since")
        parsed = _new(cls)
        try:
            _set_if_match(
                parsed,
                None
                if if_match is None
                else parse_etag_list(
                    if_match, header="If-Match", max_tags=max_tags, max_length=max_length
                ),
            )
            _set_if_none_match(
                parsed,
                None
                if if_none_match is None
                else parse_etag_list(
                    if_none_match, header="If-None-Match", max_tags=max_tags, max_length=max_length
                ),
            )
            _set_bare_token_fields(parsed, _NO_BARE_TOKENS)
        except UnquotedEntityTag as unquoted:
            # Rare: a field that is exactly one unquoted token (see bare_token_fields).
            _read_bare_tokens(parsed, unquoted, if_none_match, max_tags, max_length)
        _set_if_modified_since(parsed, None if ims is None else parse_http_date(ims, now=now))
        _set_if_unmodified_since(parsed, None if ius is None else parse_http_date(ius, now=now))
        return parsed


NO_PRECONDITIONS = Preconditions()
_NO_BARE_TOKENS: frozenset[str] = frozenset()
_BARE_IF_MATCH = frozenset({"If-Match"})
_BARE_IF_NONE_MATCH = frozenset({"If-None-Match"})


def _read_bare_tokens(
    parsed: Preconditions,
    unquoted: UnquotedEntityTag,
    if_none_match: str | None,
    max_tags: int,
    max_length: int,
) -> None:
    # from_headers read If-Match, then If-None-Match, and stopped at the unquoted field.
    if unquoted.header == "If-None-Match":  # If-Match was read and set
        _set_if_none_match(parsed, (unquoted.tag,))
        _set_bare_token_fields(parsed, _BARE_IF_NONE_MATCH)
        return
    _set_if_match(parsed, (unquoted.tag,))
    bare = _BARE_IF_MATCH
    tags: ETagList | None = None
    if if_none_match is not None:
        try:
            tags = parse_etag_list(
                if_none_match, header="If-None-Match", max_tags=max_tags, max_length=max_length
            )
        except UnquotedEntityTag as second:
            tags, bare = (second.tag,), _BARE_IF_MATCH | _BARE_IF_NONE_MATCH
    _set_if_none_match(parsed, tags)
    _set_bare_token_fields(parsed, bare)


# ``from_headers`` sets the slots through their own setters: a frozen dataclass's ``__init__``
# goes through ``object.__setattr__`` for every field, which takes about twice as long.
_new = object.__new__
_set_if_match = Preconditions.__dict__["if_match"].__set__
_set_if_none_match = Preconditions.__dict__["if_none_match"].__set__
_set_if_modified_since = Preconditions.__dict__["if_modified_since"].__set__
_set_if_unmodified_since = Preconditions.__dict__["if_unmodified_since"].__set__
_set_bare_token_fields = Preconditions.__dict__["bare_token_fields"].__set__
