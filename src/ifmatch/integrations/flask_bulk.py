"""Flask: bulk conditional writes on a collection URL (see ``docs/bulk.md``).

Quick start::

    from ifmatch.integrations.flask_bulk import BulkUpdate, bulk_view

    bulk = BulkUpdate(store, fields={"text"})
    app.add_url_rule(
        "/documents:batchUpdate", "documents_batch", bulk_view(bulk), methods=["POST"]
    )

The batch URL is the collection's with ``:batchUpdate`` appended (any URL works). The
precondition rules come from the ``IFMATCH_*`` config, as for ``@ifmatch.protect()`` views: each
item is a partial update, so ``IFMATCH_REQUIRE_PRECONDITION`` naming ``PATCH`` makes every item
need ``ifMatch`` or ``version``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request

from ._bulk import BulkAnswer, BulkUpdate, ItemInvalid, bulk_flow, run_sync, unavailable
from .flask import CONFIG_DEFAULTS, build_options

__all__ = ["BulkUpdate", "ItemInvalid", "bulk_response", "bulk_view"]


def bulk_response(endpoint: BulkUpdate, *, variant: str | None = None) -> Response:
    """Answer the current request as a batch of conditional writes.

    Call it from a view of your own (after its access checks) when the route needs more than
    :func:`bulk_view` gives.

    Args:
        endpoint: the store, the writable fields or ``prepare`` hook, and the limits.
        variant: the representation variant in the entity-tags (see ``version_etag``).

    Returns:
        200 with one result per item; 400, 403, 409, 412 or 428 for an atomic batch that
        applied nothing; 400 or 415 for a body that is not a batch.
    """
    config = {**CONFIG_DEFAULTS, **current_app.config}
    options = build_options(
        config, require=None, variant=variant, create=False, answer_before_view=False
    )
    flow = bulk_flow(
        request.headers, request.content_type, request.get_data(cache=False), endpoint, options
    )
    try:
        answer = run_sync(flow, endpoint.store)
    except Exception as error:  # a store that cannot be reached: 503, never 500
        answer = unavailable(error, options)
    return _response(answer)


def bulk_view(endpoint: BulkUpdate, *, variant: str | None = None) -> Callable[..., Response]:
    """A view function answering the batch ``POST`` with :func:`bulk_response`.

    Args:
        endpoint: the store, the writable fields or ``prepare`` hook, and the limits.
        variant: the representation variant in the entity-tags.
    """

    def view(**kwargs: Any) -> Response:
        return bulk_response(endpoint, variant=variant)

    return view


def _response(answer: BulkAnswer) -> Response:
    response = Response(answer.body, status=answer.status)
    for name, value in answer.headers:
        response.headers[name] = value
    return response
