"""The first write probe (``write``): find a way of writing the API accepts, then judge the
ETag a successful write returns.

It tries the ways of a :class:`~ifmatch.check.ways.Plan` in order, each with ``If-Match`` set to
the current tag, until one answers 2xx *and* the next GET shows the value it sent. A refusal
for the body or the method moves on (and teaches the plan); 412/428 fail the probe; 401/403,
5xx and the rest end it. When no way is accepted the run cannot check lost-update safety: one
sentence says what was tried, and the verdict is "could not check".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import openapi
from .context import Context, Finding, State, read_state
from .documents import Representation, Shape, read_only_paths
from .messages import Flow, Response, exchange
from .model import Evidence, Status
from .ways import BODY_REFUSED, METHOD_REFUSED, Plan, Way
from .writing import constraints, method_of, representation, request_for, stored_value

__all__ = ["Attempt", "baseline"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """A way the ``write`` probe tried that did not work: refused, or a 2xx whose value the
    next GET did not show."""

    way: Way
    status: int

    @property
    def unseen(self) -> bool:
        """Whether the API answered 2xx but did not store the value."""
        return 200 <= self.status < 300

    def describe(self, rep: Representation) -> str:
        outcome = f"got {self.status}"
        if self.unseen:
            outcome += " but GET did not show the value"
        return f"a {self.way.describe(rep)} {outcome}"

    def as_dict(self) -> dict[str, Any]:
        return {**_way_data(self.way), "status": self.status}


def _way_data(way: Way) -> dict[str, Any]:
    return {
        "method": way.method,
        "content_type": way.content_type,
        "body": way.body.value,
        "omitted": [".".join(path) for path in way.omit],
    }


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _baseline_refused(
    ctx: Context, response: Response, shown: tuple[Evidence, ...], method: str
) -> Finding:
    status = response.status
    ctx.write_blocked = f"the baseline conditional write was refused ({status})"
    if status in (412, 428):
        return Finding(
            Status.FAIL,
            f"A {method} carrying the ETag GET had just returned was refused with {status}: "
            "the tag clients receive is not the tag writes are checked against, so every write "
            "fails.",
            shown,
        )
    if status in (401, 403, 407):
        reason = "needs credentials or permissions the checker lacks; pass them with --header"
    elif status >= 500:
        reason = "is a server error"
    elif 300 <= status < 400:
        reason = "is a redirect, which the checker does not follow"
    else:
        reason = "the checker cannot work around"
    detail = f"The conditional {method} got {status}, which {reason}."
    ctx.cannot_check = detail
    return Finding(Status.ERROR, detail, shown)


def _nothing_accepted(
    ctx: Context, attempts: list[Attempt], shown: tuple[Evidence, ...]
) -> Finding:
    rep = representation(ctx)
    ctx.write_blocked = "no write was accepted"
    tried = _listed([attempt.describe(rep) for attempt in attempts])
    if any(attempt.unseen for attempt in attempts):
        advice = (
            f"choose a member the API stores with --body-field (not {json.dumps(rep.field)}), "
            "or describe the write with --body-template, --write-method, --content-type and "
            "--header"
        )
    else:
        advice = (
            "describe the write the API expects with --body-template, --write-method, "
            "--content-type or --header"
        )
    detail = f"No write was accepted: {tried}; {advice}."
    ctx.cannot_check = detail
    data = {"attempts": [attempt.as_dict() for attempt in attempts]}
    return Finding(Status.ERROR, detail, shown, data)


def _openapi_omissions(ctx: Context, way: Way) -> Flow[tuple[set[str], tuple[Evidence, ...]]]:
    """The members the API's OpenAPI document says ``way`` should leave out."""
    rep = representation(ctx)
    if rep.shape is Shape.JSON_API:
        return set(), ()
    link = ctx.initial.response.header("Link")
    spec, exchanges = yield from openapi.find(ctx.target, ctx.origin, link)
    if spec is None:
        return set(), ()
    hints = openapi.write_hints(spec, ctx.target, way.method)
    shown = tuple(ctx.evidence(request, response) for request, response in exchanges[-1:])
    return hints.omit(rep.document), shown


def baseline(ctx: Context) -> Flow[Finding]:
    """Does a write with the current ETag succeed and return the new ETag?"""
    if ctx.document is None or ctx.representation is None:
        ctx.write_blocked = "the representation is not a JSON object"
        detail = (
            "The representation is not a JSON object, so the write probes cannot build a body "
            "(they change one member of it). Run without --write for the read-only probes."
        )
        ctx.cannot_check = detail
        return Finding(Status.ERROR, detail)
    _, state = yield from read_state()
    if state.etag_raw is None:
        ctx.write_blocked = "GET returns no ETag"
        return Finding(Status.ERROR, "GET returns no ETag to send in If-Match.")
    rep = ctx.representation
    plan = Plan(rep, constraints(ctx))
    plan.observe(ctx.initial.response)
    attempts: list[Attempt] = []
    shown: tuple[Evidence, ...] = ()
    before = state
    while (way := plan.next()) is not None:
        marker = ctx.marker("conditional write")
        request = request_for(ctx, way, marker, (("If-Match", before.etag_raw or ""),))
        ctx.wrote = True
        response = yield from exchange(request)
        shown += (ctx.evidence(request, response),)
        if response.is_success:
            ctx.accepted = way
            get_request, after = yield from read_state()
            shown += (ctx.evidence(get_request, after.response),)
            if stored_value(ctx, after) == marker:
                ctx.way = way
                ctx.notes["stale-etag"] = before.etag_raw
                finding = _judge_new_etag(ctx, before, response, after, shown)
                return _found(finding, rep, way, attempts)
            attempts.append(Attempt(way, response.status))
            plan.observe(response)
            if after.etag_raw is None:
                ctx.write_blocked = "GET stopped returning an ETag"
                return Finding(Status.ERROR, "GET stopped returning an ETag.", shown)
            before = after
        elif response.status in METHOD_REFUSED | BODY_REFUSED:
            attempts.append(Attempt(way, response.status))
            if plan.needs_stripping(way, response.status):
                names, spec_shown = yield from _openapi_omissions(ctx, way)
                shown += spec_shown
                plan.strip(way, read_only_paths(rep, ctx.target, names))
            plan.refused(way, response)
        else:
            return _baseline_refused(ctx, response, shown, way.method)
    return _nothing_accepted(ctx, attempts, shown)


def _found(finding: Finding, rep: Representation, way: Way, attempts: list[Attempt]) -> Finding:
    """``finding`` with the way that worked, and the ways refused before it."""
    data = {
        **finding.data,
        "way": _way_data(way),
        "attempts": [attempt.as_dict() for attempt in attempts],
    }
    detail = finding.detail
    if attempts:
        refused = _listed([attempt.describe(rep) for attempt in attempts])
        detail += f" The write probes use a {way.describe(rep)}, after {refused}."
    return Finding(finding.status, detail, finding.evidence, data)


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
        f"The {method_of(ctx)} with If-Match: {before.etag_raw} succeeded and returned the "
        f"new ETag {returned}.",
        shown,
    )
