"""Glue the Flask, Starlette and FastAPI adapters share, in plain values: no framework here.

The adapter recipe, with each step's helper::

    404 before preconditions (RFC 9110 §13.2.1)   -> missing_resource_error  \
    read the Snapshot, evaluate(...)              -> decide                   > precheck
    304 / 400 / 412 / 428                         -> decision_error          /
    Proceed: write through the store              -> write_expectation, ConditionalState.settle
    a failed commit (serialization failure)       -> write_conflict_error
    2xx: the new validators                       -> validator_headers

The response fields themselves (validators, problem bodies) are in ``_fields``, shared with the
Django and DRF integrations.

The precedence of the precondition headers is not here: that is :func:`ifmatch.core.evaluate`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol
from urllib.parse import quote

from ..core import (
    DEFAULT_POLICY,
    Decision,
    ETag,
    HeadersInput,
    NotModified,
    Policy,
    PreconditionFailed,
    Proceed,
    ResourceState,
    WriteCondition,
    decision_problem,
    evaluate,
    problem,
)
from ..core.errors import ConfigurationError
from ..core.idempotency import IdempotencyRecord
from ..stores import CASResult, Expectation, Outcome, Snapshot
from ..stores.idempotency import Claim, Completion
from ._fields import (
    PRECONDITION_FIELDS,
    VERSION_MISMATCH,
    HeaderNames,
    not_modified_fields,
    render_problem,
    snapshot_fields,
    unavailable_problem,
    write_conflict_problem,
)
from ._idempotency import replay_headers

__all__ = [
    "KEY_ERRORS",
    "SAFE_METHODS",
    "COLLECTION_METHODS",
    "ConditionalState",
    "ErrorFormat",
    "HTTPError",
    "Options",
    "collection_needs_tag",
    "collection_precheck",
    "decide",
    "decision_error",
    "idempotency_error",
    "invalid_version",
    "location",
    "log_unguarded",
    "log_warnings",
    "missing_resource_error",
    "not_found_error",
    "pick_key",
    "precheck",
    "replay_error",
    "resource_state",
    "unavailable_error",
    "waiting",
    "validator_headers",
    "write_conflict_error",
    "write_error",
    "write_expectation",
]

ErrorFormat = Literal["problem", "jsonapi"]
ERROR_FORMATS: frozenset[str] = frozenset({"problem", "jsonapi"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: What a key function (``key=lambda r: int(r.path_params["id"])``) or a loader raises for a path
#: that names no resource: the answer is 404, as for any missing resource, never 500.
KEY_ERRORS = (ValueError, TypeError, KeyError, LookupError, OverflowError)


@dataclass(frozen=True, slots=True)
class Options:
    """How one protected resource answers.

    Attributes:
        policy: what the core demands of requests (428 rules, weak echo, limits).
        error_format: ``"problem"`` (RFC 9457 ``application/problem+json``) or ``"jsonapi"``
            (a JSON:API error document, ``application/vnd.api+json``).
        type_base: a URI prefix for problem ``type`` members (``type_base + code``).
        send_last_modified: send ``Last-Modified`` beside ``ETag``.
        variant: distinguishes representations of one version (see ``version_etag``).
        create: whether a PUT may create a missing resource (with ``If-None-Match: *``).
        answer_before_view: answer a false precondition (304, 400, 412, 428) before the view
            runs. Off by default: the view runs first, so its own access decisions (401, 403,
            404) come before anything the precondition would reveal, and its writes raise the
            answer instead of writing.
    """

    policy: Policy = DEFAULT_POLICY
    error_format: ErrorFormat = "problem"
    type_base: str | None = None
    send_last_modified: bool = True
    variant: str | None = None
    create: bool = False
    answer_before_view: bool = False

    def __post_init__(self) -> None:
        if self.error_format not in ERROR_FORMATS:
            raise ValueError(f"error_format must be 'problem' or 'jsonapi': {self.error_format!r}")


@dataclass(frozen=True, slots=True)
class HTTPError:
    """A finished non-2xx answer: status, body (empty for 304) and headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]
    problem: dict[str, Any] | None = None

    def with_header(self, field: tuple[str, str] | None) -> HTTPError:
        """A copy with one more header line (``None``: this one)."""
        if field is None:
            return self
        return HTTPError(self.status, self.body, (*self.headers, field), self.problem)

    @classmethod
    def from_problem(
        cls, body: dict[str, Any], options: Options, etag: ETag | None = None
    ) -> HTTPError:
        """Serialise a problem object in the configured error format."""
        data, headers = render_problem(body, options.error_format, etag)
        return cls(body["status"], data, headers, body)


def replay_error(record: IdempotencyRecord, options: Options) -> HTTPError:
    """The answer to a retry of a write that committed: its status, the ``ETag`` of the
    version it left, its ``Location``, ``Idempotent-Replayed: true``, and no body."""
    status = record.status or 200
    return HTTPError(status, b"", tuple(replay_headers(record, options.variant)))


def idempotency_error(body: dict[str, Any], options: Options) -> HTTPError:
    """A 400, 409 or 422 about the request's ``Idempotency-Key``, in the resource's format."""
    return HTTPError.from_problem(body, options)


def location(path: str) -> str:
    """A ``Location`` value for a decoded request path: percent-encoded, so always ASCII."""
    return quote(path, safe="/:@!$&'()*+,;=-._~")


def resource_state(
    snapshot: Snapshot | None, *, variant: str | None = None, last_modified: bool = True
) -> ResourceState:
    """The core's view of a stored resource (``None``: it does not exist).

    Args:
        snapshot: the stored validators.
        variant: the representation variant in the entity-tag.
        last_modified: whether the stored Last-Modified takes part in the evaluation.
    """
    if snapshot is None:
        return ResourceState(exists=False)
    moment = snapshot.last_modified if last_modified else None
    return ResourceState(snapshot.etag(variant=variant), moment)


def decide(
    method: str, headers: HeadersInput, snapshot: Snapshot | None, options: Options
) -> Decision:
    """Evaluate the request's preconditions against the stored snapshot (the core decides).

    With ``send_last_modified`` off the resource has no modification date as far as HTTP
    goes: If-Modified-Since and If-Unmodified-Since are ignored (RFC 9110 §13.1.3, §13.1.4),
    as in the Django and DRF integrations.
    """
    state = resource_state(
        snapshot, variant=options.variant, last_modified=options.send_last_modified
    )
    return evaluate(method, headers, state, options.policy)


def missing_resource_error(
    method: str, snapshot: Snapshot | None, options: Options, instance: str | None
) -> HTTPError | None:
    """404 for a missing resource, decided before any precondition.

    RFC 9110 §13.2.1: a server "MUST ignore the conditional request header fields ... when the
    response would have been other than a 2xx (Successful) or 412 (Precondition Failed)". A
    missing resource answers 404 to every method except a PUT that may create it.
    """
    if snapshot is not None or (options.create and method.upper() == "PUT"):
        return None
    return not_found_error(options, instance)


def not_found_error(options: Options, instance: str | None) -> HTTPError:
    """404 as a problem: the resource does not exist, or the path cannot name one."""
    body = problem(404, "The resource does not exist.", code="not-found", instance=instance)
    return HTTPError.from_problem(body, options)


def decision_error(decision: Decision, options: Options, instance: str | None) -> HTTPError:
    """The answer to a decision other than ``Proceed``: 304 without a body, else a problem."""
    if isinstance(decision, Proceed):
        raise ValueError("Proceed is not an error")
    if isinstance(decision, NotModified):
        headers = not_modified_fields(decision, last_modified=options.send_last_modified)
        return HTTPError(304, b"", tuple(headers))
    body = decision_problem(decision, instance=instance, type_base=options.type_base)
    return HTTPError.from_problem(body, options, getattr(decision, "current_etag", None))


#: The fields a 304 answers (RFC 9110 §13.1.2, §13.1.3), in lower case.
REVALIDATION_FIELDS = ("if-none-match", "if-modified-since")


class FieldNames(Protocol):
    """Headers that say whether they hold a field, by its case-insensitive name."""

    def __contains__(self, name: str, /) -> bool: ...


def revalidates(method: str, headers: FieldNames) -> bool:
    """A GET or HEAD that a 304 may answer: it carries ``If-None-Match`` or
    ``If-Modified-Since`` (``headers``: a case-insensitive mapping, Starlette's or Werkzeug's)."""
    return method in ("GET", "HEAD") and any(name in headers for name in REVALIDATION_FIELDS)


def check_validators_option(owner: str, validators: object, answer_before_view: bool) -> None:
    """``validators=`` answers a 304 before the view runs, so it needs ``answer_before_view``.

    Raises:
        ConfigurationError: ``validators`` without ``answer_before_view``.
    """
    if validators is not None and not answer_before_view:
        raise ConfigurationError(
            f"{owner}(validators=...) answers a 304 before the view runs: it needs "
            "answer_before_view=True (and every access decision made before the view)"
        )


def not_modified(
    method: str, headers: HeadersInput, snapshot: Snapshot | None, options: Options
) -> HTTPError | None:
    """The 304 to a revalidating GET or HEAD when ``snapshot``'s validators say the client's
    copy is current; ``None`` for a missing resource and for any other answer (which the
    caller then decides in full, from the row itself). Nothing is logged here.
    """
    if snapshot is None or method.upper() not in ("GET", "HEAD"):
        return None
    decision = decide(method, headers, snapshot, options)
    if not isinstance(decision, NotModified):
        return None
    return decision_error(decision, options, None)


def validator_headers(snapshot: Snapshot | None, options: Options) -> list[tuple[str, str]]:
    """``ETag`` (and ``Last-Modified``) for a 2xx carrying ``snapshot``'s version."""
    if snapshot is None:
        return []
    return snapshot_fields(
        snapshot, variant=options.variant, last_modified=options.send_last_modified
    )


def write_expectation(
    condition: WriteCondition,
    *,
    existed: bool,
    options: Options,
    version: int | None = None,
) -> Expectation:
    """What the store must find for the write to apply.

    Args:
        condition: the ``Proceed`` decision's write condition.
        existed: whether the resource existed when the preconditions were evaluated.
        options: the resource's options (variant, create).
        version: a version number the client sent in the body (the 409 scheme).
    """
    expect = Expectation.from_condition(condition, variant=options.variant)
    if not existed and options.create and expect.exists is None:
        # An unconditional PUT (warn-only mode, or no 428 required) creates only if still absent.
        expect = replace(expect, exists=False)
    if version is not None:
        versions = frozenset({version})
        if expect.versions is not None:
            versions &= expect.versions
        expect = replace(expect, exists=True, versions=versions)
    return expect


def write_error(
    result: CASResult,
    expect: Expectation,
    options: Options,
    instance: str | None,
    *,
    version: int | None = None,
) -> HTTPError | None:
    """Translate a lost or missed compare-and-set into 409, 412 or 404; ``None`` if it won."""
    if result.outcome is Outcome.WON:
        return None
    current = None if result.snapshot is None else result.snapshot.etag(variant=options.variant)
    if result.outcome is Outcome.NOT_FOUND and expect.exists is not True:
        return missing_resource_error("DELETE", None, options, instance)
    if version is not None and result.snapshot is not None and result.snapshot.version != version:
        body = problem(
            409,
            f"The resource is at version {result.snapshot.version}, not {version}: re-read it, "
            "re-apply your change and retry with the new version.",
            code=VERSION_MISMATCH,
            type_base=options.type_base,
            instance=instance,
            current_version=result.snapshot.version,
            current_etag=None if current is None else str(current),
        )
        return HTTPError.from_problem(body, options, current)
    failed = _lost_decision(result, expect, current)
    body = decision_problem(failed, instance=instance, type_base=options.type_base)
    return HTTPError.from_problem(body, options, current)


def _lost_decision(
    result: CASResult, expect: Expectation, current: ETag | None
) -> PreconditionFailed:
    # The preconditions held when evaluated; another writer won between that read and this
    # write, and the store's conditional statement refused it. Name the header that lost.
    if result.outcome is Outcome.NOT_FOUND:
        return PreconditionFailed(
            "If-Match", "not-found", "The resource was deleted after the request was checked."
        )
    if expect.exists is False:
        return PreconditionFailed(
            "If-None-Match",
            "exists",
            "If-None-Match: * asks to create the resource only if it does not exist; "
            "another request created it first.",
            current,
        )
    header = "If-Match"
    if expect.versions is None and expect.not_versions:
        header = "If-None-Match"
    elif expect.versions is None and expect.unmodified_since is not None:
        header = "If-Unmodified-Since"
    return PreconditionFailed(
        header,
        "etag-mismatch",
        "The resource changed while this request was being handled: re-read it, re-apply your "
        "change and retry with the new entity-tag.",
        current,
    )


def unavailable_error(method: str, options: Options, instance: str | None) -> HTTPError:
    """503 with ``Retry-After`` for a store that could not be reached or a connection lost
    mid-request (``ifmatch.stores.is_unavailable``), in the resource's error format."""
    body = unavailable_problem(
        unsafe=method.upper() not in SAFE_METHODS, instance=instance, type_base=options.type_base
    )
    return HTTPError.from_problem(body, options)


def invalid_version(version: object, options: Options, instance: str | None) -> HTTPError | None:
    """400 for a body version that is not a non-negative integer (``true`` is not version 1);
    ``None`` if it is one."""
    if type(version) is int and version >= 0:
        return None
    body = problem(
        400,
        f"the version must be a non-negative integer, not {version!r}",
        code="invalid-version",
        type_base=options.type_base,
        instance=instance,
    )
    return HTTPError.from_problem(body, options)


def write_conflict_error(headers: HeaderNames, options: Options, instance: str | None) -> HTTPError:
    """:func:`write_conflict_problem` rendered in the resource's error format.

    Args:
        headers: the request's header names (a case-insensitive container).
        options: the resource's options.
        instance: the request path.
    """
    preconditioned = any(name in headers for name in PRECONDITION_FIELDS)
    body = write_conflict_problem(
        preconditioned=preconditioned, instance=instance, type_base=options.type_base
    )
    return HTTPError.from_problem(body, options)


class ConditionalState:
    """What a protected view or endpoint knows and may do; the framework classes add I/O.

    Attributes:
        key: the resource's key in the store.
        snapshot: its validators when the request was checked (``None``: it did not exist).
        decision: the core's ``Proceed`` decision; its ``condition`` is what writes enforce.
        served: the version the response carries (the new one after a write).
        instance: what ``load=`` loaded, if anything.
    """

    def __init__(
        self,
        key: Any,
        snapshot: Snapshot | None,
        decision: Proceed,
        options: Options,
        *,
        refusal: HTTPError | None = None,
        claim: Claim | None = None,
    ) -> None:
        self.key, self.snapshot, self.decision, self.options = key, snapshot, decision, options
        self.served: Snapshot | None = snapshot
        self.wrote = False
        self.instance: Any = None
        self.refusal = refusal
        self.claim = claim
        self.echo: tuple[str, str] | None = None  # set with a claim: the key, sent back

    def answer(self, error: HTTPError) -> HTTPError:
        """``error`` as sent: with the request's key echoed when it was claimed."""
        return error.with_header(self.echo)

    def completion(
        self, status: int | None, *, deleting: bool, location: str | None
    ) -> Completion | None:
        """What the write records for the request's ``Idempotency-Key`` (``None``: unkeyed).

        Args:
            status: the status the write will be answered with (default: 204 for a delete,
                201 for a create, else 200).
            deleting: whether the write is a delete.
            location: the created resource's URL, for a create.
        """
        if self.claim is None:
            return None
        creating = self.snapshot is None and not deleting
        chosen = status or (204 if deleting else 201 if creating else 200)
        return self.claim.completion(chosen, location if creating else None)

    @property
    def refused(self) -> bool:
        """Whether the preconditions are false. The answer (``refusal``: 304, 400, 412 or 428)
        waits for the view's own access decisions: a write raises it without touching the
        store, and it replaces a 2xx the view returns."""
        return self.refusal is not None

    @property
    def etag(self) -> str | None:
        """The entity-tag of the version the response carries, as sent in ``ETag``."""
        served = self.served
        return None if served is None else str(served.etag(variant=self.options.variant))

    @property
    def expectation(self) -> Expectation:
        """The versions a write will expect, from the request's preconditions."""
        return self.expect(None)

    def expect(self, version: int | None) -> Expectation:
        """The expectation for a write (``version``: one sent in the body, 409 scheme).

        Raises:
            Exception: :meth:`failure` of the waiting answer when the preconditions are false,
                or of a 400 when ``version`` is not a non-negative integer.
        """
        if self.refusal is not None:
            raise self.failure(self.refusal)
        if version is not None:
            bad = invalid_version(version, self.options, None)
            if bad is not None:
                raise self.failure(bad)
        return write_expectation(
            self.decision.condition,
            existed=self.snapshot is not None,
            options=self.options,
            version=version,
        )

    def settle(
        self, result: CASResult, expect: Expectation, version: int | None, instance: str
    ) -> Snapshot:
        """Record a won write and return its snapshot.

        Raises:
            Exception: :meth:`failure` of the 409, 412 or 404 a lost write answers with.
        """
        error = write_error(result, expect, self.options, instance, version=version)
        if error is not None:
            raise self.failure(error)
        assert result.snapshot is not None
        self.served, self.wrote = result.snapshot, True
        return result.snapshot

    def failure(self, error: HTTPError) -> Exception:
        """The framework's exception that answers with ``error`` (subclasses define it)."""
        raise NotImplementedError


def precheck(
    method: str,
    headers: HeadersInput,
    snapshot: Snapshot | None,
    options: Options,
    instance: str,
    *,
    logger: logging.Logger,
    evaluate_preconditions: bool = True,
) -> Proceed | HTTPError:
    """The recipe up to the view: 404 for a missing resource, then the core's decision.

    Args:
        method: the request method.
        headers: the request's headers.
        snapshot: the resource's validators (``None``: it does not exist).
        options: the resource's options.
        instance: the request path (problem ``instance``, log lines).
        logger: where warn-only findings are logged.
        evaluate_preconditions: ``False`` only checks existence (an integration switched off).

    Returns:
        The ``Proceed`` decision to write under, or the error to answer with (304, 400, 404,
        412, 428).
    """
    if snapshot is None:
        missing = missing_resource_error(method, snapshot, options, instance)
        if missing is not None:
            return missing
    if not evaluate_preconditions:
        return Proceed()
    decision = decide(method, headers, snapshot, options)
    if not isinstance(decision, Proceed):
        return decision_error(decision, options, instance)
    log_warnings(logger, decision, method, instance)
    return decision


UNCONDITIONAL = Proceed()

#: The methods a collection helper evaluates preconditions for.
COLLECTION_METHODS = frozenset({"GET", "HEAD", "POST"})


def collection_needs_tag(method: str, options: Options, *, has_precondition: bool) -> bool:
    """Whether answering a request to a collection needs its tag: ``GET``/``HEAD`` always,
    ``POST`` with a precondition or where ``POST`` requires one."""
    method = method.upper()
    if method not in COLLECTION_METHODS:
        return False
    required = "POST" in options.policy.require_precondition
    return method != "POST" or has_precondition or required


def collection_precheck(
    method: str,
    headers: HeadersInput,
    etag: Callable[[], ETag],
    options: Options,
    instance: str,
    *,
    has_precondition: bool,
) -> Proceed | HTTPError:
    """A collection's preconditions: ``GET``/``HEAD`` against its tag (304), and ``POST``,
    whose target is the collection, likewise (RFC 9110 §13.1.1: ``If-Match`` names the list's
    tag, ``If-None-Match: *`` is false because the collection exists; a malformed field is a
    400). ``If-Modified-Since`` is not evaluated: a delete does not move the newest row's date.

    Args:
        method: the request method (others proceed unevaluated).
        headers: the request's headers.
        etag: computes the collection's tag (one aggregate query), called only when needed: a
            ``POST`` without a precondition, where ``POST`` does not require one, reads nothing.
        options: the resource's options (policy, error format).
        instance: the request path (problem ``instance``).
        has_precondition: whether the request carries any precondition header.
    """
    if not collection_needs_tag(method, options, has_precondition=has_precondition):
        return UNCONDITIONAL
    decision = evaluate(method.upper(), headers, ResourceState(etag()), options.policy)
    if isinstance(decision, Proceed):
        return decision
    return decision_error(decision, options, instance)


def waiting(
    answer: Proceed | HTTPError, options: Options
) -> HTTPError | tuple[Proceed, HTTPError | None]:
    """Split :func:`precheck`'s result for the view.

    Returns:
        An answer to give now, before the view runs: a 404 for a missing resource (the view is
        never called for one), or any answer under ``answer_before_view``. Otherwise the
        decision to build the view's condition with, and the answer that waits for the view's
        access decisions (``None`` when the preconditions hold).
    """
    if isinstance(answer, Proceed):
        return answer, None
    if answer.status == 404 or options.answer_before_view:
        return answer
    return UNCONDITIONAL, answer


def pick_key(name: str | None, params: Mapping[str, Any], owner: str, kind: str) -> Any:
    """The resource's key among a route's parameters: the one named, else the only one.

    Raises:
        TypeError: no name given and not exactly one parameter (``owner`` and ``kind`` name
            them in the message, e.g. ``protect()`` and ``view argument``).
    """
    if name is not None:
        return params[name]
    if len(params) != 1:
        raise TypeError(f"{owner}: say which {kind} is the key: {sorted(params)}")
    return next(iter(params.values()))


def log_unguarded(logger: logging.Logger, method: str, target: str) -> None:
    """Log a 2xx to an unsafe method that did not write through the store: whatever it changed
    was not protected, and its new version is unknown (so no validators are sent)."""
    logger.warning("ifmatch: %s %s succeeded without a conditional write", method, target)


def log_warnings(logger: logging.Logger, decision: Decision, method: str, target: str) -> None:
    """Log the warn-only mode's findings (``decision.warnings``)."""
    if isinstance(decision, Proceed):
        for warning in decision.warnings:
            logger.warning("ifmatch: %s %s: %s (warn-only mode)", method, target, warning)
