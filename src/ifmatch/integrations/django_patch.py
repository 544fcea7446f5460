"""Plain Django: PATCH with a JSON Merge Patch (RFC 7396) or JSON Patch (RFC 6902) body.

Below ``ifmatch.integrations.django.conditional``::

    def update(obj, document):                  # the patched document -> the model's fields
        if set(document) != {"title", "text"}:
            raise ValueError("a document has a title and a text")    # 422
        obj.title, obj.text = document["title"], document["text"]

    @conditional(Document)
    @patchable(represent=lambda obj: {"title": obj.title, "text": obj.text}, update=update)
    def document(request, pk, obj):
        ...                                     # GET, PUT as before; PATCH never gets here

``patchable`` answers a ``PATCH`` itself: the request's own 412 / 428 first, then the body (415
with ``Accept-Patch``, 400), then the patch applied to ``represent(obj)`` (409, 422), then
``obj.save()``, the guarded write, expecting exactly the version ``obj`` was loaded at. It
answers with ``represent(obj)`` of the version written. ``GET``, ``HEAD`` and ``OPTIONS``
answers get ``Accept-Patch``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import Any

from django.db import router, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from ..core.patching import (
    PATCH_MEDIA_TYPES,
    Patch,
    PatchError,
    accept_patch,
    patch_problem,
    require_appliers,
)
from ..stores.base import Expectation
from ..stores.django import Refusal, WriteLost, expect_on, pending_expectation, snapshot_of
from ._patch import ATTEMPTS, exactly, read_patch, retries, validated
from .django import problem_response, write_conflict_response
from .drf.settings import ifmatch_settings

__all__ = ["patchable"]

View = Callable[..., HttpResponseBase]


def _patch_response(
    error: PatchError, request: HttpRequest, media_types: Sequence[str]
) -> HttpResponse:
    body = patch_problem(
        error,
        instance=request.path,
        type_base=ifmatch_settings.PROBLEM_TYPE_BASE,
        accepted=media_types,
    )
    response = problem_response(body)
    response["Accept-Patch"] = accept_patch(media_types)
    return response


def _updated(update: Callable[[Any, Any], None], obj: Any, document: Any) -> dict[str, Any]:
    update(obj, document)
    return {}


def _savepoint(obj: Any) -> contextlib.AbstractContextManager[Any]:
    """A savepoint around one guarded save inside a transaction (``ATOMIC_REQUESTS``, atomic
    writes, an earlier statement of the view): a lost write then leaves the transaction usable
    for the next attempt. In autocommit the save is one statement and needs none."""
    using = router.db_for_write(type(obj), instance=obj)
    if transaction.get_connection(using).in_atomic_block:
        return transaction.atomic(using=using)
    return contextlib.nullcontext()


def patchable(
    *,
    represent: Callable[[Any], Any],
    update: Callable[[Any, Any], None],
    media_types: Sequence[str] = PATCH_MEDIA_TYPES,
    objects_only: bool = True,
    instance_kwarg: str = "obj",
) -> Callable[[View], View]:
    """Decorate a view under ``conditional(...)`` to answer ``PATCH`` with patch documents.

    Args:
        represent: the JSON representation of the instance (what ``GET`` shows).
        update: sets the instance's fields from a patched representation; raise
            ``ValueError`` (or ``PatchError(422, ...)``) to refuse it with 422.
        media_types: the patch formats accepted (others: 415 with ``Accept-Patch``).
        objects_only: the representation is a JSON object (a patch leaving anything else: 422).
        instance_kwarg: the keyword argument ``conditional`` passes the instance as.
    """
    require_appliers(media_types)
    field = accept_patch(media_types)

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            method = (request.method or "GET").upper()
            if method != "PATCH":
                response = view(request, *args, **kwargs)
                if method in {"GET", "HEAD", "OPTIONS"}:
                    response["Accept-Patch"] = field
                return response
            obj = kwargs[instance_kwarg]
            waiting = pending_expectation(obj)
            if isinstance(waiting, Refusal):
                waiting.refuse()  # the preconditions' answer comes before the body's
            try:
                patch = read_patch(request.content_type, request.body, media_types)
                return _patch(request, obj, patch, waiting)
            except PatchError as error:
                return _patch_response(error, request, media_types)

        def _patch(
            request: HttpRequest, obj: Any, patch: Patch, expect: Expectation | None
        ) -> HttpResponseBase:
            again = expect is not None and retries(expect)
            for _ in range(ATTEMPTS if again else 1):
                patched = patch.apply(represent(obj), objects_only=objects_only)
                validated(functools.partial(_updated, update, obj), patched)
                if expect is not None:
                    expect_on(obj, exactly(expect, snapshot_of(obj)))
                try:
                    with _savepoint(obj):
                        obj.save()
                except WriteLost:
                    if not again:
                        raise
                    try:
                        obj.refresh_from_db()  # another writer won: patch the newer version
                    except type(obj).DoesNotExist:
                        raise Http404("No such resource.") from None
                    continue
                return JsonResponse(represent(obj), safe=False)
            return write_conflict_response(request)

        return wrapped

    return decorator
