"""Django REST framework: bulk conditional writes on a collection URL (see ``docs/bulk.md``).

Quick start::

    from ifmatch.integrations.drf.bulk import BulkUpdateMixin

    class DocumentViewSet(BulkUpdateMixin, ConditionalModelViewSet):
        queryset = Document.objects.all()
        serializer_class = DocumentSerializer

    batch = DocumentViewSet.as_view({"post": "bulk_update"})
    urlpatterns = [path("documents:batchUpdate/", batch), ...]

Each item's ``data`` is validated by the view's serializer (``partial=True``) and written
through :class:`~ifmatch.stores.django.DjangoStore` in one guarded ``UPDATE`` per item; items
outside ``get_queryset()`` answer 404, as the detail route would. The precondition rules are
the ``IFMATCH`` settings' (a view's ``ifmatch_*`` attributes when it is also conditional).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.http.request import RawPostDataException
from rest_framework.generics import GenericAPIView

from ...core.bulk import DEFAULT_MAX_ITEMS
from ...core.policy import Policy
from ...stores.django import DjangoStore, version_fields
from .._bulk import BulkAnswer, BulkUpdate, ItemInvalid, bulk_flow, run_sync, unavailable
from .._conditional import Options
from .settings import ifmatch_settings

__all__ = ["BulkUpdateAPIView", "BulkUpdateMixin", "ItemInvalid"]


class BulkUpdateMixin:
    """Adds ``bulk_update``: a ``POST`` to the collection's batch URL applying a batch of
    conditional writes. Route it yourself (``as_view({"post": "bulk_update"})``) or use
    :class:`BulkUpdateAPIView`.

    Attributes:
        bulk_max_items: most items in one batch (else 400).
        bulk_default_atomic: ``atomic`` when a batch does not say.
        bulk_allow_non_atomic: whether clients may ask for per-item results.
    """

    bulk_max_items: int = DEFAULT_MAX_ITEMS
    bulk_default_atomic: bool = True
    bulk_allow_non_atomic: bool = True

    def bulk_update(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        """Answer the request as a batch (see ``ifmatch.core.bulk`` for the statuses)."""
        endpoint = self.get_bulk_endpoint()
        options = self.get_bulk_options()
        flow = bulk_flow(
            request.headers, request.content_type, _raw_body(request), endpoint, options
        )
        try:
            answer = run_sync(flow, endpoint.store)
        except Exception as error:  # a store that cannot be reached: 503, never 500
            answer = unavailable(error, options)
        return _response(answer)

    def get_bulk_store(self) -> DjangoStore:
        """The store the batch writes through: the queryset's model."""
        return DjangoStore(self.get_queryset().model)  # type: ignore[attr-defined]

    def get_bulk_endpoint(self) -> BulkUpdate:
        """The endpoint's settings: this view's hooks and ``bulk_*`` attributes."""
        return BulkUpdate(
            self.get_bulk_store(),
            prepare=self.bulk_prepare,
            key=self.bulk_key,
            authorize=self.bulk_authorize,
            max_items=self.bulk_max_items,
            default_atomic=self.bulk_default_atomic,
            allow_non_atomic=self.bulk_allow_non_atomic,
            denied_status=404,
        )

    def get_bulk_options(self) -> Options:
        """The policy and error format, from the view (if conditional) or ``IFMATCH``."""
        policy_of = getattr(self, "get_ifmatch_policy", None)
        policy: Policy = ifmatch_settings.policy() if policy_of is None else policy_of()
        setting = getattr(self, "get_ifmatch_setting", None)

        def read(name: str) -> Any:
            return getattr(ifmatch_settings, name) if setting is None else setting(name)

        return Options(
            policy=policy,
            error_format=read("ERROR_FORMAT"),
            type_base=read("PROBLEM_TYPE_BASE"),
        )

    def bulk_key(self, id: str | int) -> Hashable:
        """An item's ``id`` as the model's primary key (a ``ValueError`` makes it 404)."""
        field = self.get_queryset().model._meta.pk  # type: ignore[attr-defined]
        try:
            key: Hashable = field.to_python(id)
        except ValidationError as error:
            raise ValueError(str(error)) from error
        return key

    def bulk_authorize(self, key: Hashable) -> bool:
        """Whether the caller may write ``key``: by default, whether ``get_queryset()`` (scoped
        to the caller, as for the detail route) holds it. Refused items answer 404."""
        return bool(self.get_queryset().filter(pk=key).exists())  # type: ignore[attr-defined]

    def bulk_prepare(self, key: Hashable, data: Mapping[str, Any]) -> Mapping[str, Any]:
        """The values to store for one item: ``data`` validated by the view's serializer
        (``partial=True``); the first error becomes the item's 400, naming the field. A member
        that is not a writable field of the serializer is a 400 too (DRF would drop it)."""
        serializer = self.get_serializer(data=dict(data), partial=True)  # type: ignore[attr-defined]
        writable = {name for name, field in serializer.fields.items() if not field.read_only}
        unknown = sorted(str(name) for name in data if name not in writable)
        if unknown:
            # DRF drops unknown and read-only members silently; in a batch that would apply a
            # write the client did not mean, so the item is refused instead.
            shown = ", ".join(sorted(writable))
            raise ItemInvalid(
                f"{unknown[0]!r} cannot be written here (writable: {shown}).", unknown[0]
            )
        if not serializer.is_valid():
            field, messages = next(iter(serializer.errors.items()))
            detail = " ".join(str(message) for message in _flatten(messages))
            member = None if field == "non_field_errors" else str(field)
            raise ItemInvalid(detail or "Invalid data.", member)
        values = dict(serializer.validated_data)
        model = self.get_queryset().model  # type: ignore[attr-defined]
        for name in version_fields(model):
            if name is not None and name in values:
                raise ItemInvalid(f"{name!r} is kept by the server.", name)
        return values


def _flatten(messages: Any) -> list[Any]:
    if isinstance(messages, list | tuple):
        return [leaf for message in messages for leaf in _flatten(message)]
    if isinstance(messages, dict):
        return [leaf for message in messages.values() for leaf in _flatten(message)]
    return [messages]


def _raw_body(request: Any) -> bytes:
    try:
        body: bytes = request.body
    except RawPostDataException:  # something read the stream already: use what it parsed
        return json.dumps(request.data).encode()
    return body


def _response(answer: BulkAnswer) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status)
    for name, value in answer.headers:
        response[name] = value
    return response


class BulkUpdateAPIView(BulkUpdateMixin, GenericAPIView):  # type: ignore[type-arg]
    """A view whose ``POST`` is :meth:`BulkUpdateMixin.bulk_update` (set ``queryset`` and
    ``serializer_class``)."""

    def post(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.bulk_update(request, *args, **kwargs)
