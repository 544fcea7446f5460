"""Django REST framework: PATCH with a JSON Merge Patch (RFC 7396) or JSON Patch (RFC 6902) body.

Put :class:`PatchMixin` before ``ConditionalMixin`` (or a ``Conditional*`` view)::

    class DocumentViewSet(PatchMixin, ConditionalModelViewSet):
        queryset = Document.objects.all()
        serializer_class = DocumentSerializer

A ``PATCH`` is then parsed by :class:`MergePatchParser` / :class:`JSONPatchParser` (others:
415 with ``Accept-Patch``; a malformed document: 400), applied to the serializer's
representation of the row ``get_object`` loaded, validated by the serializer as a whole
document (refused: 422 with the serializer's errors), and saved through the guarded write
conditioned on exactly the version that row was at. ``GET``, ``HEAD`` and ``OPTIONS`` answers
carry ``Accept-Patch``. A PATCH with no precondition (where the view lets one through) is
applied to the version read and re-applied if another writer won, never written over it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.http import HttpResponse, HttpResponseBase
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response

from ...core.etag import ETag
from ...core.patching import (
    JSON_PATCH_MEDIA_TYPE,
    MERGE_PATCH_MEDIA_TYPE,
    Patch,
    PatchError,
    accept_patch,
    parse_patch,
    patch_problem,
    require_appliers,
)
from ...stores.base import Expectation
from ...stores.django import expect_on, pending_expectation
from .._fields import write_conflict_problem
from .._patch import ATTEMPTS, exactly, retries
from ..django import has_precondition
from . import exceptions

__all__ = ["JSONPatchParser", "MergePatchParser", "PatchMixin", "PatchProblem"]


class PatchProblem(exceptions.IfMatchAPIException):
    """415, 400, 422 or 409 about a patch document; its answer carries ``Accept-Patch``."""

    def __init__(
        self, problem: dict[str, Any], media_types: Sequence[str], etag: ETag | None = None
    ) -> None:
        super().__init__(problem, etag)
        self.accept_patch = accept_patch(media_types)

    @property
    def headers(self) -> dict[str, str]:
        return {**super().headers, "Accept-Patch": self.accept_patch}

    def response(self, error_format: str | None = None) -> HttpResponse:
        answer = super().response(error_format)
        answer["Accept-Patch"] = self.accept_patch
        return answer


def _problem(error: PatchError, request: Any, media_types: Sequence[str]) -> PatchProblem:
    from .settings import ifmatch_settings

    path = getattr(request, "path", None)
    body = patch_problem(
        error,
        instance=path,
        type_base=ifmatch_settings.PROBLEM_TYPE_BASE,
        accepted=media_types,
    )
    return PatchProblem(body, media_types)


class _PatchParser(BaseParser):
    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:  # a Patch: DRF's request.data is whatever the parser returns
        context = parser_context or {}
        view = context.get("view")
        types = getattr(view, "patch_media_types", None) or (self.media_type,)
        try:
            return parse_patch(self.media_type, stream.read() if stream else b"", accepted=types)
        except PatchError as error:
            raise _problem(error, context.get("request"), types) from None


class MergePatchParser(_PatchParser):
    """Parses ``application/merge-patch+json`` into a :class:`~ifmatch.core.patching.Patch`;
    a body that is not JSON is a 400 problem."""

    media_type = MERGE_PATCH_MEDIA_TYPE


class JSONPatchParser(_PatchParser):
    """Parses ``application/json-patch+json`` into a :class:`~ifmatch.core.patching.Patch`;
    a body that is not a list of RFC 6902 operations is a 400 problem naming the one wrong."""

    media_type = JSON_PATCH_MEDIA_TYPE


class PatchMixin:
    """PATCH with patch documents for a ``ConditionalMixin`` view (see the module docstring).

    Attributes:
        patch_parser_classes: the parsers of a ``PATCH`` request; add DRF's ``JSONParser`` to
            keep DRF's own partial update for ``application/json`` beside them.
        patch_objects_only: the representation is a JSON object: a patch leaving anything
            else is a 422.
    """

    patch_parser_classes: Sequence[type[BaseParser]] = (MergePatchParser, JSONPatchParser)
    patch_objects_only = True

    request: Request

    @classmethod
    def as_view(cls, *args: Any, **initkwargs: Any) -> Any:
        # jsonpatch missing while JSON Patch is accepted: fail at start-up, not per request.
        require_appliers([parser.media_type or "" for parser in cls.patch_parser_classes])
        parent: Any = super()
        return parent.as_view(*args, **initkwargs)

    @property
    def patch_media_types(self) -> list[str]:
        """The media types a ``PATCH`` is accepted in (the ``Accept-Patch`` value)."""
        return [parser.media_type for parser in self.patch_parser_classes if parser.media_type]

    def get_parsers(self) -> list[BaseParser]:
        # DRF asks while it builds its Request; Django's request is self.request by then.
        method = getattr(getattr(self, "request", None), "method", None)
        if (method or "").upper() == "PATCH":
            return [parser() for parser in self.patch_parser_classes]
        parent: Any = super()
        return parent.get_parsers()  # type: ignore[no-any-return]

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        view: Any = self
        parent: Any = super()
        for _ in range(ATTEMPTS):
            instance = view.get_object()
            refusal = getattr(self, "_ifmatch_refusal", None)
            if refusal is not None:
                refusal.refuse()  # the preconditions' answer comes before the body's
            patch = self._patch_document(request)
            if not isinstance(patch, Patch):
                return parent.partial_update(request, *args, **kwargs)  # type: ignore[no-any-return]
            expect = pending_expectation(instance)
            again = isinstance(expect, Expectation) and retries(expect)
            if isinstance(expect, Expectation):
                # The write expects exactly the version the patch is applied to.
                expect_on(instance, exactly(expect, view.get_snapshot(instance)))
            serializer = self._patched_serializer(instance, patch)
            try:
                view.perform_update(serializer)
            except exceptions.PreconditionFailed:
                if not again:
                    raise
                continue  # another writer won: apply the patch to the newer version
            return Response(serializer.data)
        preconditioned = has_precondition(request)
        from .settings import ifmatch_settings

        body = write_conflict_problem(
            preconditioned=preconditioned,
            instance=request.path,
            type_base=ifmatch_settings.PROBLEM_TYPE_BASE,
        )
        raise exceptions.IfMatchAPIException(body)

    def _patch_document(self, request: Request) -> Any:
        try:
            return request.data
        except UnsupportedMediaType:
            types = self.patch_media_types
            try:
                parse_patch(request.content_type, b"", accepted=types)
            except PatchError as error:  # the 415, worded as for every integration
                raise _problem(error, request, types) from None
            raise

    def _patched_serializer(self, instance: Any, patch: Patch) -> Any:
        view: Any = self
        representation = view.get_serializer(instance).data
        try:
            patched = patch.apply(representation, objects_only=self.patch_objects_only)
        except PatchError as error:
            raise _problem(error, self.request, self.patch_media_types) from None
        serializer = view.get_serializer(instance, data=patched)
        if not serializer.is_valid():
            invalid = PatchError(422, "the patched resource is not valid", errors=serializer.errors)
            raise _problem(invalid, self.request, self.patch_media_types)
        return serializer

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        parent: Any = super()
        response = parent.finalize_response(request, response, *args, **kwargs)
        if (request.method or "").upper() in {"GET", "HEAD", "OPTIONS"}:
            response["Accept-Patch"] = accept_patch(self.patch_media_types)
        return response
