"""Plain Django: a view decorator and a middleware for race-free conditional requests.

Like Django's ``condition`` decorator, but the precondition is enforced by the database in the
write itself, every RFC 9110 §13.2.2 rule comes from ``ifmatch.core.evaluate``, malformed
headers get 400 instead of being ignored, unsafe methods require a precondition (428), and
successful writes send the new ``ETag``::

    @conditional(Document.objects.all())
    def document(request, pk, obj):
        if request.method == "PUT":
            obj.text = json.loads(request.body)["text"]
            obj.save()                    # one guarded UPDATE; a lost race answers 412
        return JsonResponse({"text": obj.text})

The helpers at the top (reading the headers, building problem responses, setting validators)
are shared with the Django REST framework integration.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connections, models, router, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.http import HttpResponseNotModified as DjangoNotModified

from ..core.decisions import Decision, NotModified, Proceed
from ..core.errors import ConfigurationError, VersionConflictError
from ..core.etag import ETag
from ..core.evaluate import evaluate
from ..core.problems import decision_problem as _decision_problem
from ..core.problems import problem
from ..stores._django_sql import snapshot_from_row
from ..stores.base import CASResult, Expectation, Outcome, Snapshot
from ..stores.django import (
    Refusal,
    WriteLost,
    expect_on,
    is_transient,
    pending_expectation,
    refuse_inserts,
    snapshot_of,
)
from ..stores.errors import is_unavailable
from ._conditional import resource_state
from ._django_keys import begin_keyed, user_scope
from ._fields import (
    VERSION_MISMATCH,
    not_modified_fields,
    render_problem,
    snapshot_fields,
    unavailable_problem,
    write_conflict_problem,
)
from .drf.settings import ifmatch_settings

__all__ = [
    "ConditionalMiddleware",
    "ConditionalState",
    "check_atomic_requests",
    "write_transaction",
    "conditional",
    "decision_response",
    "lost_problem",
    "problem_response",
    "request_headers",
    "resource_state",
    "set_validators",
    "unavailable_response",
    "validator_headers",
    "write_conflict_response",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_CACHEABLE_READS = frozenset({"GET", "HEAD"})
_META_KEYS = (
    ("If-Match", "HTTP_IF_MATCH"),
    ("If-None-Match", "HTTP_IF_NONE_MATCH"),
    ("If-Modified-Since", "HTTP_IF_MODIFIED_SINCE"),
    ("If-Unmodified-Since", "HTTP_IF_UNMODIFIED_SINCE"),
)
logger = logging.getLogger("ifmatch")


def request_headers(request: HttpRequest) -> list[tuple[str, str]]:
    """The request's precondition headers as ``(name, value)`` pairs (WSGI joins repeats)."""
    meta = request.META
    return [(name, meta[key]) for name, key in _META_KEYS if key in meta]


def has_read_precondition(request: HttpRequest) -> bool:
    """Whether the request carries ``If-None-Match`` or ``If-Modified-Since`` (a 304 is
    possible)."""
    meta = request.META
    return "HTTP_IF_NONE_MATCH" in meta or "HTTP_IF_MODIFIED_SINCE" in meta


def has_precondition(request: HttpRequest) -> bool:
    """Whether the request carries any precondition header."""
    return any(key in request.META for _, key in _META_KEYS)


def validator_headers(
    snapshot: Snapshot, *, variant: str | None = None, last_modified: bool = True
) -> dict[str, str]:
    """``ETag`` (and ``Last-Modified``, unless it would be later than now) for ``snapshot``."""
    return dict(snapshot_fields(snapshot, variant=variant, last_modified=last_modified))


def set_validators(
    response: HttpResponseBase,
    snapshot: Snapshot,
    *,
    variant: str | None = None,
    last_modified: bool = True,
) -> None:
    """Send the ``ETag`` (and ``Last-Modified``) of ``snapshot`` on ``response``."""
    for name, value in validator_headers(
        snapshot, variant=variant, last_modified=last_modified
    ).items():
        response[name] = value


def problem_response(
    body: dict[str, Any], *, etag: ETag | None = None, error_format: str | None = None
) -> HttpResponse:
    """An RFC 9457 ``application/problem+json`` response (or a JSON:API error document)."""
    data, headers = render_problem(body, error_format or ifmatch_settings.ERROR_FORMAT, etag)
    response = HttpResponse(data, status=int(body["status"]))
    for name, value in headers:
        response[name] = value
    return response


def decision_problem(decision: Decision, request: HttpRequest | None = None) -> dict[str, Any]:
    """The problem body for a failing decision, with the configured ``type`` base URI."""
    return _decision_problem(
        decision,
        instance=None if request is None else request.path,
        type_base=ifmatch_settings.PROBLEM_TYPE_BASE,
    )


def not_modified_headers(decision: NotModified) -> list[tuple[str, str]]:
    """The validators of a 304, Last-Modified only if it is not later than now."""
    return not_modified_fields(decision)


def decision_response(
    decision: Decision, request: HttpRequest, *, cache_headers: Iterable[tuple[str, str]] = ()
) -> HttpResponseBase:
    """The response for a decision that is not ``Proceed``: 304, 400, 412 or 428."""
    if isinstance(decision, NotModified):
        # RFC 9110 §15.4.5: a 304 carries the validators a 200 would have carried.
        response: HttpResponseBase = DjangoNotModified()
        for name, value in (*not_modified_headers(decision), *cache_headers):
            response[name] = value
        return response
    if isinstance(decision, Proceed):
        raise ValueError("Proceed has no error response")
    etag = getattr(decision, "current_etag", None)
    return problem_response(decision_problem(decision, request), etag=etag)


def lost_problem(
    result: CASResult,
    request: HttpRequest,
    *,
    variant: str | None = None,
    status: int = 412,
    **extensions: Any,
) -> tuple[dict[str, Any], ETag | None]:
    """The problem body for a write that lost the race (412) or a stale body version (409)."""
    current = result.snapshot
    etag = None if current is None else current.etag(variant=variant)
    if result.outcome is Outcome.NOT_FOUND:
        detail, code = "The resource was deleted while your request was processed.", "not-found"
    elif status == 409:
        detail = (
            "The version in the request body is not the current version: re-read the "
            "resource, re-apply your change and send the new version."
        )
        code = VERSION_MISMATCH
    else:
        detail = (
            "The resource changed before your write could be applied: re-read it, re-apply "
            "your change and retry with the new entity-tag."
        )
        code = "etag-mismatch"
    body = problem(
        status,
        detail,
        code=code,
        type_base=ifmatch_settings.PROBLEM_TYPE_BASE,
        instance=request.path,
        current_etag=None if etag is None else str(etag),
        current_version=None if current is None else current.version,
        **extensions,
    )
    return body, etag


def write_conflict_response(request: HttpRequest) -> HttpResponse:
    """412 (409 without a precondition) for a serialization failure or deadlock that rolled the
    request's transaction back, e.g. at ``ATOMIC_REQUESTS``' commit (see
    ``ifmatch.stores.is_write_conflict``)."""
    body = write_conflict_problem(
        preconditioned=has_precondition(request),
        instance=request.path,
        type_base=ifmatch_settings.PROBLEM_TYPE_BASE,
    )
    return problem_response(body)


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 with ``Retry-After`` for a database that could not be reached or a connection lost
    mid-request (``ifmatch.stores.is_unavailable``): never a 500, never a success."""
    body = unavailable_problem(
        unsafe=(request.method or "GET").upper() not in SAFE_METHODS,
        instance=request.path,
        type_base=ifmatch_settings.PROBLEM_TYPE_BASE,
    )
    return problem_response(body)


def check_atomic_requests(alias: str) -> None:
    """Fail at start-up when a serialization failure at the request's commit would be a 500.

    With ``ATOMIC_REQUESTS``, Django commits after the view has returned, outside the decorator
    and the DRF views; PostgreSQL at SERIALIZABLE can fail exactly there. Only
    :class:`ConditionalMiddleware` sees that failure and answers 412 instead of 500.

    Raises:
        ConfigurationError: ``ATOMIC_REQUESTS`` is on for ``alias`` and the middleware is not
            in ``MIDDLEWARE``.
    """
    from django.conf import settings
    from django.db import connections

    if not connections.settings[alias].get("ATOMIC_REQUESTS"):
        return
    if not any(_is_conditional_middleware(path) for path in settings.MIDDLEWARE):
        raise ConfigurationError(
            f"ATOMIC_REQUESTS is on for database {alias!r}: add "
            "'ifmatch.integrations.django.ConditionalMiddleware' to MIDDLEWARE so that a "
            "serialization failure at the request's commit is answered 412, not 500"
        )


def _is_conditional_middleware(path: str) -> bool:
    from django.utils.module_loading import import_string

    try:
        found = import_string(path)
    except ImportError:
        return False
    return isinstance(found, type) and issubclass(found, ConditionalMiddleware)


class write_transaction:
    """The transaction around a view's guarded write, begun only when it is needed.

    The guarded ``save()`` / ``delete()`` is one conditional statement and atomic by itself,
    so a view whose first statement is that write runs in autocommit, exactly like a plain
    Django ``save()``: no ``BEGIN``/``COMMIT`` round trips. Any other first statement (the view
    writes an audit row, or writes without the guarded ``save()``) begins
    ``transaction.atomic()`` before it runs, so a lost race or an unguarded write rolls back
    everything the view wrote. Inside an existing transaction (``ATOMIC_REQUESTS``, the
    caller's ``atomic()``) the view runs in a savepoint, as before.

    Statements after a write that ran in autocommit are not part of its transaction. A view
    whose own writes must commit with the guarded write, or not at all (a history row, an
    audit entry), passes ``atomic=True`` (the ``ATOMIC_WRITES`` setting, ``atomic_writes=True``
    on the decorator): the transaction then begins before the first statement, whatever it is.
    """

    def __init__(self, using: str, instance: models.Model | None, *, atomic: bool = False) -> None:
        self.using = using
        self.instance = instance
        self.eager = atomic
        self.atomic: transaction.Atomic | None = None
        self._wrapper: Any = None
        self._first = True

    def __enter__(self) -> write_transaction:
        connection = connections[self.using]
        if self.eager or self.instance is None or connection.in_atomic_block:
            self.atomic = transaction.atomic(using=self.using)
            self.atomic.__enter__()
        else:
            self._wrapper = connection.execute_wrapper(self._begin_if_needed)
            self._wrapper.__enter__()
        return self

    def _begin_if_needed(
        self, execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: Any
    ) -> Any:
        if self._first:
            self._first = False
            connection = context["connection"]
            pending = self.instance is None or pending_expectation(self.instance) is not None
            if pending and not connection.in_atomic_block:
                # Not the guarded write: begin before this statement runs.
                self.atomic = transaction.atomic(using=self.using)
                self.atomic.__enter__()
        return execute(sql, params, many, context)

    def __exit__(self, *exc_info: Any) -> None:
        try:
            if self._wrapper is not None:
                self._wrapper.__exit__(None, None, None)
        finally:
            if self.atomic is not None:
                self.atomic.__exit__(*exc_info)


@dataclass
class ConditionalState:
    """What the decorator found, available to the view as ``request.ifmatch``.

    Attributes:
        instance: the current row (``None`` when a PUT creates it); a view that creates sets it
            to the new instance so the response gets its ``ETag``.
        expectation: what the write must find (already attached to ``instance``); ``None``
            when the preconditions are false.
        decision: the core's decision: a ``Proceed``, or the answer (304, 400, 412, 428) that
            waits for the view's access decisions. With such a decision the view still runs, so
            it can refuse access first; ``obj.save()`` / ``obj.delete()`` then raise instead of
            writing, and a 2xx from the view is replaced by the answer.
    """

    instance: models.Model | None
    expectation: Expectation | None
    decision: Decision
    created: bool = field(default=False)

    @property
    def refused(self) -> bool:
        """Whether the preconditions are false (the answer waits for the view's decisions)."""
        return not isinstance(self.decision, Proceed)


class _Answer(Exception):
    """A waiting precondition answer, raised by a refused ``save()`` / ``delete()``."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(type(decision).__name__)
        self.decision = decision


def _first(queryset: models.QuerySet[Any]) -> models.Model | None:
    """The first row, or ``None``; unlike ``first()`` no ``ORDER BY pk``, which a lookup on
    a unique field does not need."""
    rows: list[models.Model] = list(queryset[:1])
    return rows[0] if rows else None


def conditional(
    queryset: models.QuerySet[Any] | type[models.Model],
    *,
    lookup_field: str = "pk",
    lookup_url_kwarg: str | None = None,
    instance_kwarg: str = "obj",
    has_permission: Callable[[HttpRequest, models.Model], bool] | None = None,
    allow_create: bool = False,
    variant: str | None = None,
    answer_before_view: bool = False,
    **overrides: Any,
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Decorate a function-based view of one resource so its requests are conditional.

    A false precondition is answered only after the view's own access decisions: the view runs
    (with ``request.ifmatch.refused`` set), and may answer 401, 403, 404 or a redirect to a
    login page, whatever decorators or code it uses for that; its ``obj.save()`` /
    ``obj.delete()`` raise instead of writing, and a 2xx it returns is replaced by the 304, 400,
    412 or 428. See ``docs/security.md``.

    Args:
        queryset: the rows the view may see (a model means all of them).
        lookup_field: the field matched against the URL keyword argument.
        lookup_url_kwarg: the URL keyword argument (default: ``lookup_field``).
        instance_kwarg: the keyword argument the loaded instance is passed as.
        has_permission: ``(request, obj) -> bool``, checked before any precondition
            (RFC 9110 §13.2.1); ``False`` answers 403.
        allow_create: let ``PUT`` on a missing resource through (``If-None-Match: *`` for a
            create-only write); the view creates it and sets ``request.ifmatch.instance``.
        variant: distinguishes representations of one version in the entity-tag.
        answer_before_view: answer false preconditions before calling the view, and a
            conditional GET from the version columns alone (a cheaper 304). Only for a view
            that makes no access decision of its own: every check is in ``has_permission`` or
            in decorators applied *outside* (above) this one.
        overrides: any ``IFMATCH`` setting, lower-case (``warn_only=True``).

    Returns:
        The view decorator.

    Raises:
        ConfigurationError: the model has no version column (at decoration time).
    """
    from ..stores.django import version_fields

    base = queryset if isinstance(queryset, models.QuerySet) else queryset._default_manager.all()
    check_atomic_requests(router.db_for_write(base.model))
    upper = {key.upper(): value for key, value in overrides.items()}
    policy = ifmatch_settings.policy(upper)
    keys = ifmatch_settings.idempotency(
        {key: value for key, value in upper.items() if key.startswith("IDEMPOTENCY_")}
    )
    url_kwarg = lookup_url_kwarg or lookup_field

    version, last_modified = version_fields(base.model)  # fails at start-up, not per request
    validator_columns = [base.model._meta.pk.name, version]
    if last_modified is not None:
        validator_columns.append(last_modified)

    def rows(value: Any) -> models.QuerySet[Any]:
        try:
            return base.filter(**{lookup_field: value})
        except (ValueError, TypeError, ValidationError):
            # A URL value the field cannot take ("abc" for an integer key) names nothing.
            raise Http404("No such resource.") from None

    def load(value: Any) -> models.Model | None:
        return _first(rows(value))

    def read_validators(request: HttpRequest, value: Any) -> Snapshot:
        # Only the version columns: a 304 never loads the row's body. Without has_permission
        # no instance is needed, so the columns are read as one plain row.
        if has_permission is None:
            found = list(rows(value).values_list(*validator_columns[1:])[:1])
            if not found:
                raise Http404("No such resource.")
            return snapshot_from_row(found[0])
        probe = rows(value).select_related(None).prefetch_related(None).only(*validator_columns)
        obj = _first(probe)
        if obj is None:
            raise Http404("No such resource.")
        if not has_permission(request, obj):
            raise PermissionDenied
        return snapshot_of(obj)

    def decide(
        request: HttpRequest, method: str, snapshot: Snapshot | None, send_lm: bool
    ) -> Decision:
        state = resource_state(snapshot, variant=variant, last_modified=send_lm)
        return evaluate(method, request_headers(request), state, policy)

    def handle(
        view: Callable[..., HttpResponseBase], request: HttpRequest, args: Any, kwargs: Any
    ) -> HttpResponseBase:
        method = (request.method or "GET").upper()
        value = kwargs[url_kwarg]
        send_lm = bool(upper.get("SEND_LAST_MODIFIED", ifmatch_settings.SEND_LAST_MODIFIED))
        if answer_before_view and method in _CACHEABLE_READS and has_read_precondition(request):
            decision = decide(request, method, read_validators(request, value), send_lm)
            if not isinstance(decision, Proceed):
                return decision_response(decision, request)
        # A retry of this user's own committed write (a DELETE's included, whose row is gone)
        # gets its first answer before anything else is looked at.
        begun = begin_keyed(
            request,
            keys,
            using=router.db_for_write(base.model),
            scope=user_scope(request),
            error_format=ifmatch_settings.ERROR_FORMAT,
            variant=variant,
        )
        if isinstance(begun, HttpResponseBase):
            return begun  # a replayed write, or a bad key
        if begun is None:
            return proceed(view, request, args, kwargs, method, value, send_lm)
        begun.begin()
        try:
            response = proceed(view, request, args, kwargs, method, value, send_lm)
        except BaseException:
            begun.abort(sys.exc_info())
            raise
        written = getattr(request, "ifmatch", None)
        instance = None if written is None else written.instance
        version = None if method == "DELETE" or instance is None else snapshot_of(instance).version
        return begun.finish(response, version)

    def proceed(
        view: Callable[..., HttpResponseBase],
        request: HttpRequest,
        args: Any,
        kwargs: Any,
        method: str,
        value: Any,
        send_lm: bool,
    ) -> HttpResponseBase:
        obj = load(value)
        if obj is None and not (allow_create and method == "PUT"):
            raise Http404("No such resource.")
        if obj is not None and has_permission is not None and not has_permission(request, obj):
            raise PermissionDenied
        snapshot = None if obj is None else snapshot_of(obj)
        decision = decide(request, method, snapshot, send_lm)
        expect: Expectation | None = None
        if isinstance(decision, Proceed):
            for warning in decision.warnings:
                logger.warning("%s %s: %s", method, request.path, warning)
            expect = Expectation.from_condition(decision.condition, variant=variant)
        elif answer_before_view:
            return decision_response(decision, request)
        request.ifmatch = ConditionalState(obj, expect, decision)  # type: ignore[attr-defined]
        arguments = {**kwargs, instance_kwarg: obj}
        if method in SAFE_METHODS:
            response = view(request, *args, **arguments)
            if response.status_code // 100 != 2:
                return response
            if not isinstance(decision, Proceed):
                return decision_response(decision, request)
            if snapshot is not None:
                set_validators(response, snapshot, variant=variant, last_modified=send_lm)
            return response
        atomic = bool(upper.get("ATOMIC_WRITES", ifmatch_settings.ATOMIC_WRITES))
        return _write(view, request, args, arguments, variant, send_lm, base.model, atomic)

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                return handle(view, request, args, kwargs)
            except DatabaseError as error:
                if not is_unavailable(error):
                    raise
                return unavailable_response(request)

        return wrapped

    return decorator


def _write(
    view: Callable[..., HttpResponseBase],
    request: HttpRequest,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    variant: str | None,
    send_lm: bool,
    model: type[models.Model],
    atomic: bool = False,
) -> HttpResponseBase:
    state: ConditionalState = request.ifmatch  # type: ignore[attr-defined]
    obj = state.instance
    refusal = None if not state.refused else Refusal(lambda: _Answer(state.decision))
    if obj is not None:
        expect_on(obj, refusal if refusal is not None else state.expectation)
    using = router.db_for_write(model, instance=obj)
    refusing = refuse_inserts(model, refusal) if refusal is not None else contextlib.nullcontext()
    try:
        with write_transaction(using, obj, atomic=atomic), refusing:
            response = view(request, *args, **kwargs)
            if response.status_code // 100 == 2:
                if refusal is not None:
                    # The view allowed the request but wrote nothing: roll back whatever it
                    # did write and answer the precondition.
                    refusal.refuse()
                if obj is not None and pending_expectation(obj) is not None:
                    # Raised inside the transaction, so whatever the view wrote is rolled back.
                    raise ConfigurationError(
                        "the view answered 2xx without obj.save() / obj.delete(): "
                        "the write was not guarded"
                    )
    except _Answer as answer:
        return decision_response(answer.decision, request)
    except WriteLost as lost:
        body, etag = lost_problem(lost.reread(), request, variant=variant)
        return problem_response(body, etag=etag)
    except DatabaseError as error:
        if not is_transient(error):
            raise
        return write_conflict_response(request)
    written = state.instance
    if response.status_code // 100 != 2:
        return response
    if written is not None and request.method != "DELETE":
        set_validators(response, snapshot_of(written), variant=variant, last_modified=send_lm)
        if obj is None and response.status_code == 201 and "Location" not in response:
            response["Location"] = request.path
    return response


class ConditionalMiddleware:
    """Turn ifmatch's write errors raised anywhere in a view into problem responses.

    - ``WriteLost`` (a guarded ``save()``/``delete()`` lost the race) → 412 with the current
      ``ETag``, read after the failed transaction ended;
    - ``VersionConflictError`` → 409;
    - serialization failures and deadlocks → 412 (409 when the request had no precondition)
      instead of a 500;
    - a database that cannot be reached, or a connection lost mid-request, in any view → 503
      with ``Retry-After`` (``ifmatch.stores.is_unavailable``) instead of a 500.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_unavailable(exception):
            return unavailable_response(request)
        if isinstance(exception, WriteLost):
            body, etag = lost_problem(exception.reread(), request)
            return problem_response(body, etag=etag)
        if isinstance(exception, VersionConflictError):
            return problem_response(problem(409, str(exception), code=VERSION_MISMATCH))
        if isinstance(exception, DatabaseError) and is_transient(exception):
            return write_conflict_response(request)
        return None
