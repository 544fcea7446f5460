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

from .dates import needs_clock, parse_http_date
from .decisions import Proceed, proceed_with
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
_NAMES = tuple(_CANONICAL)
# Each field's place in the list ``_field_values`` returns, by its name as str and as bytes.
_SLOT = {name: slot for slot, name in enumerate(_NAMES)}
_BYTES_SLOT = {name.encode(): slot for slot, name in enumerate(_NAMES)}


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
    values = _field_values(headers, max_length)
    if values is None:
        return {}
    return {name: value for name, value in zip(_NAMES, values, strict=True) if value is not None}


_Fields = list[str | None]


def _field_values(headers: HeadersInput, max_length: int) -> _Fields | None:
    # join_header_lines as [If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since],
    # each the field's value or None; None when none of the four is present.
    found: _Fields | None = None
    # Fields received on more than one line: their lines so far, and their length joined.
    repeated: dict[int, tuple[list[str], int]] | None = None
    pairs = headers.items() if type(headers) is dict or isinstance(headers, Mapping) else headers
    for raw_name, raw_value in pairs:
        if isinstance(raw_name, str):
            slot = _SLOT.get(raw_name.lower())
        else:
            slot = _BYTES_SLOT.get(raw_name.lower())
        if slot is None:
            continue
        value = raw_value if type(raw_value) is str else _text(raw_value)
        if found is None:
            found = [None, None, None, None]
        first = found[slot]
        if first is None and len(value) <= max_length:
            found[slot] = value  # the usual case: the field's first line
            continue
        if first is None:
            raise _too_long(_NAMES[slot], len(value), max_length, 1)
        if repeated is None:
            repeated = {}
        lines, length = repeated.get(slot) or ([first], len(first))
        length += 2 + len(value)
        if length > max_length:
            raise _too_long(_NAMES[slot], length, max_length, len(lines) + 1)
        lines.append(value)
        repeated[slot] = (lines, length)
    if repeated is not None and found is not None:
        for slot, (lines, _) in repeated.items():
            found[slot] = ", ".join(lines)
    return found


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
        return read_fields(headers, max_tags, max_length, now).preconditions


NO_PRECONDITIONS = Preconditions()


@dataclass(frozen=True, slots=True)
class ReadFields:
    """Parsed preconditions, with what ``evaluate`` can decide from their shape alone.

    For the two requests clients send most, the answer when the precondition holds does not
    depend on the resource beyond one comparison, so it is built once per distinct field value
    (see ``read_fields``) rather than per request.

    Attributes:
        preconditions: the parsed fields.
        sole_if_match: the opaque-tag of the one strong tag in ``If-Match``, when that tag is
            the request's only precondition; else ``None``.
        sole_if_none_match: the opaque-tags of the ``If-None-Match`` list (not ``*``), when
            that list is the request's only precondition; else ``None``.
        proceed: for either shape, the decision when the precondition is true and no
            policy alters the tags: ``Proceed`` with the fields as its write condition.
    """

    preconditions: Preconditions
    sole_if_match: str | None = None
    sole_if_none_match: frozenset[str] | None = None
    proceed: Proceed | None = None


NOTHING_TO_READ = ReadFields(NO_PRECONDITIONS)


def read_fields(
    headers: HeadersInput, max_tags: int, max_length: int, now: datetime | None
) -> ReadFields:
    """``Preconditions.from_headers``, with its shortcuts (see ``ReadFields``).

    Raises:
        InvalidPreconditionHeader: as ``Preconditions.from_headers``.
    """
    values = _field_values(headers, max_length)
    if values is None:
        return NOTHING_TO_READ
    key = (*values, max_tags, max_length)
    known = _parsed.get(key)
    if known is not None:
        return known
    return _read(values, key, now)


#: Field values up to this many characters are remembered once parsed (see ``_parsed``).
CACHED_FIELD_LENGTH = 512
#: How many distinct sets of precondition field values are remembered.
CACHED_PARSES = 1024

# Clients resend the same validators (a cache revalidating, an editor saving the version it
# read), so the parse of recent field values is remembered, keyed by the raw values and the
# limits they were read under. The result is a pure function of that key: frozen values all
# the way down (tuples of frozen ETag, ANY, aware datetimes, frozensets, a frozen Proceed),
# shared safely between requests and threads. Only a successful parse is remembered, so a
# malformed field is parsed, and refused, every time; so is a two-digit RFC 850 year, which
# is read against the clock. Bounded: at most CACHED_PARSES entries, each of fields no longer
# than CACHED_FIELD_LENGTH; when full, the oldest entry goes first.
_parsed: dict[tuple[str | int | None, ...], ReadFields] = {}


def _read(values: _Fields, key: tuple[str | int | None, ...], now: datetime | None) -> ReadFields:
    if_match, if_none_match, ims, ius = values
    max_tags, max_length = key[4], key[5]
    assert isinstance(max_tags, int) and isinstance(max_length, int)
    read = _with_shortcuts(_parse(if_match, if_none_match, ims, ius, max_tags, max_length, now))
    if all(value is None or len(value) <= CACHED_FIELD_LENGTH for value in values) and not any(
        date is not None and needs_clock(date) for date in (ims, ius)
    ):
        _remember(key, read)
    return read


def _remember(key: tuple[str | int | None, ...], read: ReadFields) -> None:
    cache = _parsed
    cache[key] = read
    while len(cache) > CACHED_PARSES:
        try:  # each step is atomic; another thread may be evicting too
            del cache[next(iter(cache))]
        except (KeyError, RuntimeError, StopIteration):  # pragma: no cover - a race
            break


def _with_shortcuts(parsed: Preconditions) -> ReadFields:
    if_match, if_none_match = parsed.if_match, parsed.if_none_match
    if (
        parsed.bare_token_fields
        or parsed.if_modified_since is not None
        or parsed.if_unmodified_since is not None
        or (if_match is None) == (if_none_match is None)
    ):
        return ReadFields(parsed)
    proceed = proceed_with(if_match, if_none_match, None, ())
    if isinstance(if_match, tuple) and len(if_match) == 1 and not if_match[0].weak:
        return ReadFields(parsed, sole_if_match=if_match[0].opaque, proceed=proceed)
    if isinstance(if_none_match, tuple):
        opaques = frozenset(tag.opaque for tag in if_none_match)
        return ReadFields(parsed, sole_if_none_match=opaques, proceed=proceed)
    return ReadFields(parsed)


def _parse(
    if_match: str | None,
    if_none_match: str | None,
    ims: str | None,
    ius: str | None,
    max_tags: int,
    max_length: int,
    now: datetime | None,
) -> Preconditions:
    parsed = _new(Preconditions)
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
