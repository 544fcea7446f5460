"""The read-only probes: validators on GET, conditional GET, HEAD, stability.

None of them changes the resource. Each is a generator (see ``ifmatch.check.messages``) that
returns a :class:`~ifmatch.check.context.Finding`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..core import proxy_suffix
from .context import Context, Finding, State, read_state
from .messages import Flow, Request, Response, exchange
from .model import Status

__all__ = ["READ_PROBES", "Probe"]

#: RFC 9110 §15.4.5: "The server generating a 304 response MUST generate any of the following
#: header fields that would have been sent in a 200 (OK) response to the same request".
HEADERS_304_MUST_KEEP = ("Content-Location", "Date", "ETag", "Vary", "Cache-Control", "Expires")


@dataclass(frozen=True, slots=True)
class Probe:
    """One question the checker asks, with the section of the RFC that answers it."""

    id: str
    title: str
    rfc: str
    run: Callable[[Context], Flow[Finding]]
    writes: bool = False


def validator(ctx: Context) -> Flow[Finding]:
    """Does GET return an ETag or a Last-Modified?"""
    yield from ()
    state = ctx.initial
    shown = ctx.evidence(Request("GET"), state.response)
    if state.etag_raw is not None:
        extra = " and Last-Modified" if state.last_modified_raw else ""
        return Finding(Status.PASS, f"GET returns ETag {state.etag_raw}{extra}.", (shown,))
    if state.last_modified is not None:
        return Finding(
            Status.WARN,
            "GET returns Last-Modified but no ETag: writes can only be guarded with "
            "If-Unmodified-Since, to the second. Send a strong ETag derived from a version.",
            (shown,),
        )
    return Finding(
        Status.FAIL,
        "GET returns neither ETag nor a valid Last-Modified: a client has no validator to make "
        "its write conditional on, so concurrent edits silently overwrite each other.",
        (shown,),
    )


def etag_syntax(ctx: Context) -> Flow[Finding]:
    """Is the ETag one valid, quoted, strong entity-tag?"""
    yield from ()
    state = ctx.initial
    shown = (ctx.evidence(Request("GET"), state.response),)
    if state.etag_raw is None:
        return Finding(Status.SKIP, "GET returns no ETag.")
    if state.etag_problem is not None or state.etag is None:
        return Finding(
            Status.FAIL,
            f"ETag {state.etag_raw} is not a valid entity-tag: {state.etag_problem}. The grammar "
            "is [ W/ ] DQUOTE *etagc DQUOTE; strict clients and proxies drop or mangle it.",
            shown,
        )
    if state.etag.weak:
        return Finding(
            Status.WARN,
            f"ETag {state.etag_raw} is weak. If-Match uses the strong comparison, so a weak tag "
            "can never satisfy it: conditional writes need a strong tag.",
            shown,
        )
    return Finding(Status.PASS, f"{state.etag_raw} is a strong, quoted entity-tag.", shown)


def stable(ctx: Context) -> Flow[Finding]:
    """Do repeated GETs, each on a new connection, return the same validators?"""
    state = ctx.initial
    if state.etag_raw is None and state.last_modified_raw is None:
        return Finding(Status.SKIP, "GET returns no validator.")
    evidence = []
    for _ in range(ctx.options.stable_reads):
        # A new connection each time, so a load balancer may pick another server process.
        request, again = yield from read_state((("Connection", "close"),))
        if not _same_validators(state, again):
            evidence.append(ctx.evidence(request, again.response))
            return Finding(
                Status.FAIL,
                f"The validators changed between identical GETs ({state.etag_raw} then "
                f"{again.etag_raw}) with nobody writing: an If-Match built from one read rarely "
                "matches the next, or the tag depends on which server process answers.",
                (ctx.evidence(Request("GET"), state.response), *evidence),
            )
    return Finding(
        Status.PASS,
        f"{ctx.options.stable_reads + 1} GETs on separate connections returned the same "
        "validators.",
    )


def _same_validators(first: State, again: State) -> bool:
    # RFC 9110 §8.8.2.1: some servers withhold a Last-Modified later than their clock (a
    # resource written faster than once a second), so the field may appear between two reads;
    # only a different value is a change.
    if first.last_modified_raw is None or again.last_modified_raw is None:
        return first.etag_raw == again.etag_raw
    return (first.etag_raw, first.last_modified_raw) == (again.etag_raw, again.last_modified_raw)


def head(ctx: Context) -> Flow[Finding]:
    """Does HEAD return the validators GET returns?"""
    # §9.3.2: "The server SHOULD send the same header fields in response to a HEAD request as
    # it would have sent if the request method had been GET. However, a server MAY omit
    # header fields for which a value is determined only while generating the content."
    state = ctx.initial
    request = Request("HEAD")
    response = yield from exchange(request)
    shown = (ctx.evidence(Request("GET"), state.response), ctx.evidence(request, response))
    if response.status in (405, 501):
        return Finding(Status.WARN, f"HEAD is not supported ({response.status}).", shown)
    if response.status != state.response.status:
        return Finding(
            Status.FAIL,
            f"HEAD answered {response.status} where GET answered {state.response.status}.",
            shown,
        )
    head_state = State.of(response)
    for name, got, want in (
        ("ETag", head_state.etag_raw, state.etag_raw),
        ("Last-Modified", head_state.last_modified_raw, state.last_modified_raw),
    ):
        if want is not None and got is None:
            return Finding(
                Status.WARN,
                f"HEAD omits the {name} GET sends (allowed only for fields computed while "
                "generating the content).",
                shown,
            )
        if got != want:
            return Finding(Status.FAIL, f"HEAD sends {name} {got} but GET sends {want}.", shown)
    return Finding(Status.PASS, "HEAD returns the same status and validators as GET.", shown)


def _missing_from_304(ok: Response, not_modified: Response) -> list[str]:
    return [
        name
        for name in HEADERS_304_MUST_KEEP
        if ok.header(name) is not None and not_modified.header(name) is None
    ]


def _conditional_get(
    ctx: Context, header: str, value: str, what: str
) -> Flow[tuple[Finding, bool]]:
    """GET with one validator that matches the current representation; expect 304."""
    state = ctx.initial
    request = Request("GET", ((header, value),))
    response = yield from exchange(request)
    shown = (ctx.evidence(request, response),)
    if response.status == 304:
        missing = _missing_from_304(state.response, response)
        if missing:
            return Finding(
                Status.FAIL,
                f"The 304 lacks {', '.join(missing)}, which the 200 carries; a 304 must "
                "carry them so caches and clients keep the right validator.",
                shown,
            ), True
        return Finding(Status.PASS, f"{what} gives 304 with the validators.", shown), True
    if response.status == 412:
        return Finding(
            Status.FAIL,
            f"{what} gives 412; a GET whose condition is false must get 304 Not Modified.",
            shown,
        ), False
    if response.is_success:
        return Finding(
            Status.WARN,
            f"{what} is ignored ({response.status}): every revalidation transfers the whole "
            "representation.",
            shown,
        ), False
    return Finding(Status.ERROR, f"{what} gives {response.status}.", shown), False


def if_none_match(ctx: Context) -> Flow[Finding]:
    """Does If-None-Match with the current tag give 304?"""
    state = ctx.initial
    if state.etag_raw is None:
        return Finding(Status.SKIP, "GET returns no ETag.")
    finding, works = yield from _conditional_get(
        ctx, "If-None-Match", state.etag_raw, "If-None-Match with the current ETag"
    )
    ctx.notes["if-none-match-works"] = works
    return finding


def if_none_match_weak(ctx: Context) -> Flow[Finding]:
    """Does If-None-Match with the weak form of the current tag give 304 too?"""
    state = ctx.initial
    if state.etag is None:
        return Finding(Status.SKIP, "GET returns no valid ETag.")
    if not ctx.notes.get("if-none-match-works"):
        return Finding(Status.SKIP, "If-None-Match with the current ETag gave no 304.")
    weak = str(state.etag.as_weak())
    finding, works = yield from _conditional_get(
        ctx, "If-None-Match", weak, f"If-None-Match: {weak}"
    )
    if works or finding.status is not Status.WARN:
        return finding
    # §13.1.2: "A recipient MUST use the weak comparison function when comparing entity-tags
    # for If-None-Match".
    return Finding(
        Status.FAIL,
        f"{weak} does not match: If-None-Match must use the weak comparison, so a tag weakened "
        "by a proxy (gzip) still revalidates.",
        finding.evidence,
    )


def if_modified_since(ctx: Context) -> Flow[Finding]:
    """Does If-Modified-Since with the current Last-Modified give 304?"""
    state = ctx.initial
    if state.last_modified_raw is None or state.last_modified is None:
        return Finding(Status.SKIP, "GET returns no valid Last-Modified.")
    finding, _ = yield from _conditional_get(
        ctx, "If-Modified-Since", state.last_modified_raw, "If-Modified-Since with Last-Modified"
    )
    return finding


#: The codings a compressing proxy is asked for, one GET each.
CODINGS = ("gzip", "br")


def compressed_etag(ctx: Context) -> Flow[Finding]:
    """Does a compressed response carry the ETag an uncompressed one does?"""
    # Apache httpd's mod_deflate appends "-gzip" to the tag of a response it compresses
    # (DeflateAlterETag AddSuffix, its default since 2.4.0), mod_brotli "-br"; nginx and
    # Django's GZipMiddleware weaken it. Clients echo what they received in If-Match, which
    # §13.1.1 compares strongly: an origin that does not expect the altered tag answers 412.
    plain_request = Request("GET", (("Accept-Encoding", "identity"),))
    plain = yield from exchange(plain_request)
    base = State.of(plain)
    if base.etag is None or base.etag_raw is None:
        return Finding(Status.SKIP, "GET returns no valid ETag.")
    shown = [ctx.evidence(plain_request, plain)]
    compressed: list[str] = []
    for coding in CODINGS:
        request = Request("GET", (("Accept-Encoding", coding),))
        response = yield from exchange(request)
        if response.header("Content-Encoding") is None:
            continue
        compressed.append(coding)
        state = State.of(response)
        if state.etag == base.etag:
            continue
        shown.append(ctx.evidence(request, response))
        return Finding(Status.WARN, _altered(coding, state, base), tuple(shown))
    if not compressed:
        return Finding(
            Status.PASS,
            "No response was compressed (asked for gzip, then br), so none altered the ETag.",
        )
    return Finding(
        Status.PASS,
        f"Compressed responses ({', '.join(compressed)}) carry the ETag an uncompressed one "
        f"does, {base.etag_raw}.",
        tuple(shown),
    )


def _altered(coding: str, state: State, base: State) -> str:
    """What a compressed response did to the tag, and what follows for writes."""
    assert base.etag is not None
    if state.etag is None:
        return (
            f"A {coding}-compressed GET carries no ETag (DeflateAlterETag Remove, or a proxy "
            "that drops it): a client that receives compressed responses has no tag to make "
            "its writes conditional on."
        )
    writes = (
        " Clients send the tag they received in If-Match, which is compared strongly (RFC "
        "9110 §13.1.1): unless the origin accepts it, every such write gets 412 (with "
        "--write, the write probe sends the tag the checker received)."
    )
    suffix = proxy_suffix(state.etag, base.etag)
    if suffix is not None:
        return (
            f"A {coding}-compressed GET carries ETag {state.etag_raw}: the tag "
            f"{base.etag_raw} with {suffix} appended, as Apache httpd's mod_deflate (-gzip) "
            f"and mod_brotli (-br) do by default.{writes} Configure the proxy with "
            "DeflateAlterETag NoChange / BrotliAlterETag NoChange, or accept the suffix at "
            "the origin (ifmatch: the accept-weak-echo option)."
        )
    if state.etag.weak and state.etag.opaque == base.etag.opaque:
        return (
            f"A {coding}-compressed GET carries the weak {state.etag_raw}: a compressing "
            f"proxy (nginx gzip, Django's GZipMiddleware) weakened {base.etag_raw}.{writes} "
            "Accept the weak echo at the origin (ifmatch: the accept-weak-echo option)."
        )
    return (
        f"A {coding}-compressed GET carries ETag {state.etag_raw}, an uncompressed one "
        f"{base.etag_raw}.{writes}"
    )


READ_PROBES: tuple[Probe, ...] = (
    Probe("validator", "GET returns a validator", "RFC 9110 §8.8", validator),
    Probe("etag-syntax", "ETag is strong and quoted", "RFC 9110 §8.8.3", etag_syntax),
    Probe("stable", "validators are stable across GETs", "RFC 9110 §8.8.1", stable),
    Probe("head", "HEAD agrees with GET", "RFC 9110 §9.3.2", head),
    Probe("if-none-match", "If-None-Match gives 304", "RFC 9110 §13.1.2, §15.4.5", if_none_match),
    Probe(
        "if-none-match-weak",
        "If-None-Match compares weakly",
        "RFC 9110 §13.1.2, §8.8.3.2",
        if_none_match_weak,
    ),
    Probe(
        "if-modified-since",
        "If-Modified-Since gives 304",
        "RFC 9110 §13.1.3",
        if_modified_since,
    ),
    Probe(
        "compressed-etag",
        "compression keeps the ETag",
        "RFC 9110 §8.8.3, §13.1.1",
        compressed_etag,
    ),
)
