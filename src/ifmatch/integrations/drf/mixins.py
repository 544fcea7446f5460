"""``ConditionalMixin``: race-free conditional requests for DRF generic views and viewsets.

It plugs into DRF's own hooks, so composed views keep working:

- ``get_object`` runs DRF's lookup (404), ``check_object_permissions`` (403) and only then the
  preconditions (RFC 9110 §13.2.1: a 304/412 never reveals a resource the caller may not see).
  A conditional GET first reads only the version columns, so a 304 never loads the row's body
  or runs the serializer. A write attaches the request's expectation to the instance.
- ``perform_update`` / ``perform_destroy`` run the serializer's ordinary ``save()`` /
  ``instance.delete()``, which become one guarded ``UPDATE … WHERE version IN (…)`` through
  :class:`~ifmatch.stores.django.ConditionalSaveMixin`: no gap between check and write.
- ``perform_create`` / ``get_success_headers`` send 201 with ``ETag`` and ``Location``.
- ``list`` sends a collection entity-tag (one aggregate query) and answers 304 to it.
- ``finalize_response`` sends the current (after a write: the new) ``ETag``/``Last-Modified``.

All §13.2.2 logic is ``ifmatch.core.evaluate``; this module only translates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from django.conf import settings as django_settings
from django.db import DatabaseError, IntegrityError, models, router, transaction
from django.db.models import Count, Max, Sum
from django.http import Http404, HttpResponseBase
from django.urls import NoReverseMatch, reverse
from rest_framework.request import Request
from rest_framework.response import Response

from ...core.decisions import Decision, NotModified, Proceed
from ...core.errors import ConfigurationError
from ...core.etag import ETag
from ...core.evaluate import ResourceState, evaluate
from ...core.policy import Policy
from ...core.problems import problem
from ...core.tags import content_etag
from ...stores._django_sql import check_connection
from ...stores.base import CASResult, Expectation, Outcome, Snapshot
from ...stores.django import (
    ConditionalSaveMixin,
    WriteLost,
    expect_on,
    is_transient,
    pending_expectation,
    snapshot_of,
    version_fields,
)
from .._fields import last_modified_fields
from ..django import (
    SAFE_METHODS,
    check_atomic_requests,
    decision_problem,
    lost_problem,
    not_modified_headers,
    request_headers,
    resource_state,
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
)
_SETTING_ATTRIBUTES = tuple((key, "ifmatch_" + key.lower()) for key in DEFAULTS)
_POLICY_ATTRIBUTES = tuple((key, "ifmatch_" + key.lower()) for key in _POLICY_KEYS)


def _overrides(view: Any, attributes: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The ``ifmatch_*`` attributes a view class (or instance) sets, by setting name."""
    overrides = {}
    for key, attribute in attributes:
        value = getattr(view, attribute, None)
        if value is not None:
            overrides[key] = value
    return overrides


SCHEMES = frozenset({"etag", "version"})


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
    """

    ifmatch_scheme: str = "etag"
    ifmatch_allow_put_create: bool = False
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
        """Distinguish representations of one version in the tag (``None``: one tag)."""
        return None

    # -- reading validators -----------------------------------------------------------------

    def get_object(self) -> Any:
        method = (self.request.method or "GET").upper()
        if method in {"GET", "HEAD"} and self._has_read_precondition():
            # Cheap path: only the version columns, then 304 before the row body is loaded.
            self._check(self._get_validator_object(), method)
        obj = super().get_object()  # type: ignore[misc]
        self._check(obj, method)
        self._ifmatch_instance = obj
        return obj

    def _has_read_precondition(self) -> bool:
        meta = self.request.META
        return "HTTP_IF_NONE_MATCH" in meta or "HTTP_IF_MODIFIED_SINCE" in meta

    def _get_validator_object(self) -> models.Model:
        from django.shortcuts import get_object_or_404

        queryset = self.filter_queryset(self.get_queryset())  # type: ignore[attr-defined]
        model = queryset.model
        version, last_modified = version_fields(model)
        columns = [model._meta.pk.name, version, *([last_modified] if last_modified else [])]
        queryset = queryset.select_related(None).prefetch_related(None).only(*columns)
        url_kwarg = self.lookup_url_kwarg or self.lookup_field
        obj: models.Model = get_object_or_404(
            queryset, **{self.lookup_field: self.kwargs[url_kwarg]}
        )
        self.check_object_permissions(self.request, obj)  # type: ignore[attr-defined]
        return obj

    def get_snapshot(self, obj: models.Model) -> Snapshot:
        """The validators of ``obj`` (its version columns)."""
        return snapshot_of(obj)

    # -- deciding ---------------------------------------------------------------------------

    def _check(self, obj: models.Model | None, method: str) -> Proceed:
        snapshot = None if obj is None else self.get_snapshot(obj)
        body_version = self._body_version(method)
        policy = self.get_ifmatch_policy()
        if body_version is not None:
            policy = replace(policy, require_precondition=frozenset())
        send_lm = bool(self.get_ifmatch_setting("SEND_LAST_MODIFIED"))
        state = resource_state(snapshot, variant=self.get_etag_variant(), last_modified=send_lm)
        decision = evaluate(method, request_headers(self.request), state, policy)
        self._raise_for(decision, obj)
        assert isinstance(decision, Proceed)
        for warning in decision.warnings:
            logging.getLogger(self.get_ifmatch_setting("LOGGER")).warning(
                "%s %s: %s (IFMATCH WARN_ONLY)", method, self.request.path, warning
            )
        expect = Expectation.from_condition(decision.condition, variant=self.get_etag_variant())
        self._ifmatch_lost_status = 412
        if body_version is not None and snapshot is not None:
            self._ifmatch_lost_status = 409
            if body_version != snapshot.version:
                raise self._lost_exception(CASResult(Outcome.LOST, snapshot), obj)
            allowed = frozenset({body_version})
            versions = allowed if expect.versions is None else expect.versions & allowed
            expect = replace(expect, exists=True, versions=versions)
        if obj is not None and method not in SAFE_METHODS:
            expect_on(obj, expect)
        return decision

    def _body_version(self, method: str) -> int | None:
        if self.ifmatch_scheme != "version" or method not in {"PUT", "PATCH", "POST", "DELETE"}:
            return None
        data = self.request.data
        name = self.get_ifmatch_setting("VERSION_FIELD_NAME")
        raw = data.get(name) if hasattr(data, "get") else None
        if raw is None:
            return None
        if isinstance(raw, bool) or not str(raw).isdigit():
            body = problem(400, f"{name!r} must be a non-negative integer", code="invalid-version")
            raise exceptions.BadPrecondition(body)
        return int(raw)

    def _raise_for(self, decision: Decision, obj: models.Model | None) -> None:
        if isinstance(decision, Proceed):
            return
        if isinstance(decision, NotModified):
            raise exceptions.NotModified(not_modified_headers(decision))
        body = decision_problem(decision, self.request)
        etag: ETag | None = getattr(decision, "current_etag", None)
        if decision.status == 412:
            self._add_representation(body, obj)
            raise exceptions.PreconditionFailed(body, etag)
        if decision.status == 428:
            raise exceptions.PreconditionRequired(body, etag)
        raise exceptions.BadPrecondition(body)

    def _add_representation(self, body: dict[str, Any], obj: models.Model | None) -> None:
        if obj is None or not self.get_ifmatch_setting("INCLUDE_CURRENT_REPRESENTATION"):
            return
        if (self.request.method or "").upper() in {"GET", "HEAD"}:
            return
        body["current"] = self.get_serializer(obj).data  # type: ignore[attr-defined]

    def _lost_exception(
        self, result: CASResult, obj: models.Model | None = None
    ) -> exceptions.IfMatchAPIException:
        status = getattr(self, "_ifmatch_lost_status", 412)
        body, etag = lost_problem(
            result, self.request, variant=self.get_etag_variant(), status=status
        )
        if obj is not None and result.snapshot is not None:
            fresh = self.filter_queryset(self.get_queryset()).filter(pk=obj.pk).first()  # type: ignore[attr-defined]
            self._add_representation(body, fresh)
        if status == 409:
            return exceptions.VersionConflict(body, etag)
        return exceptions.PreconditionFailed(body, etag)

    # -- writing ----------------------------------------------------------------------------

    def _guarded(self, write: Callable[[], Any], instance: models.Model) -> None:
        using = router.db_for_write(type(instance), instance=instance)
        try:
            with write_transaction(using, instance):
                write()
                if pending_expectation(instance) is not None:
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

    def perform_create(self, serializer: Any) -> None:
        super().perform_create(serializer)  # type: ignore[misc]
        self._ifmatch_created = serializer.instance

    def get_success_headers(self, data: Any) -> dict[str, str]:
        headers: dict[str, str] = dict(super().get_success_headers(data))  # type: ignore[misc]
        created = getattr(self, "_ifmatch_created", None)
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
        self._check(None, "PUT")
        serializer = self.get_serializer(data=request.data)  # type: ignore[attr-defined]
        serializer.is_valid(raise_exception=True)
        url_kwarg = self.lookup_url_kwarg or self.lookup_field
        lookup = {self.lookup_field: self.kwargs[url_kwarg]}
        model = self.get_queryset().model  # type: ignore[attr-defined]
        try:
            with transaction.atomic(using=router.db_for_write(model)):
                serializer.save(**lookup)
        except IntegrityError:
            current = self.filter_queryset(self.get_queryset()).filter(**lookup).first()  # type: ignore[attr-defined]
            if current is None:
                raise
            result = CASResult(Outcome.LOST, self.get_snapshot(current))
            raise self._lost_exception(result) from None
        headers = self._validator_headers(self.get_snapshot(serializer.instance))
        headers["Location"] = request.path
        return Response(serializer.data, status=201, headers=headers)

    # -- collections ------------------------------------------------------------------------

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not self.get_ifmatch_setting("COLLECTION_ETAG"):
            return super().list(request, *args, **kwargs)  # type: ignore[misc, no-any-return]
        queryset = self.filter_queryset(self.get_queryset())  # type: ignore[attr-defined]
        etag, last_modified = self.get_collection_validators(queryset)
        # Last-Modified of a collection is the newest item's, which a delete does not change,
        # so If-Modified-Since is not evaluated for collections: only the tag gives a 304.
        decision = evaluate(request.method or "GET", request_headers(request), ResourceState(etag))
        self._raise_for(decision, None)
        response: Response = super().list(request, *args, **kwargs)  # type: ignore[misc]
        response["ETag"] = str(etag)
        send_lm = bool(self.get_ifmatch_setting("SEND_LAST_MODIFIED"))
        for name, value in last_modified_fields(last_modified, send=send_lm):
            response[name] = value
        return response

    def get_collection_validators(self, queryset: models.QuerySet[Any]) -> tuple[ETag, Any]:
        """A collection tag from one aggregate over the filtered rows (count, sum and max of
        versions, max key, newest Last-Modified) plus the URL and media type, and the newest
        Last-Modified. Any write to, insert into or delete from the filtered rows changes it."""
        version, last_modified = version_fields(queryset.model)
        aggregates: dict[str, Any] = {
            "n": Count("pk"),
            "s": Sum(version),
            "m": Max(version),
            "k": Max("pk"),
        }
        if last_modified is not None:
            aggregates["lm"] = Max(last_modified)
        row = queryset.order_by().aggregate(**aggregates)
        accepted = getattr(self.request, "accepted_media_type", "")
        material = repr(
            (sorted(row.items()), self.request.get_full_path(), accepted, self.get_etag_variant())
        )
        key = str(django_settings.SECRET_KEY).encode()[:64]
        return content_etag(material.encode(), key=key), row.get("lm")

    # -- responses --------------------------------------------------------------------------

    def _validator_headers(self, snapshot: Snapshot) -> dict[str, str]:
        send_lm = bool(self.get_ifmatch_setting("SEND_LAST_MODIFIED"))
        return validator_headers(snapshot, variant=self.get_etag_variant(), last_modified=send_lm)

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
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

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, exceptions.IfMatchAPIException | exceptions.NotModified):
            return exceptions.exception_handler(exc, {})  # type: ignore[no-any-return]
        if isinstance(exc, DatabaseError) and is_transient(exc):
            return write_conflict_response(self.request)
        return super().handle_exception(exc)  # type: ignore[misc, no-any-return]


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
