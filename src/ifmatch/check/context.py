"""What the probes share during one run: options, the resource as first read, helpers.

Every header the probes look at is parsed by ``ifmatch.core``: entity-tags with
``parse_etag``, dates with ``parse_http_date``. Nothing here re-implements the grammar.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core import ETag, InvalidPreconditionHeader, parse_etag, parse_http_date
from .documents import Representation, parse_template
from .messages import Flow, Request, Response, exchange
from .model import Evidence, Status
from .ways import Way

__all__ = [
    "CheckAborted",
    "Context",
    "Finding",
    "Linter",
    "Options",
    "Progress",
    "State",
    "read_state",
]

#: Lints one exchange; returns the problems found, one sentence each.
Linter = Callable[[Request, Response], tuple[str, ...]]
#: Told what the run is doing: (description, probes done, probes in total).
Progress = Callable[[str, int, int], None]


class CheckAborted(Exception):
    """The resource cannot be checked at all (redirect, 401, 404, 5xx); the message says why."""


@dataclass(frozen=True, slots=True)
class Options:
    """What to run.

    Attributes:
        write: run the write probes and the race probe (they change the resource, then put
            the original representation back).
        body_field: the JSON member the write probes change.
        concurrency: writers released together in each race round.
        rounds: race rounds.
        stable_reads: extra GETs, each on a new connection, to see whether validators change.
        write_method: the only method the write probes may use (``PUT``, ``PATCH`` or
            ``POST``); ``None`` lets them find one.
        content_type: the only media type the write probes may send; ``None`` lets them
            find one.
        body_template: the JSON body every write sends, with the string ``"{{value}}"`` where
            each probe's value goes; ``None`` lets the probes build bodies from the document
            GET returns.
    """

    write: bool = False
    body_field: str = "text"
    concurrency: int = 8
    rounds: int = 20
    stable_reads: int = 4
    write_method: str | None = None
    content_type: str | None = None
    body_template: str | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 2:
            raise ValueError("concurrency must be at least 2: a race needs two writers")
        if self.rounds < 1:
            raise ValueError("rounds must be at least 1")
        if self.stable_reads < 1:
            raise ValueError("stable_reads must be at least 1")
        if not self.body_field:
            raise ValueError("body_field must not be empty")
        if self.write_method is not None and self.write_method not in WRITE_METHODS:
            raise ValueError(
                f"write_method must be one of {', '.join(WRITE_METHODS)}, got {self.write_method!r}"
            )
        if self.content_type is not None and not MEDIA_TYPE.fullmatch(self.content_type):
            raise ValueError(f"content_type must be a media type, got {self.content_type!r}")
        if self.body_template is not None:
            parse_template(self.body_template)

    def template(self) -> Any:
        """The parsed body template, or ``None``."""
        return None if self.body_template is None else parse_template(self.body_template)

    def as_dict(self) -> dict[str, Any]:
        chosen = {
            "write_method": self.write_method,
            "content_type": self.content_type,
            "body_template": True if self.body_template is not None else None,
        }
        return {
            "body_field": self.body_field,
            "concurrency": self.concurrency,
            "rounds": self.rounds,
            **{name: value for name, value in chosen.items() if value is not None},
        }


#: The methods the write probes may be told to use.
WRITE_METHODS = ("PUT", "PATCH", "POST")
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(\s*;.*)?")


@dataclass(frozen=True, slots=True)
class Finding:
    """What a probe found; the runner adds the probe's id, title and RFC section."""

    status: Status
    detail: str
    evidence: tuple[Evidence, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class State:
    """The validators (and JSON document) of one GET response.

    Attributes:
        response: the response they come from.
        etag_raw: the ETag field value exactly as sent, echoed back verbatim in
            preconditions the way browsers and HTTP clients do.
        etag: the tag as ``ifmatch.core.parse_etag`` reads it (a bare token is read as a
            strong tag), or ``None`` when absent or unparseable.
        etag_problem: why ``etag_raw`` is not a valid entity-tag, or ``None``.
        last_modified_raw: the Last-Modified field value as sent.
        last_modified: its parsed value, or ``None``.
    """

    response: Response
    etag_raw: str | None
    etag: ETag | None
    etag_problem: str | None
    last_modified_raw: str | None
    last_modified: datetime | None

    @classmethod
    def of(cls, response: Response) -> State:
        """Read the validators of ``response``."""
        etag_raw = response.header("ETag")
        etag: ETag | None = None
        problem: str | None = None
        if etag_raw is not None:
            try:
                etag = parse_etag(etag_raw)
            except InvalidPreconditionHeader as error:
                problem = error.reason
            else:
                if str(etag) != etag_raw.strip(" \t"):
                    # parse_etag is lenient with a bare token; the canonical form shows it.
                    problem = f"the opaque-tag is not quoted (the valid form is {etag})"
        lm_raw = response.header("Last-Modified")
        last_modified = None if lm_raw is None else parse_http_date(lm_raw)
        return cls(response, etag_raw, etag, problem, lm_raw, last_modified)

    def document(self) -> dict[str, Any] | None:
        """The content as a JSON object, or ``None`` if it is not one."""
        try:
            value = json.loads(self.response.body)
        except (ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None


@dataclass(slots=True)
class Context:
    """Shared by the probes of one run.

    Attributes:
        target: the path (and query) of the URL, as shown in evidence.
        options: what to run.
        linter: optional ``httplint`` hook, see ``ifmatch.check.lint``.
        progress: optional progress hook.
        first: the first GET's validators, set by the preflight.
        document: the first GET's content when it is a JSON object: the write probes send it
            back with one field changed, and the last probe restores it.
        representation: that document, its shape and where the body field sits in it.
        origin: ``scheme://host[:port]`` of the URL checked (requests to other paths, such as
            an OpenAPI document, stay on it).
        way: how the write probes write, once the first conditional write found one the API
            accepts.
        accepted: the last way of writing the API answered with a 2xx, even if GET did not
            show the value: the restore uses it when no ``way`` was found.
        notes: results one probe leaves for a later one (e.g. whether 304 works at all).
        wrote: whether any probe may have changed the resource (so it must be restored).
        write_blocked: why the write probes cannot run, once the baseline write failed.
        cannot_check: why the write probes asked for could not be run (no write accepted):
            the run then ends "could not check", whatever else it found.
    """

    target: str
    options: Options
    linter: Linter | None = None
    progress: Progress | None = None
    first: State | None = None
    document: dict[str, Any] | None = None
    representation: Representation | None = None
    origin: str = ""
    way: Way | None = None
    accepted: Way | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    wrote: bool = False
    write_blocked: str | None = None
    cannot_check: str | None = None
    _writes: int = 0
    _position: tuple[int, int] = (0, 0)

    @property
    def initial(self) -> State:
        """The first GET's validators.

        Raises:
            RuntimeError: the preflight has not run.
        """
        if self.first is None:
            raise RuntimeError("the preflight GET has not run")
        return self.first

    def evidence(self, request: Request, response: Response) -> Evidence:
        """The evidence line pair for one exchange, linted when a linter is set (only
        exchanges with the URL checked: the linter knows that URL only)."""
        if request.target is not None:
            return Evidence.of(request.target, request, response)
        lint = self.linter(request, response) if self.linter is not None else ()
        return Evidence.of(self.target, request, response, lint)

    def report(self, description: str) -> None:
        """Tell the progress hook what is running now."""
        if self.progress is not None:
            self.progress(description, *self._position)

    def at(self, done: int, total: int) -> None:
        """Record how many probes are done, for progress reports."""
        self._position = (done, total)

    def marker(self, label: str) -> str:
        """A unique value for the body field, so each write can be recognised later."""
        self._writes += 1
        return f"ifmatch-check {self._writes}: {label}"


def read_state(extra: tuple[tuple[str, str], ...] = ()) -> Flow[tuple[Request, State]]:
    """GET the resource; return the request sent and the validators received."""
    request = Request("GET", extra)
    response = yield from exchange(request)
    return request, State.of(response)
