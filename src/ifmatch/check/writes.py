"""The write probes: what the server does with each kind of precondition on a PUT.

They run only with ``--write``. Each PUT sends back the JSON document the first GET returned,
with the ``--body-field`` member set to a unique marker; a GET afterwards shows whether the
write was applied, whatever the status code claimed. The last probe puts the original
representation back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ..core import format_http_date
from .context import Context, Finding, State, read_state
from .messages import Flow, Request, Response, exchange
from .model import Evidence, Status
from .probes import Probe

__all__ = ["WRITE_PROBES", "put_request", "stored_value"]

#: Sent as a malformed If-Match: an opaque-tag whose closing quote is missing.
MALFORMED_IF_MATCH = '"ifmatch-check'


def put_request(ctx: Context, marker: str, headers: tuple[tuple[str, str], ...]) -> Request:
    """A PUT of the original document with the body field set to ``marker``."""
    document = dict(ctx.document or {})
    document[ctx.options.body_field] = marker
    return Request(
        "PUT",
        (("Content-Type", ctx.content_type), *headers),
        json.dumps(document).encode(),
    )


def stored_value(ctx: Context, state: State) -> Any:
    """The body field as a GET shows it (``None`` when absent or not a 2xx JSON object)."""
    document = state.document() if state.response.is_success else None
    return None if document is None else document.get(ctx.options.body_field)


def _baseline_refused(ctx: Context, response: Response, shown: tuple[Evidence, ...]) -> Finding:
    status = response.status
    ctx.write_blocked = f"the baseline conditional write was refused ({status})"
    if status in (412, 428):
        return Finding(
            Status.FAIL,
            f"A PUT carrying the ETag GET had just returned was refused with {status}: the tag "
            "clients receive is not the tag writes are checked against, so every write fails.",
            shown,
        )
    if status in (401, 403):
        reason = "needs credentials or permissions the checker lacks; pass them with --header"
    elif status in (404, 405, 501):
        reason = "shows PUT is not supported on this URL"
    elif status >= 500:
        reason = "is a server error"
    else:
        reason = (
            "means the server rejected the probe's body: the checker PUTs the JSON it read with "
            f"{ctx.options.body_field!r} changed; choose a writable string member with "
            "--body-field"
        )
    return Finding(Status.ERROR, f"The conditional PUT got {status}, which {reason}.", shown)


def baseline(ctx: Context) -> Flow[Finding]:
    """Does a write with the current ETag succeed and return the new ETag?"""
    if ctx.document is None:
        ctx.write_blocked = "the representation is not a JSON object"
        return Finding(
            Status.ERROR,
            "The representation is not a JSON object, so the write probes cannot build a body "
            "(they change one member of it). Run without --write for the read-only probes.",
        )
    _, state = yield from read_state()
    if state.etag_raw is None:
        ctx.write_blocked = "GET returns no ETag"
        return Finding(Status.ERROR, "GET returns no ETag to send in If-Match.")
    marker = ctx.marker("conditional write")
    request = put_request(ctx, marker, (("If-Match", state.etag_raw),))
    ctx.wrote = True
    response = yield from exchange(request)
    shown: tuple[Evidence, ...] = (ctx.evidence(request, response),)
    if not response.is_success:
        return _baseline_refused(ctx, response, shown)
    get_request, after = yield from read_state()
    shown += (ctx.evidence(get_request, after.response),)
    if stored_value(ctx, after) != marker:
        ctx.write_blocked = "the write was not visible to GET"
        return Finding(
            Status.ERROR,
            f"The PUT answered {response.status} but GET does not show the new value of "
            f"{ctx.options.body_field!r}: choose a member the API stores with --body-field.",
            shown,
        )
    ctx.notes["stale-etag"] = state.etag_raw
    return _judge_new_etag(ctx, state, response, after, shown)


def _judge_new_etag(
    ctx: Context, before: State, response: Response, after: State, shown: tuple[Evidence, ...]
) -> Finding:
    returned = response.header("ETag")
    if after.etag_raw == before.etag_raw:
        ctx.write_blocked = "the ETag does not change when the resource changes"
        return Finding(
            Status.FAIL,
            f"After the write GET still returns ETag {before.etag_raw}: the validator does not "
            "follow the data, so a client holding the old tag still passes If-Match.",
            shown,
        )
    if returned is None:
        # §9.3.4 lets a PUT response omit the validator (it must, if the stored content was
        # transformed); the client then has to re-read before its next write.
        return Finding(
            Status.WARN,
            "The write succeeded but its response carries no ETag: clients must re-read the "
            "resource before their next conditional write.",
            shown,
        )
    if returned != after.etag_raw:
        return Finding(
            Status.FAIL,
            f"The write returned ETag {returned} but GET now returns {after.etag_raw}: a client "
            "that writes again with the tag it was given gets 412.",
            shown,
        )
    return Finding(
        Status.PASS,
        f"The PUT with If-Match: {before.etag_raw} succeeded and returned the new ETag {returned}.",
        shown,
    )


def _expect_refusal(
    ctx: Context,
    label: str,
    headers: tuple[tuple[str, str], ...],
    *,
    expected: tuple[int, ...],
    applied: str,
    passed: str,
    wrong: Mapping[int, str] | None = None,
    applied_status: Status = Status.FAIL,
    advice: str = "",
) -> Flow[Finding]:
    """PUT with ``headers``; the server should answer one of ``expected`` and not write."""
    marker = ctx.marker(label)
    request = put_request(ctx, marker, headers)
    response = yield from exchange(request)
    get_request, after = yield from read_state()
    sent = ctx.evidence(request, response)
    status = response.status
    if stored_value(ctx, after) == marker:
        ctx.notes.setdefault("applied", []).append(label)
        return Finding(
            applied_status,
            f"{applied} (it answered {status}; GET shows the value sent).{advice}",
            (sent, ctx.evidence(get_request, after.response)),
        )
    if wrong and status in wrong:
        return Finding(Status.FAIL, wrong[status], (sent,))
    if status >= 500:
        return Finding(Status.ERROR, f"The server failed ({status}).", (sent,))
    if status in expected:
        return Finding(Status.PASS, passed.format(status=status), (sent,))
    if response.is_success:
        return Finding(
            Status.WARN,
            f"It answered {status} without applying the write; the answer is {expected[0]}.",
            (sent,),
        )
    return Finding(
        Status.WARN,
        f"The write was refused, but with {status}; the answer is {expected[0]}.",
        (sent,),
    )


def stale_if_match(ctx: Context) -> Flow[Finding]:
    """Does a write with the ETag from before the last change get 412?"""
    # §13.2.2 step 1: "When recipient is the origin server and If-Match is present, evaluate
    # the If-Match precondition: if true, continue to step 3; if false, respond 412
    # (Precondition Failed) unless it can be determined that the state-changing request has
    # already succeeded." The marker differs from the stored value, so nothing "succeeded".
    stale = str(ctx.notes["stale-etag"])
    return (
        yield from _expect_refusal(
            ctx,
            "stale If-Match",
            (("If-Match", stale),),
            expected=(412,),
            applied="A PUT with a stale If-Match was applied",
            advice=" The server overwrote a change the client never saw: a lost update.",
            passed="A PUT with the ETag from before the last write got {status}.",
        )
    )


def weak_if_match(ctx: Context) -> Flow[Finding]:
    """Is If-Match compared strongly (a weak tag never matches)?"""
    # §13.1.1: "An origin server MUST use the strong comparison function when comparing
    # entity-tags for If-Match".
    _, state = yield from read_state()
    if state.etag is None:
        return Finding(Status.SKIP, "GET returns no valid ETag.")
    weak = str(state.etag.as_weak())
    return (
        yield from _expect_refusal(
            ctx,
            "weak If-Match",
            (("If-Match", weak),),
            expected=(412,),
            applied=f"A PUT with If-Match: {weak} was applied",
            advice=" If-Match must use the strong comparison, which a weak tag never satisfies.",
            passed=f"If-Match: {weak} got {{status}}: If-Match compares strongly.",
        )
    )


def malformed_if_match(ctx: Context) -> Flow[Finding]:
    """Does a malformed If-Match stop the write?"""
    return (
        yield from _expect_refusal(
            ctx,
            "malformed If-Match",
            (("If-Match", MALFORMED_IF_MATCH),),
            expected=(400, 412),
            applied="A PUT with a malformed If-Match was applied",
            advice=" The server dropped a header it could not parse and wrote "
            "unconditionally; it must refuse the write (400 or 412).",
            passed="A malformed If-Match was refused with {status}.",
        )
    )


def if_none_match_write(ctx: Context) -> Flow[Finding]:
    """Does a PUT whose If-None-Match names the current tag get 412?"""
    # §13.2.2 step 3: "When If-None-Match is present, evaluate the If-None-Match
    # precondition: if true, continue to step 5; if false for GET/HEAD, respond 304 (Not
    # Modified); if false for other methods, respond 412 (Precondition Failed)."
    _, state = yield from read_state()
    current = state.etag_raw or ""
    return (
        yield from _expect_refusal(
            ctx,
            "If-None-Match on PUT",
            (("If-None-Match", current),),
            expected=(412,),
            applied=f"A PUT with If-None-Match: {current} was applied although that is the "
            "current ETag",
            passed=f"A PUT with If-None-Match: {current} got {{status}}.",
            wrong={
                304: "A PUT whose If-None-Match is false got 304 Not Modified: 304 is for GET "
                "and HEAD only; for other methods the answer is 412, and a client may read a "
                "304 as success and believe its write was saved."
            },
        )
    )


def if_unmodified_since(ctx: Context) -> Flow[Finding]:
    """Does If-Unmodified-Since with a date before Last-Modified get 412?"""
    # §13.2.2 step 2: "When recipient is the origin server, If-Match is not present, and
    # If-Unmodified-Since is present, evaluate the If-Unmodified-Since precondition: if true,
    # continue to step 3; if false, respond 412 (Precondition Failed) ..."
    _, state = yield from read_state()
    # A server may withhold Last-Modified while it is later than the clock (RFC 9110
    # §8.8.2.1), as right after the probes' own writes: a day before the one the first GET
    # returned is earlier still than the current one.
    last_modified = state.last_modified or ctx.initial.last_modified
    if last_modified is None:
        return Finding(Status.SKIP, "GET returns no valid Last-Modified.")
    old = format_http_date(last_modified - timedelta(days=1))
    return (
        yield from _expect_refusal(
            ctx,
            "old If-Unmodified-Since",
            (("If-Unmodified-Since", old),),
            expected=(412,),
            applied="A PUT with If-Unmodified-Since a day before Last-Modified was applied",
            passed="A PUT with If-Unmodified-Since a day before Last-Modified got {status}.",
        )
    )


def if_match_star(ctx: Context) -> Flow[Finding]:
    """Does ``If-Match: *`` let a write through when the resource exists?"""
    # §13.1.1: "If the field value is "*", the condition is false if the origin server does
    # not have a current representation for the target resource." Here it has one.
    marker = ctx.marker("If-Match: *")
    request = put_request(ctx, marker, (("If-Match", "*"),))
    response = yield from exchange(request)
    _, after = yield from read_state()
    shown = (ctx.evidence(request, response),)
    if response.is_success and stored_value(ctx, after) == marker:
        return Finding(Status.PASS, f"If-Match: * was accepted ({response.status}).", shown)
    if response.status in (412, 428):
        return Finding(
            Status.FAIL,
            f"If-Match: * got {response.status} although the resource exists: * matches any "
            "current representation, so clients that only need the resource to exist cannot "
            "write.",
            shown,
        )
    if response.status >= 500:
        return Finding(Status.ERROR, f"The server failed ({response.status}).", shown)
    return Finding(
        Status.WARN, f"If-Match: * got {response.status} and the write was not applied.", shown
    )


def no_precondition(ctx: Context) -> Flow[Finding]:
    """Is a write without any precondition refused with 428?"""
    # RFC 6585 §3: "The 428 status code indicates that the origin server requires the
    # request to be conditional." Not requiring one is allowed, hence a warning at most.
    return (
        yield from _expect_refusal(
            ctx,
            "no precondition",
            (),
            expected=(428,),
            applied="A PUT without any precondition was accepted",
            passed="A PUT without a precondition got {status}.",
            applied_status=Status.WARN,
            advice=" A client that forgets If-Match overwrites changes it never saw: answer "
            "such writes with 428 Precondition Required.",
        )
    )


def restore(ctx: Context) -> Flow[Finding]:
    """Put the original representation back."""
    if not ctx.wrote or ctx.document is None:
        return Finding(Status.SKIP, "Nothing was written.")
    _, state = yield from read_state()
    headers = () if state.etag_raw is None else (("If-Match", state.etag_raw),)
    request = Request(
        "PUT", (("Content-Type", ctx.content_type), *headers), json.dumps(ctx.document).encode()
    )
    response = yield from exchange(request)
    shown = (ctx.evidence(request, response),)
    original = ctx.document.get(ctx.options.body_field)
    _, after = yield from read_state()
    if response.is_success and stored_value(ctx, after) == original:
        return Finding(Status.PASS, "The original representation was put back.", shown)
    return Finding(
        Status.WARN,
        f"Could not put the original representation back (the PUT got {response.status}); "
        f"{ctx.options.body_field!r} was {json.dumps(original)} before the check.",
        shown,
    )


WRITE_PROBES: tuple[Probe, ...] = (
    Probe("write", "conditional write returns new ETag", "RFC 9110 §9.3.4", baseline, True),
    Probe("stale-if-match", "stale If-Match gets 412", "RFC 9110 §13.1.1", stale_if_match, True),
    Probe("weak-if-match", "weak If-Match gets 412", "RFC 9110 §13.1.1", weak_if_match, True),
    Probe(
        "malformed-if-match",
        "malformed If-Match is refused",
        "RFC 9110 §13.1.1, §13.2.1",
        malformed_if_match,
        True,
    ),
    Probe(
        "if-none-match-write",
        "If-None-Match on PUT gets 412",
        "RFC 9110 §13.1.2",
        if_none_match_write,
        True,
    ),
    Probe(
        "if-unmodified-since",
        "old If-Unmodified-Since gets 412",
        "RFC 9110 §13.1.4",
        if_unmodified_since,
        True,
    ),
    Probe("if-match-star", "If-Match: * is accepted", "RFC 9110 §13.1.1", if_match_star, True),
    Probe(
        "no-precondition",
        "write without precondition gets 428",
        "RFC 6585 §3",
        no_precondition,
        True,
    ),
)

#: Runs last, whatever happened before.
RESTORE = Probe("restore", "original representation restored", "", restore, True)
