"""``ConditionalMixin``: race-free conditional requests for DRF generic views and viewsets.

It plugs into DRF's own hooks, so composed views keep working:

- ``get_object`` runs the view's whole lookup (``get_queryset``, ``filter_queryset``, 404,
  ``check_object_permissions``, and any override of ``get_object`` itself) and evaluates the
  preconditions, but a false one (304, 412, 428, 409, 400) is *answered* only after every access
  decision of the view: at the guarded write (``instance.save()`` / ``delete()`` raise it
  without writing), or in place of the view's 2xx response. A view that refuses access (401,
  403, 404) anywhere before that, in ``get_object``, ``perform_update`` or the action itself,
  answers with its refusal, and the caller learns nothing about the resource. See
  ``docs/security.md``.
- A conditional GET is answered from the version columns alone (304 before the row's body is
  loaded or the serializer runs) when no access decision can follow ``get_object``: the view
  does not override ``get_object``, ``retrieve`` or its GET handler (or declares
  ``ifmatch_answer_reads_early = True``).
- ``perform_update`` / ``perform_destroy`` run the serializer's ordinary ``save()`` /
  ``instance.delete()``, which become one guarded ``UPDATE … WHERE version IN (…)`` through
  :class:`~ifmatch.stores.django.ConditionalSaveMixin`: no gap between check and write.
- ``create`` evaluates a ``POST``'s preconditions against the collection's tag;
  ``perform_create`` / ``get_success_headers`` send 201 with ``ETag`` and ``Location``.
- ``list`` sends a collection entity-tag (one aggregate query) and answers 304 to it.
- ``finalize_response`` sends the current (after a write: the new) ``ETag``/``Last-Modified``.
- A lost database connection answers 503 with ``Retry-After``, never 500.

All §13.2.2 logic is ``ifmatch.core.evaluate``; this module only translates.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, models, router, transaction
from django.http import Http404, HttpResponseBase
from django.urls import NoReverseMatch, reverse
from django.utils.cache import patch_vary_headers
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from ...core.decisions import (
    Decision,
    NotModified,
    PreconditionFailed,
    PreconditionRequired,
    Proceed,
)
from ...core.errors import ConfigurationError
from ...core.etag import ETag
from ...core.evaluate import ResourceState, evaluate
from ...core.policy import Policy
from ...core.problems import problem
from ...stores._django_sql import check_connection, collection_state
from ...stores.base import CASResult, Expectation, Outcome, Snapshot
from ...stores.django import (
    ConditionalSaveMixin,
    Refusal,
    WriteLost,
    expect_on,
    is_transient,
    pending_expectation,
    refuse_inserts,
    snapshot_of,
    version_fields,
)
from ...stores.errors import is_unavailable
from .._django_keys import KeyedWrite, begin_keyed, user_scope
from .._fields import last_modified_fields
from .._variants import named_variant
from ..django import (
    SAFE_METHODS,
    check_atomic_requests,
    decision_problem,
    has_precondition,
    has_read_precondition,
    lost_problem,
    not_modified_headers,
    request_headers,
    resource_state,
    unavailable_response,
    validator_headers,
    write_conflict_response,
    write_transaction,
)
from . import exceptions
from .settings import DEFAULTS, ifmatch_settings

__all__ = ["ConditionalMixin"]

_POLICY_KEYS = (
    "REQUIRE_PRECONDITION",
    "WARN_ONLY",
    "ACCEPT_WEAK_ECHO",
    "UNMODIFIED_SINCE_COUNTS",
    "MAX_TAGS",
    "MAX_HEADER_LENGTH",
    "ACCEPT_BARE_VERSION_TOKEN",
)
_SETTING_ATTRIBUTES = tuple((key, "ifmatch_" + key.lower()) for key in DEFAULTS)
_POLICY_ATTRIBUTES = tuple((key, "ifmatch_" + key.lower()) for key in _POLICY_KEYS)
_KEY_ATTRIBUTES = tuple(
    (key, "ifmatch_" + key.lower()) for key in DEFAULTS if key.startswith("IDEMPOTENCY_")
)


class _Answered(Exception):
    """An answer given before the handler runs (a replayed write, a bad key)."""

    def __init__(self, response: HttpResponseBase) -> None:
        super().__init__(response.status_code)
        self.response = response


def _overrides(view: Any, attributes: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The ``ifmatch_*`` attributes a view class (or instance) sets, by setting name."""
    overrides = {}
    for key, attribute in attributes:
        value = getattr(view, attribute, None)
        if value is not None:
            overrides[key] = value
    return overrides


SCHEMES = frozenset({"etag", "version"})
_READS = frozenset({"GET", "HEAD"})
# Where DRF's and ifmatch's own methods live: an override anywhere else may decide access.
_FRAMEWORK_MODULES = ("rest_framework.", "ifmatch.integrations.")


def _framework_defines(cls: type, name: str) -> bool:
    """Whether the method ``name`` that ``cls`` runs is DRF's or ifmatch's, not an override."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass.__module__.startswith(_FRAMEWORK_MODULES)
    return True


class ConditionalMixin:
    """Make a ``GenericAPIView`` (or viewset) over a versioned model conditional.

    Class attributes (``None`` means the ``IFMATCH`` setting of the same name):

    - ``ifmatch_scheme``: ``"etag"`` (If-Match / If-Unmodified-Since, 412) or ``"version"``
      (the version number in the body, 409 on mismatch; headers still work).
    - ``ifmatch_require_precondition``: methods answering 428 without a precondition;
      ``()`` opts the view out.
    - ``ifmatch_warn_only``, ``ifmatch_accept_weak_echo``, ``ifmatch_send_last_modified``,
      ``ifmatch_include_current_representation``, ``ifmatch_collection_etag``,
      ``ifmatch_version_field_name``, ...: any other ``IFMATCH`` key, lower-case.
    - ``ifmatch_allow_put_create``: a PUT to a missing item creates it (``If-None-Match: *``).
    - ``ifmatch_answer_reads_early``: answer a conditional GET from the version columns before
      the view's lookup and action run. ``None`` (the default) does so only when the view
      overrides none of ``get_object``, ``retrieve`` and its GET handler, where no access
      decision can follow the lookup; ``True`` declares that such overrides decide nothing
      about access; ``False`` never does.
    """

    ifmatch_scheme: str = "etag"
    ifmatch_allow_put_create: bool = False
    ifmatch_answer_reads_early: bool | None = None
    request: Request
    kwargs: dict[str, Any]
    lookup_field: str
    lookup_url_kwarg: str | None

    # -- configuration --------------------------------------------------------------------

    @classmethod
    def as_view(cls, *args: Any, **initkwargs: Any) -> Callable[..., HttpResponseBase]:
        cls.check_ifmatch_configuration()
        view: Callable[..., HttpResponseBase] = super().as_view(*args, **initkwargs)  # type: ignore[misc]
        return view

    @classmethod
    def check_ifmatch_configuration(cls) -> None:
        """Fail at start-up (URLconf import) for a configuration that cannot be safe.

        Raises:
            ConfigurationError: unknown scheme, a model without a version column or without
                ``ConditionalSaveMixin`` (its ``save()`` would not be guarded), an
                unsupported database.
        """
        if cls.ifmatch_scheme not in SCHEMES:
            raise ConfigurationError(f"ifmatch_scheme must be one of {sorted(SCHEMES)}")
        queryset = getattr(cls, "queryset", None)
        if queryset is not None:
            _check_model(queryset.model)
        ifmatch_settings.policy(cls._ifmatch_overrides())

    @classmethod
    def _ifmatch_overrides(cls) -> dict[str, Any]:
        return _overrides(cls, _SETTING_ATTRIBUTES)

    def get_ifmatch_setting(self, name: str) -> Any:
        """A setting for this view: the class attribute if set, else ``IFMATCH[name]``."""
        value = getattr(self, "ifmatch_" + name.lower(), None)
        return getattr(ifmatch_settings, name) if value is None else value

    def get_ifmatch_policy(self) -> Policy:
        """The core ``Policy`` for this view."""
        return ifmatch_settings.policy(_overrides(self, _POLICY_ATTRIBUTES))

    def get_etag_variant(self) -> str | None:
        """The variant of the representation this response carries, in its tag.

        A view with several renderers (JSON and the browsable API's HTML, say) answers each
        with its own strong tag (RFC 9110 §8.8.3): the first renderer's representation keeps
        the plain ``"v3"``, and any other is ``"v3~<digest of its media type>"``; responses
        then carry ``Vary: Accept``. ``None`` with one renderer. Override to tell other
        representations apart (a projection), and :meth:`get_etag_variants` with it.
        """
        renderer = getattr(self.request, "accepted_renderer", None)
        renderers = list(getattr(self, "renderer_classes", ()))
        if renderer is None or len(renderers) < 2 or isinstance(renderer, renderers[0]):
            return None
        return str(renderer.media_type)

    def get_etag_variants(self) -> list[str | None]:
        """Every variant :meth:`get_etag_variant` may return for this view. A write's
        ``If-Match`` is checked against the representation its tags name, any of these: a
        client that read the JSON may write with another ``Accept`` (see
        ``ifmatch.integrations._variants``)."""
        if not _framework_defines(type(self), "get_etag_variant"):
            return [self.get_etag_variant()]
        renderers = list(getattr(self, "renderer_classes", ()))
        return [None, *(str(r.media_type) for r in renderers[1:])]

    def _varies(self) -> bool:
        """Whether the representation depends on ``Accept`` (several renderers)."""
        return len(getattr(self, "renderer_classes", ())) > 1

    # -- Idempotency-Key --------------------------------------------------------------------

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self._ifmatch_keyed: KeyedWrite | None = None
        options = ifmatch_settings.idempotency(_overrides(self, _KEY_ATTRIBUTES))
        if options is None:
            return
        # After authentication and the permission classes: a key belongs to its user.
        model = self.get_queryset().model  # type: ignore[attr-defined]
        begun = begin_keyed(
            request,
            options,
            using=router.db_for_write(model),
            scope=user_scope(request),
            error_format=self.get_ifmatch_setting("ERROR_FORMAT"),
            variant=self.get_etag_variant(),
        )
        if isinstance(begun, HttpResponseBase):
            raise _Answered(begun)
        if begun is not None:
            begun.begin()
            self._ifmatch_keyed = begun

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            response: HttpResponseBase = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        except BaseException:
            keyed = getattr(self, "_ifmatch_keyed", None)
            if keyed is not None:
                self._ifmatch_keyed = None
                keyed.abort(sys.exc_info())
            raise
        return response

    def _written_version(self) -> int | None:
        """The version a keyed write left (``None`` after a delete, or without a write)."""
        if (self.request.method or "").upper() == "DELETE":
            return None
        saved = getattr(getattr(self, "_ifmatch_serializer", None), "instance", None)
        for written in (getattr(self, "_ifmatch_created", None), saved, self._instance()):
            if isinstance(written, ConditionalSaveMixin):
                return self.get_snapshot(written).version  # type: ignore[arg-type]
        return None

    def _instance(self) -> models.Model | None:
        return getattr(self, "_ifmatch_instance", None)

    # -- reading validators -----------------------------------------------------------------

    def get_object(self) -> Any:
        method = (self.request.method or "GET").upper()
        if method in _READS and has_read_precondition(self.request) and self._answers_early():
            # Cheap path: only the version columns, then 304 before the row body is loaded.
            validators = self._get_validator_object()
            early = self._decide(validators, method)
            if isinstance(early, Refusal):
                early.refuse()
        obj = super().get_object()  # type: ignore[misc]
        self._ifmatch_instance = obj
        outcome = self._decide(obj, method)
        # A false precondition waits until the view's own access decisions are made: the
        # guarded write raises it, or it replaces the view's 2xx (finalize_response).
        self._ifmatch_refusal = outcome if isinstance(outcome, Refusal) else None
        if method not in SAFE_METHODS:
            expect_on(obj, outcome)
        return obj

    def _answers_early(self) -> bool:
        """Whether no access decision of the view can follow ``get_object`` for this GET."""
        if self.ifmatch_answer_reads_early is not None:
            return self.ifmatch_answer_reads_early
        cls = type(self)
        handler = getattr(self, (self.request.method or "GET").lower(), None)
        function = getattr(handler, "__func__", None)
        return (
            function is not None
            and function.__name__ in {"get", "retrieve"}
            and function.__module__.startswith(_FRAMEWORK_MODULES)
            and _framework_defines(cls, "retrieve")
            and _framework_defines(cls, "get_object")
        )

    def _get_validator_object(self) -> models.Model:
        queryset = self.filter_queryset(self.get_queryset())  # type: ignore[attr-defined]
        model = queryset.model
        version, last_modified = version_fields(model)
        columns = [model._meta.pk.name, version, *([last_modified] if last_modified else [])]
        queryset = queryset.select_related(None).prefetch_related(None).only(*columns)
        url_kwarg = self.lookup_url_kwarg or self.lookup_field
        # DRF's get_object_or_404: a lookup value the field cannot take ("abc" for an integer
        # key) is a 404, as in DRF's own get_object.
        obj: models.Model = get_object_or_404(
            queryset, **{self.lookup_field: self.kwargs[url_kwarg]}
        )
        self.check_object_permissions(self.request, obj)  # type: ignore[attr-defined]
        return obj

    def get_snapshot(self, obj: models.Model) -> Snapshot:
        """The validators of ``obj`` (its version columns)."""
        return snapshot_of(obj)

    # -- deciding ---------------------------------------------------------------------------

    def _decide(self, obj: models.Model | None, method: str) -> Expectation | Refusal:
        """What a write must find (an ``Expectation``), or the answer waiting for the view's
        access decisions (a ``Refusal``: 304, 400, 409, 412 or 428)."""
        snapshot = None if obj is None else self.get_snapshot(obj)
        try:
            body_version = self._body_version(method)
        except exceptions.BadPrecondition as bad:
            invalid = bad
            return Refusal(lambda: invalid)
        policy = self.get_ifmatch_policy()
        if body_version is not None:
            policy = replace(policy, require_precondition=frozenset())
        send_lm = bool(self.get_ifmatch_setting("SEND_LAST_MODIFIED"))
        headers = request_headers(self.request)
        variant = self.get_etag_variant()
        named = variant
        if method not in SAFE_METHODS:
            # A write names the representation its client read, whatever it accepts now.
            named = named_variant(headers, self.get_etag_variants(), variant)
        state = resource_state(snapshot, variant=named, last_modified=send_lm)
        decision = evaluate(method, headers, state, policy)
        if not isinstance(decision, Proceed):
            if named != variant and snapshot is not None:
                # The answer names the representation this response is negotiated to.
                decision = _naming(decision, snapshot.etag(variant=variant))
            return self._refusal_for(decision, obj)
        self._log_warnings(decision, method)
        expect = Expectation.from_condition(decision.condition, variant=named)
        self._ifmatch_lost_status = 412
        if body_version is not None and snapshot is not None:
            self._ifmatch_lost_status = 409
            if body_version != snapshot.version:
                stale = CASResult(Outcome.LOST, snapshot)
                return Refusal(lambda: self._lost_exception(stale, obj))
            allowed = frozenset({body_version})
            versions = allowed if expect.versions is None else expect.versions & allowed
            expect = replace(expect, exists=True, versions=versions)
        return expect

    def _log_warnings(self, decision: Proceed, method: str) -> None:
        for warning in decision.warnings:
            logging.getLogger(self.get_ifmatch_setting("LOGGER")).warning(
                "%s %s: %s (IFMATCH WARN_ONLY)", method, self.request.path, warning
            )

    def _body_version(self, method: str) -> int | None:
        if self.ifmatch_scheme != "version" or method not in {"PUT", "PATCH", "POST", "DELETE"}:
            return None
        data = self.request.data
        name = self.get_ifmatch_setting("VERSION_FIELD_NAME")
        raw = data.get(name) if hasattr(data, "get") else None
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | str) or not _digits(str(raw)):
            body = problem(400, f"{name!r} must be a non-negative integer", code="invalid-version")
            raise exceptions.BadPrecondition(body)
        return int(raw)

    def _refusal_for(self, decision: Decision, obj: models.Model | None) -> Refusal:
        """The waiting answer to a decision other than ``Proceed``; its body (with the current
        representation, when configured) is built only if it is sent."""
        if isinstance(decision, NotModified):
            headers = not_modified_headers(decision)
            return Refusal(lambda: exceptions.NotModified(headers))

        def error() -> exceptions.IfMatchAPIException:
            body = decision_problem(decision, self.request)
            etag: ETag | None = getattr(decision, "current_etag", None)
            if decision.status == 412:
                self._add_representation(body, obj)
                return exceptions.PreconditionFailed(body, etag)
            if decision.status == 428:
                return exceptions.PreconditionRequired(body, etag)
            return exceptions.BadPrecondition(body)

        return Refusal(error)

    def _add_representation(self, body: dict[str, Any], obj: models.Model | None) -> None:
        if obj is None or not self.get_ifmatch_setting("INCLUDE_CURRENT_REPRESENTATION"):
            return
        if (self.request.method or "").upper() in _READS:
            return
        # Read again through the caller's own queryset (the instance may hold the request's
        # unsaved changes by now), and render with the caller's own serializer: a row or a
        # field hidden from them is not in the body.
        fresh = self.filter_queryset(self.get_queryset()).filter(pk=obj.pk).first()  # type: ignore[attr-defined]
        if fresh is not None:
            body["current"] = self.get_serializer(fresh).data

    def _lost_exception(
        self, result: CASResult, obj: models.Model | None = None
    ) -> exceptions.IfMatchAPIException:
        status = getattr(self, "_ifmatch_lost_status", 412)
        body, etag = lost_problem(
            result, self.request, variant=self.get_etag_variant(), status=status
        )
        if result.snapshot is not None:
            self._add_representation(body, obj)
        if status == 409:
            return exceptions.VersionConflict(body, etag)
        return exceptions.PreconditionFailed(body, etag)

    # -- writing ----------------------------------------------------------------------------

    def _guarded(self, write: Callable[[], Any], instance: models.Model) -> None:
        using = router.db_for_write(type(instance), instance=instance)
        try:
            atomic = bool(self.get_ifmatch_setting("ATOMIC_WRITES"))
            with write_transaction(using, instance, atomic=atomic):
                write()
                pending = pending_expectation(instance)
                if isinstance(pending, Refusal):
                    # The view wrote without the instance's save(): answer as the save would
                    # have, and roll back whatever it wrote.
                    pending.refuse()
                if pending is not None:
                    # Inside the transaction, so the unguarded write is rolled back.
                    expect_on(instance, None)
                    raise ConfigurationError(
                        f"{type(self).__name__} wrote without {type(instance).__name__}"
                        ".save()/delete(): the write was not guarded"
                    )
        except WriteLost as lost:
            # Outside the failed transaction: the 412 carries the committed state.
            raise self._lost_exception(lost.reread(), instance) from lost
        except DatabaseError as error:
            if not is_transient(error):
                raise
            # The database rolled the transaction back (e.g. at its commit): read the row again
            # on the database the write went to.
            probe = WriteLost(
                CASResult(Outcome.LOST), model=type(instance), key=instance.pk, using=using
            )
            raise self._lost_exception(probe.reread(), instance) from error

    def perform_update(self, serializer: Any) -> None:
        parent: Any = super()
        self._guarded(lambda: parent.perform_update(serializer), serializer.instance)

    def perform_destroy(self, instance: models.Model) -> None:
        parent: Any = super()
        self._guarded(lambda: parent.perform_destroy(instance), instance)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        parent: Any = super()
        refusal = self._collection_refusal()
        if refusal is None:
            return parent.create(request, *args, **kwargs)  # type: ignore[no-any-return]
        model = self.get_queryset().model  # type: ignore[attr-defined]
        return self._refused_create(model, refusal, lambda: parent.create(request, *args, **kwargs))

    def _collection_refusal(self) -> Refusal | None:
        """A ``POST``'s preconditions, evaluated against the collection it adds to.

        The target of a ``POST`` is the collection: ``If-Match`` names the collection's tag (as
        sent by a ``GET`` of the list), ``If-None-Match: *`` is false because the collection
        exists, and a malformed field is a 400. Nothing is evaluated without a precondition
        unless ``POST`` is one of the methods that require one.
        """
        policy = self.get_ifmatch_policy()
        if not has_precondition(self.request) and "POST" not in policy.require_precondition:
            return None
        etag: ETag | None = None
        if self.get_ifmatch_setting("COLLECTION_ETAG"):
            queryset = self.filter_queryset(self.get_queryset())  # type: ignore[attr-defined]
            etag = self.get_collection_validators(queryset)[0]
        decision = evaluate("POST", request_headers(self.request), ResourceState(etag), policy)
        if isinstance(decision, Proceed):
            self._log_warnings(decision, "POST")
            return None
        return self._refusal_for(decision, None)

    def _refused_create(
        self, model: type[models.Model], refusal: Refusal, create: Callable[[], Response]
    ) -> Response:
        # The view's access checks (perform_create, the serializer) run first; the insert,
        # wherever the view makes it, raises the refusal instead of writing, and a 2xx that
        # wrote nothing is answered with it too. The transaction rolls back anything else.
        with transaction.atomic(using=router.db_for_write(model)), refuse_inserts(model, refusal):
            response = create()
            if response.status_code // 100 == 2:
                refusal.refuse()
        return response

    def perform_create(self, serializer: Any) -> None:
        # A view without CreateModelMixin (a create-by-PUT detail view) saves as DRF's would.
        create = getattr(super(), "perform_create", None)
        atomic: Any = contextlib.nullcontext()
        if self.get_ifmatch_setting("ATOMIC_WRITES"):
            model = self.get_queryset().model  # type: ignore[attr-defined]
            atomic = transaction.atomic(using=router.db_for_write(model))
        with atomic:
            if create is None:
                serializer.save()
            else:
                create(serializer)
        self._ifmatch_created = serializer.instance

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        serializer = super().get_serializer(*args, **kwargs)  # type: ignore[misc]
        self._ifmatch_serializer = serializer
        return serializer

    def get_success_headers(self, data: Any) -> dict[str, str]:
        headers: dict[str, str] = dict(super().get_success_headers(data))  # type: ignore[misc]
        created = getattr(self, "_ifmatch_created", None)
        if created is None and (self.request.method or "").upper() == "POST":
            # A perform_create of the view's own that does not call ours: the instance its
            # serializer saved is the one created.
            saved = getattr(getattr(self, "_ifmatch_serializer", None), "instance", None)
            created = saved if isinstance(saved, ConditionalSaveMixin) else None
        if created is not None:
            headers.update(self._validator_headers(self.get_snapshot(created)))
            headers.setdefault("Location", self.get_created_location(created))
        return headers

    def get_created_location(self, instance: models.Model) -> str:
        """The URL of a created item: ``get_absolute_url()``, the router's ``<basename>-detail``
        route, or the collection URL plus the lookup value."""
        get_url = getattr(instance, "get_absolute_url", None)
        if callable(get_url):
            return str(get_url())
        url_kwarg = self.lookup_url_kwarg or self.lookup_field
        value = getattr(instance, self.lookup_field)
        basename = getattr(self, "basename", None)
        if basename:
            try:
                return reverse(f"{basename}-detail", kwargs={url_kwarg: value})
            except NoReverseMatch:
                pass
        path = self.request.path
        return f"{path}{value}/" if path.endswith("/") else f"{path}/{value}"

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().update(request, *args, **kwargs)  # type: ignore[misc, no-any-return]
        except Http404:
            creating = (request.method or "").upper() == "PUT" and self.ifmatch_allow_put_create
            if not creating or getattr(self, "_ifmatch_instance", None) is not None:
                raise
            return self._put_create(request)

    def _put_create(self, request: Request) -> Response:
        model: type[models.Model] = self.get_queryset().model  # type: ignore[attr-defined]
        url_kwarg = self.lookup_url_kwarg or self.lookup_field
        lookup = {self.lookup_field: self._creatable_key(model, self.kwargs[url_kwarg])}
        outcome = self._decide(None, "PUT")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        save = serializer.save
        # The view's own perform_create runs (it may set the owner, or refuse access); the
        # lookup value from the URL is the key of what it saves.
        serializer.save = lambda **values: save(**{**values, **lookup})
        refusal = outcome if isinstance(outcome, Refusal) else None
        refusing = refuse_inserts(model, refusal) if refusal else contextlib.nullcontext()
        try:
            with transaction.atomic(using=router.db_for_write(model)), refusing:
                self.perform_create(serializer)
                if refusal is not None:
                    refusal.refuse()
        except IntegrityError:
            # Created by someone else first (a create-only PUT lost), or taken by a row this
            # caller may not see: a 404 then, as for any row outside get_queryset().
            current = self.filter_queryset(self.get_queryset()).filter(**lookup).first()  # type: ignore[attr-defined]
            if current is None:
                if model._base_manager.filter(**lookup).exists():
                    raise Http404 from None
                raise
            result = CASResult(Outcome.LOST, self.get_snapshot(current))
            raise self._lost_exception(result) from None
        headers = self._validator_headers(self.get_snapshot(serializer.instance))
        headers["Location"] = request.path
        return Response(serializer.data, status=201, headers=headers)

    def _creatable_key(self, model: type[models.Model], value: Any) -> Any:
        """The URL's lookup value, if a row may be created under it; else 404.

        A value the field cannot hold (out of the column's range, not a number) names nothing
        and can name nothing; a row that exists outside this caller's ``get_queryset()`` is not
        theirs to see or to replace.
        """
        meta = model._meta
        field: Any = meta.pk if self.lookup_field == "pk" else meta.get_field(self.lookup_field)
        try:
            cleaned = field.clean(value, None)
            lookup = {self.lookup_field: cleaned}
            taken = model._base_manager.filter(**lookup).exists()
        except (ValidationError, ValueError, TypeError, OverflowError):
            raise Http404 from None
        visible = self.filter_queryset(self.get_queryset())  # type: ignore[attr-defined]
        if taken and not visible.filter(**lookup).exists():
            raise Http404
        return cleaned

    # -- collections ------------------------------------------------------------------------

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not self.get_ifmatch_setting("COLLECTION_ETAG"):
            return super().list(request, *args, **kwargs)  # type: ignore[misc, no-any-return]
        queryset = self.filter_queryset(self.get_queryset())  # type: ignore[attr-defined]
        etag, last_modified = self.get_collection_validators(queryset)
        # Last-Modified of a collection is the newest item's, which a delete does not change,
        # so If-Modified-Since is not evaluated for collections: only the tag gives a 304.
        decision = evaluate(request.method or "GET", request_headers(request), ResourceState(etag))
        if not isinstance(decision, Proceed):
            self._refusal_for(decision, None).refuse()
        response: Response = super().list(request, *args, **kwargs)  # type: ignore[misc]
        response["ETag"] = str(etag)
        send_lm = bool(self.get_ifmatch_setting("SEND_LAST_MODIFIED"))
        for name, value in last_modified_fields(last_modified, send=send_lm):
            response[name] = value
        return response

    def get_collection_validators(self, queryset: models.QuerySet[Any]) -> tuple[ETag, Any]:
        """The collection's tag and Last-Modified, from one aggregate over the filtered rows:
        their count and the sum of a hash of each row's key and version (see
        ``ifmatch.stores.collection``), plus the URL and the representation's variant. Any
        insert into, update of or delete from the filtered rows changes it, UUID keys and
        tables without a Last-Modified column included."""
        version, last_modified = version_fields(queryset.model)
        state = collection_state(queryset, version, last_modified)
        accepted = getattr(self.request, "accepted_media_type", "")
        key = str(django_settings.SECRET_KEY).encode()
        variant = repr((accepted, self.get_etag_variant()))
        etag = state.etag(target=self.request.get_full_path(), variant=variant, key=key)
        return etag, state.last_modified

    # -- responses --------------------------------------------------------------------------

    def _validator_headers(self, snapshot: Snapshot) -> dict[str, str]:
        send_lm = bool(self.get_ifmatch_setting("SEND_LAST_MODIFIED"))
        return validator_headers(snapshot, variant=self.get_etag_variant(), last_modified=send_lm)

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        refusal: Refusal | None = getattr(self, "_ifmatch_refusal", None)
        if refusal is not None and response.status_code // 100 == 2:
            # The view granted access and answered 2xx without a write that would have raised
            # the waiting answer (a GET; a write view that wrote nothing): send it now.
            self._ifmatch_refusal = None
            try:
                refusal.refuse()
            except Exception as answer:
                response = self.handle_exception(answer)
        keyed: KeyedWrite | None = getattr(self, "_ifmatch_keyed", None)
        if keyed is not None:
            # The write and its idempotency record commit together, or neither does.
            self._ifmatch_keyed = None
            try:
                response = keyed.finish(response, self._written_version())
            except Exception as error:
                if not is_unavailable(error):
                    raise
                response = unavailable_response(self.request)
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        if self._varies():
            # Each renderer's representation has its own tag: caches must key on Accept.
            patch_vary_headers(response, ["Accept"])
        instance = getattr(self, "_ifmatch_instance", None)
        method = (request.method or "").upper()
        if (
            instance is not None
            and response.status_code // 100 == 2
            and method in {"GET", "HEAD", "PUT", "PATCH"}
            and not response.has_header("ETag")
        ):
            for name, value in self._validator_headers(self.get_snapshot(instance)).items():
                response[name] = value
        return response

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        parent: Any = super()
        try:
            return parent.options(request, *args, **kwargs)  # type: ignore[no-any-return]
        finally:
            # DRF's metadata calls get_object() for a cloned PUT / POST to test permissions;
            # that request's preconditions are not this OPTIONS request's (no 428 for OPTIONS).
            self._ifmatch_refusal = None

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, _Answered):
            return exc.response
        error_format = self.get_ifmatch_setting("ERROR_FORMAT")
        if isinstance(exc, exceptions.IfMatchAPIException):
            return exc.response(error_format)
        if isinstance(exc, exceptions.NotModified):
            return exceptions.exception_handler(exc, {})  # type: ignore[no-any-return]
        if isinstance(exc, DatabaseError) and is_transient(exc):
            return write_conflict_response(self.request, error_format=error_format)
        if is_unavailable(exc):
            return unavailable_response(self.request, error_format=error_format)
        return super().handle_exception(exc)  # type: ignore[misc, no-any-return]


def _naming(decision: Decision, etag: ETag) -> Decision:
    """``decision`` with ``etag`` as the current tag it reports (412, 428), if it reports one."""
    if isinstance(decision, PreconditionFailed | PreconditionRequired):
        return replace(decision, current_etag=etag)
    return decision


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _check_model(model: type[models.Model]) -> None:
    version_fields(model)
    if not issubclass(model, ConditionalSaveMixin):
        raise ConfigurationError(
            f"{model.__name__} must inherit ifmatch.stores.django.VersionedModel (or "
            "ConditionalSaveMixin): otherwise serializer.save() would not be a guarded write"
        )
    alias = router.db_for_write(model)
    check_connection(alias)
    check_atomic_requests(alias)
