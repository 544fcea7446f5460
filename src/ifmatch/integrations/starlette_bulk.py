"""Starlette and FastAPI: bulk conditional writes on a collection URL (see ``docs/bulk.md``).

Quick start (FastAPI; a Starlette ``Route`` takes :func:`bulk_endpoint` the same way)::

    from ifmatch.integrations.starlette_bulk import BulkUpdate, bulk_response

    bulk = BulkUpdate(store, fields={"text"})

    @app.post("/documents:batchUpdate")
    async def update_documents(request: Request) -> Response:
        return await bulk_response(request, bulk)

The store may be async (``AsyncSQLAlchemyStore``, ``AsyncRedisStore``) or sync, which then runs
in the thread pool; ``prepare`` and ``authorize`` hooks may be coroutine functions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..core import DEFAULT_POLICY, PROBLEM_MEDIA_TYPE, Policy
from ..core.bulk import BULK_MEDIA_TYPE, batch_schema, results_schema
from ._bulk import BulkAnswer, BulkUpdate, ItemInvalid, bulk_flow, run_async, unavailable
from ._conditional import ErrorFormat
from .starlette import make_options

__all__ = ["BulkUpdate", "ItemInvalid", "bulk_endpoint", "bulk_openapi", "bulk_response"]


async def bulk_response(
    request: Request,
    endpoint: BulkUpdate,
    *,
    policy: Policy = DEFAULT_POLICY,
    error_format: ErrorFormat = "problem",
    type_base: str | None = None,
    variant: str | None = None,
) -> Response:
    """Answer ``request`` as a batch of conditional writes.

    Args:
        request: the batch ``POST``.
        endpoint: the store, the writable fields or ``prepare`` hook, and the limits.
        policy: what each item must carry (each item is a partial update: ``PATCH`` in
            ``require_precondition`` makes ``ifMatch`` or ``version`` required, else 428 for
            the item), weak echoes, limits.
        error_format: ``"problem"`` or ``"jsonapi"`` for the error answers.
        type_base: a URI prefix for problem ``type`` members.
        variant: the representation variant in the entity-tags.

    Returns:
        200 with one result per item; 400, 403, 409, 412 or 428 for an atomic batch that
        applied nothing; 400 or 415 for a body that is not a batch.
    """
    options = make_options(
        policy=policy, error_format=error_format, type_base=type_base, variant=variant
    )
    body = await request.body()
    flow = bulk_flow(request.headers, request.headers.get("content-type"), body, endpoint, options)
    try:
        answer = await run_async(flow, endpoint.store, _offload)
    except Exception as error:  # a store that cannot be reached: 503, never 500
        answer = unavailable(error, options)
    return _response(answer)


def bulk_endpoint(endpoint: BulkUpdate, **options: Any) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint answering with :func:`bulk_response` (``options`` are its keyword
    arguments): ``Route("/documents:batchUpdate", bulk_endpoint(bulk), methods=["POST"])``."""

    async def answer(request: Request) -> Response:
        return await bulk_response(request, endpoint, **options)

    return answer


def bulk_openapi(endpoint: BulkUpdate) -> dict[str, Any]:
    """The request body and answers of a batch route, for FastAPI's ``openapi_extra``::

        @app.post("/documents:batchUpdate", openapi_extra=bulk_openapi(batch))

    The endpoint reads the raw request, so FastAPI cannot see its body on its own.
    """
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"type": "object"}}}
    answers = {
        "400": "Not a batch, or (atomic) an item is malformed: nothing applied.",
        "403": "Atomic: an item may not be changed; nothing applied.",
        "409": "Atomic: an item's version is stale, or it does not exist; nothing applied.",
        "412": "Atomic: an item's ifMatch is false; nothing applied.",
        "415": "Not application/json.",
        "428": "Atomic: an item carries no precondition; nothing applied.",
        "503": "The store could not be reached: the batch may or may not have applied.",
    }
    return {
        "requestBody": {
            "required": True,
            "content": {BULK_MEDIA_TYPE: {"schema": batch_schema(endpoint.max_items)}},
        },
        "responses": {
            "200": {
                "description": "Processed: each item's own status in 'items'.",
                "content": {BULK_MEDIA_TYPE: {"schema": results_schema()}},
            },
            **{
                status: {"description": text, "content": problem}
                for status, text in answers.items()
            },
        },
    }


async def _offload(call: Callable[[], Any]) -> Any:
    return await run_in_threadpool(call)


def _response(answer: BulkAnswer) -> Response:
    headers = dict(answer.headers)
    media_type = headers.pop("Content-Type", None)
    return Response(answer.body, status_code=answer.status, headers=headers, media_type=media_type)
