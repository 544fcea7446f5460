"""Starlette and FastAPI: PATCH with a JSON Merge Patch (RFC 7396) or JSON Patch (RFC 6902) body.

With FastAPI's ``Conditional`` dependency (or Starlette's ``conditional``)::

    @app.patch("/documents/{doc_id}")
    async def patch_document(condition: Annotated[ConditionalRequest, Depends(documents)]):
        return await apply_patch(condition, validate, represent=as_json)

    @app.get("/documents/{doc_id}", dependencies=[Depends(AcceptsPatch())])
    ...

:func:`apply_patch` reads the resource and its version together, applies the patch to that
representation, validates the result and writes it in one compare-and-set conditioned on that
exact version (see ``ifmatch.integrations._patch``). Answers: 415 (with ``Accept-Patch``), 400,
422 and 409 as RFC 5789 §2.2 lists them, after the request's own 412 / 428. Declare no body
parameter on the route: the helper reads the body itself, by its ``Content-Type``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ..core.patching import (
    JSON_PATCH_MEDIA_TYPE,
    MERGE_PATCH_MEDIA_TYPE,
    PATCH_MEDIA_TYPES,
    PatchError,
    require_appliers,
)
from ..stores import CASResult, Expectation, Snapshot
from ._conditional import location, write_conflict_error
from ._patch import Read, Validate, accept_patch_field, patch_error, patch_flow, read_patch
from .starlette import ConditionalRequest

__all__ = ["AcceptsPatch", "apply_patch", "patch_openapi"]

Reader = Callable[[], Awaitable[tuple[Snapshot, Any] | None]]


def _store_reader(
    condition: ConditionalRequest, represent: Callable[[Mapping[str, Any]], Any] | None
) -> Reader:
    store: Any = condition.store
    inner = getattr(store, "store", None)  # a synchronous store run in the thread pool
    get = getattr(store, "get", None) or getattr(inner, "get", None)
    if get is None:
        raise TypeError("apply_patch() needs read=... for a store without get()")
    if represent is None:
        # The stored values hold the key and the version columns: never the representation
        # by default, or a patch could write them.
        raise TypeError("apply_patch() needs represent=... (or read=...)")

    async def read() -> tuple[Snapshot, Any] | None:
        if inspect.iscoroutinefunction(get):
            found = await get(condition.key)
        else:
            found = await run_in_threadpool(get, condition.key)
        return None if found is None else (found[0], represent(found[1]))

    return read


async def apply_patch(
    condition: ConditionalRequest,
    validate: Validate,
    *,
    read: Reader | None = None,
    represent: Callable[[Mapping[str, Any]], Any] | None = None,
    media_types: Sequence[str] = PATCH_MEDIA_TYPES,
    objects_only: bool = True,
    status: int | None = None,
) -> Any:
    """Apply the request's patch document to the resource and write it; return the patched
    representation (the body of the version written: its tag becomes the ``ETag``).

    Args:
        condition: the route's :class:`~ifmatch.integrations.starlette.ConditionalRequest`.
        validate: turns the patched representation into the values to store; raise
            ``ValueError`` (pydantic's ``ValidationError`` is one) or ``PatchError(422, ...)``
            to refuse it with 422. ``lambda doc: Document.model_validate(doc).model_dump()``.
        read: ``async () -> (snapshot, representation)`` read together (``None``: gone);
            default ``store.get(key)`` passed through ``represent``.
        represent: the representation of a stored values dict (``store.get``'s, which holds
            the key and version columns too): required unless ``read`` is given.
        media_types: the patch formats accepted (others: 415 with ``Accept-Patch``).
        objects_only: the resource is a JSON object (a patch leaving anything else: 422).
        status: the status recorded with an ``Idempotency-Key`` (default 200).

    Raises:
        ConditionalHTTPException: the request's waiting answer (412, 428, 400), 415 / 400 /
            422 / 409 for the patch, 412 when the resource changed from the version
            ``If-Match`` named, 409 when an unconditional patch kept losing to other writers.
    """
    condition.expect(None)  # the preconditions' answer comes before the body is looked at
    request = condition.request
    path = request.url.path
    reader = read if read is not None else _store_reader(condition, represent)
    try:
        body = await request.body()
        patch = read_patch(request.headers.get("content-type"), body, media_types)
        flow = patch_flow(condition, patch, validate, objects_only=objects_only)
        step = next(flow)
        while True:
            if isinstance(step, Read):
                step = flow.send(await reader())
            else:
                step = flow.send(await _write(condition, step.expect, step.values, status))
    except StopIteration as stop:
        patched = stop.value
    except PatchError as error:
        answer = patch_error(error, condition.options, path, media_types)
        raise condition.failure(answer) from None
    if patched.exhausted:
        raise condition.failure(write_conflict_error(request.headers, condition.options, path))
    condition._apply(patched.result, patched.expect, None)
    return patched.representation


async def _write(
    condition: ConditionalRequest,
    expect: Expectation,
    values: Mapping[str, Any],
    status: int | None,
) -> CASResult:
    path = condition.request.url.path
    completion = condition.completion(status, deleting=False, location=location(path))
    store: Any = condition.store
    try:
        if completion is None:
            result: CASResult = await store.compare_and_set(condition.key, expect, values)
            return result
        result = await store.compare_and_set(condition.key, expect, values, completion=completion)
    except Exception as error:
        raise condition._unavailable(error) from error
    return await condition._keyed(result)


class AcceptsPatch:
    """A FastAPI dependency sending ``Accept-Patch`` (RFC 5789 §3.1) on the route's response:
    ``dependencies=[Depends(AcceptsPatch())]`` on its ``GET`` and ``OPTIONS`` routes. For a
    Starlette endpoint, call :meth:`apply` on the response it builds."""

    def __init__(self, media_types: Sequence[str] = PATCH_MEDIA_TYPES) -> None:
        require_appliers(media_types)  # jsonpatch missing: fail at start-up, not per request
        self.field = accept_patch_field(media_types)

    async def __call__(self, response: Response) -> None:
        self.apply(response)

    def apply(self, response: Response) -> Response:
        """Add the ``Accept-Patch`` field to ``response``; return it."""
        response.headers[self.field[0]] = self.field[1]
        return response


_OPERATION = {
    "type": "object",
    "required": ["op", "path"],
    "properties": {
        "op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
        "path": {"type": "string", "description": "a JSON Pointer (RFC 6901)"},
        "from": {"type": "string"},
        "value": {},
    },
}
_SCHEMAS: dict[str, dict[str, Any]] = {
    MERGE_PATCH_MEDIA_TYPE: {
        "type": "object",
        "description": "RFC 7396: members to set; null removes a member",
    },
    JSON_PATCH_MEDIA_TYPE: {
        "type": "array",
        "items": _OPERATION,
        "description": "RFC 6902: operations applied in order, all or none",
    },
}
_PATCH_RESPONSES = {
    "400": "Malformed patch document (`code: malformed-patch`).",
    "409": "The patch cannot apply to the current state: a failed `test`, a missing path.",
    "415": "Not a patch format this resource accepts; see `Accept-Patch`.",
    "422": "The patch cannot apply to any state: its result is not a valid document.",
}


def patch_openapi(media_types: Sequence[str] = PATCH_MEDIA_TYPES) -> dict[str, Any]:
    """``openapi_extra`` for a FastAPI PATCH route using :func:`apply_patch`: the request body
    in each patch format, and the 400 / 409 / 415 / 422 answers.

    ``@app.patch("/documents/{doc_id}", openapi_extra=patch_openapi())``
    """
    problem = {"application/problem+json": {"schema": {"type": "object"}}}
    return {
        "requestBody": {
            "required": True,
            "content": {media_type: {"schema": _SCHEMAS[media_type]} for media_type in media_types},
        },
        "responses": {
            status: {"description": text, "content": problem}
            for status, text in _PATCH_RESPONSES.items()
        },
    }
