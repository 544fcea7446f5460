"""Flask: PATCH with a JSON Merge Patch (RFC 7396) or JSON Patch (RFC 6902) body.

Inside a view protected by ``IfMatch.protect``::

    @app.route("/documents/<doc_id>", methods=["GET", "PATCH"])
    @accepts_patch()                      # Accept-Patch on GET, HEAD and OPTIONS
    @ifmatch.protect()
    def document(doc_id):
        if request.method == "PATCH":
            return jsonify(apply_patch(check_document, represent=as_json))
        ...

:func:`apply_patch` reads the resource and its version together, applies the patch to that
representation, validates the result and writes it in one compare-and-set conditioned on that
exact version (see ``ifmatch.integrations._patch``). Answers: 415 (with ``Accept-Patch``), 400,
422 and 409 as RFC 5789 §2.2 lists them, after the request's own 412 / 428.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from flask import current_app, request

from ..core.patching import PATCH_MEDIA_TYPES, PatchError, require_appliers
from ..stores import CASResult, Snapshot
from ._conditional import location, write_conflict_error
from ._patch import Read, Validate, accept_patch_field, patch_error, patch_flow, read_patch
from .flask import ConditionalRequest, current_condition

__all__ = ["accepts_patch", "apply_patch"]

F = TypeVar("F", bound=Callable[..., Any])


def _store_reader(
    condition: ConditionalRequest, represent: Callable[[Mapping[str, Any]], Any] | None
) -> Callable[[], tuple[Snapshot, Any] | None]:
    get = getattr(condition.store, "get", None)
    if get is None:
        raise TypeError("apply_patch() needs read=... for a store without get()")
    if represent is None:
        # The stored values hold the key and the version columns: never the representation
        # by default, or a patch could write them.
        raise TypeError("apply_patch() needs represent=... (or read=...)")

    def read() -> tuple[Snapshot, Any] | None:
        found = get(condition.key)
        return None if found is None else (found[0], represent(found[1]))

    return read


def apply_patch(
    validate: Validate,
    *,
    read: Callable[[], tuple[Snapshot, Any] | None] | None = None,
    represent: Callable[[Mapping[str, Any]], Any] | None = None,
    media_types: Sequence[str] = PATCH_MEDIA_TYPES,
    objects_only: bool = True,
    status: int | None = None,
) -> Any:
    """Apply the request's patch document to the resource and write it; return the patched
    representation (the body of the version written: its tag is the response's ``ETag``).

    Args:
        validate: turns the patched representation into the values to store; raise
            ``ValueError`` (or ``PatchError(422, ...)``) to refuse it with 422.
        read: returns ``(snapshot, representation)`` read together (``None``: gone); default
            ``store.get(key)`` passed through ``represent``.
        represent: the representation of a stored values dict (``store.get``'s, which holds
            the key and version columns too): required unless ``read`` is given.
        media_types: the patch formats accepted (others: 415 with ``Accept-Patch``).
        objects_only: the resource is a JSON object (a patch leaving anything else: 422).
        status: the status recorded with an ``Idempotency-Key`` (default 200).

    Raises:
        ConditionalError: the request's waiting answer (412, 428, 400), 415 / 400 / 422 / 409
            for the patch, 412 when the resource changed from the version ``If-Match`` named,
            409 when an unconditional patch kept losing to other writers.
    """
    condition = current_condition()
    condition.expect(None)  # the preconditions' answer comes before the body is looked at
    reader = read if read is not None else _store_reader(condition, represent)
    try:
        patch = read_patch(request.content_type, request.get_data(cache=True), media_types)
        flow = patch_flow(condition, patch, validate, objects_only=objects_only)
        step = next(flow)
        while True:
            if isinstance(step, Read):
                step = flow.send(reader())
            else:
                step = flow.send(_write(condition, step.expect, step.values, status))
    except StopIteration as stop:
        patched = stop.value
    except PatchError as error:
        answer = patch_error(error, condition.options, request.path, media_types)
        raise condition.failure(answer) from None
    if patched.exhausted:
        conflict = write_conflict_error(request.headers, condition.options, request.path)
        raise condition.failure(conflict)
    condition.settle(patched.result, patched.expect, None, request.path)
    return patched.representation


def _write(
    condition: ConditionalRequest, expect: Any, values: Mapping[str, Any], status: int | None
) -> CASResult:
    completion = condition.completion(status, deleting=False, location=location(request.path))
    if completion is None:
        return condition.store.compare_and_set(condition.key, expect, values)
    result = condition.store.compare_and_set(  # type: ignore[call-arg]
        condition.key, expect, values, completion=completion
    )
    return condition._keyed(result)


def accepts_patch(media_types: Sequence[str] = PATCH_MEDIA_TYPES) -> Callable[[F], F]:
    """Decorate a view (above ``protect``) to send ``Accept-Patch`` (RFC 5789 §3.1) on its
    ``GET``, ``HEAD`` and ``OPTIONS`` responses; it answers ``OPTIONS`` itself (``Allow``
    and ``Accept-Patch``), without loading the resource.

    Raises:
        ifmatch._extras.MissingExtra: JSON Patch is accepted but ``jsonpatch`` is missing.
    """
    require_appliers(media_types)
    field = accept_patch_field(media_types)

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def accepting(*args: Any, **kwargs: Any) -> Any:
            if request.method == "OPTIONS":
                response = current_app.make_default_options_response()
            elif request.method in {"GET", "HEAD"}:
                response = current_app.make_response(view(*args, **kwargs))
            else:
                return view(*args, **kwargs)
            response.headers[field[0]] = field[1]
            return response

        accepting.required_methods = {"OPTIONS"}  # type: ignore[attr-defined]
        accepting.provide_automatic_options = False  # type: ignore[attr-defined]
        return accepting  # type: ignore[return-value]

    return decorator
