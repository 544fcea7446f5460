"""PATCH with a patch document, in plain values: the steps the Flask, Starlette and FastAPI
helpers share (``ifmatch.integrations.flask_patch``, ``ifmatch.integrations.starlette_patch``).

The flow is a generator, as httpx's auth flow is: it yields :class:`Read` (send back
``(snapshot, representation)`` or ``None``) and :class:`Write` (send back the store's
``CASResult``), and returns the :class:`Patched` outcome. The sync and async drivers only do the
I/O, so the rules live here once:

- The write is conditioned on **exactly the version the patch was applied to**. With
  ``If-Match: "v3"`` that is version 3: a representation read at any other version is refused
  412 before the patch is applied, and the compare-and-set expects ``{3}``.
- Without a precondition (where the policy lets one through), or with ``If-Match: *``, the
  patch is applied to the version read and written only if that version is still current; if
  another writer won in between, the current version is read and the patch applied again (up
  to ``attempts`` times, then 409). The client asked for the change against whatever is
  current, so this loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..core.patching import (
    PATCH_MEDIA_TYPES,
    Patch,
    PatchError,
    accept_patch,
    parse_patch,
    patch_problem,
)
from ..stores import CASResult, Expectation, Outcome, Snapshot
from ._conditional import ConditionalState, HTTPError, Options

__all__ = [
    "ATTEMPTS",
    "Patched",
    "Read",
    "Validate",
    "Write",
    "accept_patch_field",
    "exactly",
    "patch_error",
    "patch_flow",
    "read_patch",
    "retries",
    "validated",
]

#: How many times an unconditional PATCH is re-applied to a newer version before a 409.
ATTEMPTS = 5

#: ``validate(representation) -> values to store``: raise :class:`PatchError` (422) or
#: ``ValueError`` (422, its message as the detail) to refuse a patched representation.
Validate = Callable[[Any], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Read:
    """Read the resource: send back ``(snapshot, representation)``, read together, or ``None``."""


@dataclass(frozen=True, slots=True)
class Write:
    """Compare-and-set ``values`` under ``expect``: send back the store's ``CASResult``."""

    expect: Expectation
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Patched:
    """How the flow ended.

    Attributes:
        result: the last compare-and-set's result (or the state that refused one: ``LOST``
            with the current snapshot, ``NOT_FOUND``).
        expect: what that write expected (hand both to ``ConditionalState.settle``).
        representation: the patched representation (``None`` unless the write won).
        exhausted: an unconditional patch lost to other writers every time.
    """

    result: CASResult
    expect: Expectation
    representation: Any = None
    exhausted: bool = False


def accept_patch_field(media_types: Sequence[str] = PATCH_MEDIA_TYPES) -> tuple[str, str]:
    """The ``Accept-Patch`` header line (RFC 5789 §3.1)."""
    return ("Accept-Patch", accept_patch(media_types))


def patch_error(
    error: PatchError,
    options: Options,
    instance: str | None,
    media_types: Sequence[str] = PATCH_MEDIA_TYPES,
) -> HTTPError:
    """A :class:`PatchError` as an answer in the resource's error format; ``Accept-Patch``
    on every one (RFC 5789 §2.2 asks for it on the 415)."""
    body = patch_problem(
        error, instance=instance, type_base=options.type_base, accepted=media_types
    )
    return HTTPError.from_problem(body, options).with_header(accept_patch_field(media_types))


def read_patch(
    content_type: str | None, body: bytes, media_types: Sequence[str] = PATCH_MEDIA_TYPES
) -> Patch:
    """:func:`ifmatch.core.patching.parse_patch` (415 / 400 as :class:`PatchError`)."""
    return parse_patch(content_type, body, accepted=media_types)


def retries(expect: Expectation) -> bool:
    """Whether a lost write may be re-applied to the newer version: only when the request
    named no version (no precondition, or ``If-Match: *``)."""
    return expect.versions is None and not expect.not_versions and expect.unmodified_since is None


def validated(validate: Validate, representation: Any) -> Mapping[str, Any]:
    """``validate(representation)``; a ``ValueError`` it raises becomes a 422 ``PatchError``
    (pydantic's ``ValidationError`` is one: its ``errors()`` are listed)."""
    try:
        return validate(representation)
    except PatchError:
        raise
    except ValueError as error:
        listed = getattr(error, "errors", None)
        errors = None
        if callable(listed):
            try:
                errors = listed(include_url=False, include_context=False, include_input=False)
            except TypeError:
                errors = None
        detail = "the patched resource is not valid"
        if errors is None:
            detail += f": {error}"
        raise PatchError(422, detail, errors=errors) from error


def patch_flow(
    condition: ConditionalState,
    patch: Patch,
    validate: Validate,
    *,
    objects_only: bool = True,
    attempts: int = ATTEMPTS,
) -> Generator[Read | Write, Any, Patched]:
    """Read, apply, validate and write a patch; see the module's docstring.

    Raises:
        PatchError: 409 (cannot apply to the current state), 422 (to no state).
        Exception: ``condition.failure(...)`` of the waiting answer when the request's
            preconditions are false (nothing is read or written).
    """
    expect = condition.expect(None)
    again = retries(expect)
    lost = CASResult(Outcome.NOT_FOUND)
    narrowed = expect
    for _ in range(attempts if again else 1):
        found = yield Read()
        if found is None:
            return Patched(CASResult(Outcome.NOT_FOUND), expect)
        snapshot, representation = found
        if not expect.allows(snapshot):
            # The resource moved on since the preconditions were checked: 412 as the store
            # would have answered, before the patch sees a version the client did not name.
            return Patched(CASResult(Outcome.LOST, snapshot), expect)
        patched = patch.apply(representation, objects_only=objects_only)
        values = validated(validate, patched)
        narrowed = exactly(expect, snapshot)
        lost = yield Write(narrowed, values)
        if lost.won or lost.outcome is Outcome.NOT_FOUND:
            return Patched(lost, narrowed, patched if lost.won else None)
    return Patched(lost, narrowed, exhausted=again)


def exactly(expect: Expectation, snapshot: Snapshot) -> Expectation:
    """``expect`` narrowed to the one version the patch was applied to."""
    return replace(expect, exists=True, versions=frozenset({snapshot.version}))
