"""The write probes after the first: what the server does with each kind of precondition on
a write, and the restore.

They run only with ``--write``, once the ``write`` probe (``baseline``) found a way of writing
the API accepts; each writes that way, and a GET afterwards shows whether the write was
applied, whatever the status code claimed. The last probe puts the original value back and
compares the representation with the first one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ..core import format_http_date
from .baseline import baseline
from .context import Context, Finding, State, read_state
from .documents import Representation, changed_members, value_at
from .messages import Flow, exchange
from .model import Evidence, Status
from .probes import Probe
from .writing import method_of, representation, request_for, stored_value, write_request

__all__ = ["MALFORMED_IF_MATCH", "RESTORE", "WRITE_PROBES"]

#: Sent as a malformed If-Match: an opaque-tag whose closing quote is missing.
MALFORMED_IF_MATCH = '"ifmatch-check'


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
    """Write with ``headers``; the server should answer one of ``expected`` and not write."""
    marker = ctx.marker(label)
    request = write_request(ctx, marker, headers)
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
        return Finding(Status.PASS, passed.replace("{status}", str(status)), (sent,))
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
            applied=f"A {method_of(ctx)} with a stale If-Match was applied",
            advice=" The server overwrote a change the client never saw: a lost update.",
            passed=f"A {method_of(ctx)} with the ETag from before the last write got {{status}}.",
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
            applied=f"A {method_of(ctx)} with If-Match: {weak} was applied",
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
            applied=f"A {method_of(ctx)} with a malformed If-Match was applied",
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
            applied=f"A {method_of(ctx)} with If-None-Match: {current} was applied although that "
            "is the current ETag",
            passed=f"A {method_of(ctx)} with If-None-Match: {current} got {{status}}.",
            wrong={
                304: f"A {method_of(ctx)} whose If-None-Match is false got 304 Not Modified: 304 "
                "is for GET "
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
            applied=f"A {method_of(ctx)} with If-Unmodified-Since a day before Last-Modified was "
            "applied",
            passed=f"A {method_of(ctx)} with If-Unmodified-Since a day before Last-Modified got "
            "{status}.",
        )
    )


def if_match_star(ctx: Context) -> Flow[Finding]:
    """Does ``If-Match: *`` let a write through when the resource exists?"""
    # §13.1.1: "If the field value is "*", the condition is false if the origin server does
    # not have a current representation for the target resource." Here it has one.
    marker = ctx.marker("If-Match: *")
    request = write_request(ctx, marker, (("If-Match", "*"),))
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
            applied=f"A {method_of(ctx)} without any precondition was accepted",
            passed=f"A {method_of(ctx)} without a precondition got {{status}}.",
            applied_status=Status.WARN,
            advice=" A client that forgets If-Match overwrites changes it never saw: answer "
            "such writes with 428 Precondition Required.",
        )
    )


def restore(ctx: Context) -> Flow[Finding]:
    """Put the original value back, and compare the representation with the first one."""
    if not ctx.wrote or ctx.representation is None:
        return Finding(Status.SKIP, "Nothing was written.")
    rep = ctx.representation
    way = ctx.way or ctx.accepted
    if way is None:
        # Every write was refused: nothing to put back, but make sure of it.
        get_request, after = yield from read_state()
        return _unchanged(ctx, after, (ctx.evidence(get_request, after.response),))
    _, state = yield from read_state()
    headers = () if state.etag_raw is None else (("If-Match", state.etag_raw),)
    request = request_for(ctx, way, rep.original, headers)
    response = yield from exchange(request)
    shown = (ctx.evidence(request, response),)
    _, after = yield from read_state()
    if not response.is_success or stored_value(ctx, after) != rep.original:
        return Finding(
            Status.WARN,
            f"Could not put the original representation back (the {way.method} got "
            f"{response.status}); {rep.field!r} was {json.dumps(rep.original)} before the check.",
            shown,
        )
    changed = _changed(ctx, after)
    if changed:
        return Finding(Status.WARN, f"{rep.field!r} was put back, but {changed}.", shown)
    return Finding(Status.PASS, "The original representation was put back.", shown)


def _changed(ctx: Context, after: State) -> str | None:
    """What differs between ``after`` and the first GET (beyond validators, versions,
    timestamps and links), as a phrase; ``None`` when nothing does."""
    rep = representation(ctx)
    document = after.document() if after.response.is_success else None
    if document is None:
        return f"GET now answers {after.response.status} without a JSON object"
    changed = changed_members(rep, document)
    if not changed:
        return None
    was = [
        f"{name} was {json.dumps(_member(rep.document, rep, name))}, now "
        f"{json.dumps(_member(document, rep, name))}"
        for name in changed
    ]
    return f"other members changed ({'; '.join(was)})"


def _member(document: Mapping[str, Any], rep: Representation, name: str) -> Any:
    if name.startswith("data."):
        return value_at(document, tuple(name.split(".")))
    return value_at(document, (*rep.members, name))


def _unchanged(ctx: Context, after: State, shown: tuple[Evidence, ...]) -> Finding:
    if after.response.body == ctx.initial.response.body:
        return Finding(
            Status.PASS,
            "No write was accepted, and GET shows the representation exactly as before the "
            "check (byte for byte).",
            shown,
        )
    changed = _changed(ctx, after)
    if changed is None:
        return Finding(
            Status.PASS,
            "No write was accepted, and GET shows the same members as before the check (only "
            "validators, versions, timestamps or links differ).",
            shown,
        )
    return Finding(Status.WARN, f"No write was accepted, yet {changed}.", shown)


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
