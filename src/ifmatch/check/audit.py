"""One run of the checker, as a single generator: preflight, read probes, write probes.

A driver (``ifmatch.check.drivers``) runs :func:`audit` against a real server or an in-process
app and turns its outcome into a :class:`~ifmatch.check.model.Report`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .context import CheckAborted, Context, Finding, State
from .documents import Representation
from .messages import Flow, Request, Response, TransportError, exchange
from .model import ProbeResult, Status
from .probes import READ_PROBES, Probe
from .race import RACE
from .writes import RESTORE, WRITE_PROBES

__all__ = ["ALL_PROBES", "Outcome", "audit", "preflight"]

ALL_PROBES: tuple[Probe, ...] = (*READ_PROBES, *WRITE_PROBES, RACE, RESTORE)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What :func:`audit` returns: the results, and why the check could not start or could
    not run the write probes it was asked for (then the verdict is "could not check")."""

    results: tuple[ProbeResult, ...] = ()
    error: str | None = None


def _refusal(response: Response) -> str:
    status = f"{response.status} {response.reason}".rstrip()
    if 300 <= response.status < 400:
        where = response.header("Location")
        target = f" to {where}" if where else ""
        return (
            f"GET answered {status}, a redirect{target}. The checker does not follow "
            "redirects: run it on the final URL."
        )
    if response.status in (401, 403, 407):
        return (
            f"GET answered {status}: the API needs credentials. Pass them with "
            "--header 'Authorization: ...'."
        )
    if response.status in (404, 410):
        return (
            f"GET answered {status}: point the checker at one existing resource (an item such "
            "as /documents/1, not a collection)."
        )
    if response.status >= 500:
        return f"GET answered {status}: the server failed; the checker needs a working resource."
    return f"GET answered {status}; the checker needs a URL that answers 200 to GET."


def preflight(ctx: Context) -> Flow[State]:
    """GET the resource once; keep its validators and document for the probes.

    Raises:
        CheckAborted: the URL does not answer 2xx to GET.
    """
    response = yield from exchange(Request("GET"))
    if not response.is_success:
        raise CheckAborted(_refusal(response))
    state = State.of(response)
    ctx.first = state
    ctx.document = state.document()
    if ctx.document is not None:
        ctx.representation = Representation.read(
            ctx.document, response.header("Content-Type"), ctx.options.body_field
        )
    return state


def _result(probe: Probe, finding: Finding) -> ProbeResult:
    return ProbeResult(
        probe.id,
        probe.title,
        finding.status,
        finding.detail,
        probe.rfc,
        finding.evidence,
        finding.data,
    )


def _skip_reason(ctx: Context, probe: Probe) -> str | None:
    if not probe.writes or probe is RESTORE or probe.id == "write":
        return None
    if ctx.write_blocked is not None:
        return f"Not run: {ctx.write_blocked}."
    if ctx.way is None:
        # The first write ended without finding a way of writing (no response, say): every
        # later write probe builds on that way and on the tag it replaced.
        return "Not run: the first conditional write did not succeed."
    return None


def _run_probe(ctx: Context, probe: Probe) -> Flow[ProbeResult]:
    reason = _skip_reason(ctx, probe)
    if reason is not None:
        return _result(probe, Finding(Status.SKIP, reason))
    try:
        finding = yield from probe.run(ctx)
    except TransportError as error:
        finding = Finding(Status.ERROR, f"No response: {error}")
    return _result(probe, finding)


def audit(ctx: Context, probes: tuple[Probe, ...] = ALL_PROBES) -> Flow[Outcome]:
    """Run the preflight, then every probe in order (the read-only ones without ``--write``).

    Returns:
        The results, and the reason the check could not start (unreachable, redirect, 401...)
        or could not write (no way of writing accepted).
    """
    if not ctx.options.write:
        probes = tuple(probe for probe in probes if not probe.writes)
    ctx.at(0, len(probes))
    ctx.report("GET")
    try:
        yield from preflight(ctx)
    except CheckAborted as aborted:
        return Outcome(error=str(aborted))
    except TransportError as error:
        return Outcome(error=f"No response to GET: {error}")
    results = []
    for done, probe in enumerate(probes):
        ctx.at(done, len(probes))
        ctx.report(probe.title)
        results.append((yield from _run_probe(ctx, probe)))
    ctx.at(len(probes), len(probes))
    ctx.report("done")
    return Outcome(tuple(results), ctx.cannot_check)
