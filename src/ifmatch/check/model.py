"""What the checker found: one result per probe, and the report that sums them up."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .messages import Request, Response

__all__ = ["Evidence", "ProbeResult", "Report", "Status", "Verdict"]

#: Headers worth showing as evidence: the validators and the preconditions. Anything else
#: (cookies, Authorization from ``--header``) stays out of reports.
REQUEST_HEADERS = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")
RESPONSE_HEADERS = ("ETag", "Last-Modified", "Location")


class Status(enum.Enum):
    """How one probe went."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"


class Verdict(enum.Enum):
    """The answer to "can this API lose updates?", with the command's exit code."""

    SAFE = ("safe", 0)
    UNSAFE = ("unsafe", 1)
    UNKNOWN = ("could not check", 2)

    def __init__(self, label: str, exit_code: int) -> None:
        self.label = label
        self.exit_code = exit_code


@dataclass(frozen=True, slots=True)
class Evidence:
    """One exchange, reduced to the lines that matter: request line and response line.

    Attributes:
        request: e.g. ``PUT /doc  If-Match: "v1"``.
        response: e.g. ``412 Precondition Failed  ETag: "v2"``, or what went wrong.
        lint: problems ``httplint`` found in the response, if it is installed.
    """

    request: str
    response: str
    lint: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        target: str,
        request: Request,
        response: Response,
        lint: tuple[str, ...] = (),
    ) -> Evidence:
        """Summarise ``request`` (sent to ``target``, a path) and ``response``."""
        return cls(describe_request(target, request), describe_response(response), lint)

    def lines(self) -> tuple[str, ...]:
        """``> request``, ``< response`` and one ``! lint`` line per problem."""
        return (f"> {self.request}", f"< {self.response}", *(f"! {note}" for note in self.lint))

    def as_dict(self) -> dict[str, Any]:
        return {"request": self.request, "response": self.response, "lint": list(self.lint)}


def describe_request(target: str, request: Request) -> str:
    """``METHOD target`` followed by the precondition headers the request carried."""
    parts = [f"{request.method} {target}"]
    parts += [f"{name}: {request.header(name)}" for name in REQUEST_HEADERS if request.header(name)]
    return "  ".join(parts)


def describe_response(response: Response) -> str:
    """``status reason`` followed by the validator headers the response carried."""
    parts = [f"{response.status} {response.reason}".rstrip()]
    for name in RESPONSE_HEADERS:
        value = response.header(name)
        if value is not None:
            parts.append(f"{name}: {value}")
    return "  ".join(parts)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one probe.

    Attributes:
        id: a stable short name, e.g. ``stale-if-match``.
        title: what the probe asks, in a few words.
        status: pass, warn, fail, skip or error.
        detail: one or two sentences saying what happened and why it matters.
        rfc: the section the expectation comes from, e.g. ``RFC 9110 §13.1.1``.
        evidence: the exchanges that show it.
        data: numbers a machine may want (the race probe's counts).
    """

    id: str
    title: str
    status: Status
    detail: str
    rfc: str
    evidence: tuple[Evidence, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "detail": self.detail,
            "rfc": self.rfc,
            "evidence": [item.as_dict() for item in self.evidence],
            "data": dict(self.data),
        }


@dataclass(frozen=True, slots=True)
class Report:
    """Everything one run found.

    Attributes:
        url: the URL checked.
        write: whether the write probes (and the race probe) ran.
        results: one per probe, in the order they ran.
        error: why the check could not start (unreachable, redirect, 401...) or could not
            run the write probes asked for (no way of writing was accepted), or ``None``.
        options: the settings the run used (concurrency, rounds, body field).
        elapsed: seconds the run took.
    """

    url: str
    write: bool
    results: tuple[ProbeResult, ...] = ()
    error: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    elapsed: float = 0.0

    def by_status(self, status: Status) -> tuple[ProbeResult, ...]:
        return tuple(result for result in self.results if result.status is status)

    def result(self, probe_id: str) -> ProbeResult:
        """The result of the probe called ``probe_id``.

        Raises:
            KeyError: no such probe ran.
        """
        for result in self.results:
            if result.id == probe_id:
                return result
        raise KeyError(probe_id)

    @property
    def verdict(self) -> Verdict:
        """Unknown when the check could not start or could not run the write probes asked
        for; otherwise unsafe as soon as one probe failed, unknown if one could not run."""
        if self.error is not None:
            return Verdict.UNKNOWN
        if self.by_status(Status.FAIL):
            return Verdict.UNSAFE
        if self.by_status(Status.ERROR):
            return Verdict.UNKNOWN
        return Verdict.SAFE

    @property
    def exit_code(self) -> int:
        """0 safe, 1 unsafe, 2 could not check."""
        return self.verdict.exit_code

    def summary(self) -> dict[str, int]:
        """How many probes ended in each status."""
        return {status.value: len(self.by_status(status)) for status in Status}

    def as_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``ifmatch check --json``."""
        return {
            "url": self.url,
            "write": self.write,
            "options": dict(self.options),
            "verdict": self.verdict.label,
            "exit_code": self.exit_code,
            "error": self.error,
            "summary": self.summary(),
            "probes": [result.as_dict() for result in self.results],
            "elapsed_seconds": round(self.elapsed, 3),
        }
