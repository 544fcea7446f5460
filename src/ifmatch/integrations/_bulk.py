"""The bulk endpoint's flow, shared by the Flask, Starlette/FastAPI and DRF adapters.

No framework here, and no I/O either: :func:`bulk_flow` is a generator that yields what it
needs done (read some snapshots, call an application hook, write a batch) and receives the
answers, in the manner of httpx's auth flows. :func:`run_sync` and :func:`run_async` drive it
against a sync or async store, so the two never repeat the rules.

The steps for one request (see ``ifmatch.core.bulk`` for the wire format)::

    precondition header fields on the batch itself  -> 400 (they belong to the items)
    not application/json                            -> 415 with Accept-Post
    not JSON, or not a batch                        -> 400, nothing written
    per item: key, authorize, data                  -> 404 / 403 / 400 for that item
    one key twice                                   -> 400, nothing written
    read every item's snapshot, evaluate its precondition exactly as the header would be
    atomic and any item failed                      -> nothing written, the rest 424
    compare_and_set_many(items, all_or_nothing=atomic): each item's expectation is
    re-checked in the same statement as its write, so a writer that won in between makes the
    item 412 (or 409), never a lost update.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Generator, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..core import BadPrecondition, PreconditionFailed, PreconditionRequired, Proceed
from ..core.bulk import (
    BULK_MEDIA_TYPE,
    DEFAULT_MAX_ITEMS,
    BulkBodyError,
    BulkItem,
    BulkRequest,
    ItemResult,
    batch_answer,
    duplicate_key,
    invalid_item,
    parse_bulk,
)
from ..core.problems import problem
from ..stores import CASResult, Expectation, Outcome, Snapshot, is_unavailable
from ._conditional import KEY_ERRORS, Options, decide, unavailable_error
from ._fields import PRECONDITION_FIELDS, HeaderNames, render_problem

__all__ = [
    "BulkAnswer",
    "BulkUpdate",
    "ItemInvalid",
    "bulk_flow",
    "run_async",
    "run_sync",
    "unavailable",
]

logger = logging.getLogger("ifmatch.bulk")

#: The method whose precondition rules (``Policy.require_precondition``) apply to each item:
#: each item is a partial update of one resource, as a PATCH of it would be.
BULK_METHOD: Final = "PATCH"


class ItemInvalid(Exception):
    """Raised by a ``prepare`` hook: this item's ``data`` cannot be written (400 for the item).

    Args:
        detail: what is wrong, for a person.
        member: the offending member of ``data`` (``None``: ``data`` as a whole).
    """

    def __init__(self, detail: str, member: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.member = member


Prepare = Callable[[Hashable, Mapping[str, Any]], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]
Authorize = Callable[[Hashable], object]


@dataclass(frozen=True, slots=True)
class BulkUpdate:
    """One bulk endpoint: where it writes, what it accepts, and its limits.

    Attributes:
        store: a store with ``compare_and_set_many`` (every ifmatch store has it), sync or
            async.
        fields: the ``data`` members an item may write; any other member is a 400 for that
            item. Give this, or ``prepare``, or both (then ``fields`` is checked first).
        prepare: ``prepare(key, data)`` returns the values to store for one item (validate,
            convert, rename); raise :class:`ItemInvalid` for a 400 on that item. May be async
            under Starlette/FastAPI.
        key: turns an item's ``id`` into the store's key (``int``, ``uuid.UUID``); a
            ``ValueError``, ``TypeError`` or ``LookupError`` makes the item 404, as a path
            naming no resource would. Default: the ``id`` as sent.
        authorize: ``authorize(key)``, called before anything about the item is read; a false
            result makes the item 403. May be async under Starlette/FastAPI.
        max_items: most items in one batch (else 400).
        default_atomic: ``atomic`` when a batch does not say.
        allow_non_atomic: whether clients may ask for per-item results (``"atomic": false``).
        denied_status: the item's status when ``authorize`` refuses it: 403, or 404 to not
            reveal that the item exists (as a queryset scoped to the caller does).
    """

    store: Any
    fields: frozenset[str] | None = None
    prepare: Prepare | None = None
    key: Callable[[str | int], Hashable] | None = None
    authorize: Authorize | None = None
    max_items: int = DEFAULT_MAX_ITEMS
    default_atomic: bool = True
    allow_non_atomic: bool = True
    denied_status: int = 403

    def __post_init__(self) -> None:
        if not callable(getattr(self.store, "compare_and_set_many", None)):
            raise TypeError("a bulk endpoint needs a store with compare_and_set_many")
        if self.fields is None and self.prepare is None:
            raise TypeError("give fields= (the data members an item may write) or prepare=")
        if self.fields is not None:
            object.__setattr__(self, "fields", frozenset(self.fields))
        if self.max_items < 1:
            raise ValueError("max_items must be positive")
        if self.denied_status not in (403, 404):
            raise ValueError("denied_status must be 403 or 404")


@dataclass(frozen=True, slots=True)
class BulkAnswer:
    """The finished answer: status, body and headers, and the per-item results."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]
    results: tuple[ItemResult, ...] = ()


# --- the steps the flow yields --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Read:
    """Read these keys' snapshots; send back a list of ``Snapshot | None``."""

    keys: tuple[Hashable, ...]


@dataclass(frozen=True, slots=True)
class Call:
    """Call an application hook; send back its result (awaited if it is awaitable), or the
    :class:`ItemInvalid` it raised."""

    function: Callable[..., Any]
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Write:
    """``compare_and_set_many(items, all_or_nothing=...)``; send back its results."""

    items: tuple[tuple[Hashable, Expectation, Mapping[str, Any]], ...]
    all_or_nothing: bool


Step = Read | Call | Write


@dataclass(slots=True)
class _Pending:
    item: BulkItem
    key: Hashable
    values: Mapping[str, Any] | None = None
    expect: Expectation | None = None
    snapshot: Snapshot | None = None


# --- the flow -------------------------------------------------------------------------------


def bulk_flow(
    headers: HeaderNames,
    content_type: str | None,
    body: bytes,
    endpoint: BulkUpdate,
    options: Options,
) -> Generator[Step, Any, BulkAnswer]:
    """Answer one bulk request; yields :data:`Step` values for the driver to perform.

    Args:
        headers: the request's header names (only asked whether a field is present).
        content_type: the request's ``Content-Type``.
        body: the raw request body.
        endpoint: the endpoint's settings.
        options: the collection's options (policy, error format, variant).
    """
    refused = _refuse_request(headers, content_type, body, endpoint, options)
    if isinstance(refused, BulkAnswer):
        return refused
    batch = refused
    results: dict[int, ItemResult] = {result.index: result for result in batch.invalid}
    keyed: list[_Pending] = []
    for item in batch.items:
        try:
            key = item.id if endpoint.key is None else endpoint.key(item.id)
            hash(key)
        except KEY_ERRORS:
            results[item.index] = _not_found(item)
            continue
        keyed.append(_Pending(item, key))
    duplicate = duplicate_key((pending.item.index, pending.key) for pending in keyed)
    if duplicate is not None:
        return _body_error(duplicate, options)
    pending = []
    for entry in keyed:
        failure = yield from _admit(entry, endpoint)
        if failure is None:
            pending.append(entry)
        else:
            results[entry.item.index] = failure
    snapshots: list[Snapshot | None] = (
        (yield Read(tuple(entry.key for entry in pending))) if pending else []
    )
    ready: list[_Pending] = []
    for entry, snapshot in zip(pending, snapshots, strict=True):
        entry.snapshot = snapshot
        failure = _precheck(entry, options)
        if failure is None:
            ready.append(entry)
        else:
            results[entry.item.index] = failure
    if batch.atomic and results:
        for entry in ready:
            results[entry.item.index] = _aborted(entry.item, entry.snapshot, options)
    elif ready:
        written: list[CASResult] = yield Write(
            tuple((e.key, e.expect, e.values) for e in ready),  # type: ignore[misc]
            batch.atomic,
        )
        for entry, result in zip(ready, written, strict=True):
            results[entry.item.index] = _settled(entry, result, options)
    return _answer(list(results.values()), batch.atomic, options)


def _refuse_request(
    headers: HeaderNames,
    content_type: str | None,
    body: bytes,
    endpoint: BulkUpdate,
    options: Options,
) -> BulkRequest | BulkAnswer:
    for name in PRECONDITION_FIELDS:
        if name in headers:
            detail = (
                f"A batch takes no {name} header: each item carries its own precondition "
                "('ifMatch' or 'version')."
            )
            body_ = problem(400, detail, code="batch-precondition-header", header=name)
            return _problem_answer(body_, options)
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != BULK_MEDIA_TYPE:
        detail = f"A batch is sent as {BULK_MEDIA_TYPE}, not {media_type or 'no media type'}."
        body_ = problem(415, detail, code="unsupported-media-type")
        answer = _problem_answer(body_, options)
        return BulkAnswer(
            answer.status, answer.body, (*answer.headers, ("Accept-Post", BULK_MEDIA_TYPE))
        )
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return _body_error(BulkBodyError("The body is not valid JSON."), options)
    try:
        return parse_bulk(
            decoded,
            max_items=endpoint.max_items,
            default_atomic=endpoint.default_atomic,
            allow_non_atomic=endpoint.allow_non_atomic,
        )
    except BulkBodyError as error:
        return _body_error(error, options)


def _admit(entry: _Pending, endpoint: BulkUpdate) -> Generator[Step, Any, ItemResult | None]:
    """Authorize the item, then turn its data into the values to store."""
    item = entry.item
    if endpoint.authorize is not None:
        allowed = yield Call(endpoint.authorize, (entry.key,))
        if isinstance(allowed, ItemInvalid) or not allowed:
            if endpoint.denied_status == 404:
                return _not_found(item)
            detail = "You may not change this item."
            return ItemResult(
                item.index, item.id, 403, problem=problem(403, detail, code="forbidden")
            )
    if endpoint.fields is not None:
        unknown = sorted(str(name) for name in item.data if name not in endpoint.fields)
        if unknown:
            allowed_names = ", ".join(sorted(endpoint.fields))
            return invalid_item(
                item.index,
                item.id,
                f"{unknown[0]!r} cannot be written here (writable: {allowed_names}).",
                f"{item.pointer}/data/{_escape(unknown[0])}",
            )
    values: Any = dict(item.data)
    if endpoint.prepare is not None:
        values = yield Call(endpoint.prepare, (entry.key, item.data))
        if isinstance(values, ItemInvalid):
            pointer = f"{item.pointer}/data"
            if values.member is not None:
                pointer += "/" + _escape(values.member)
            return invalid_item(item.index, item.id, values.detail, pointer)
    entry.values = values
    return None


def _precheck(entry: _Pending, options: Options) -> ItemResult | None:
    """Evaluate the item's precondition against the state just read, exactly as the header
    would be evaluated; on success set the expectation the write re-checks atomically."""
    item, snapshot = entry.item, entry.snapshot
    if snapshot is None:
        return _not_found(item)
    if item.version is not None:
        if snapshot.version != item.version:
            return _version_conflict(item, snapshot, options)
        entry.expect = Expectation.version(item.version)
        return None
    headers = {} if item.if_match is None else {"If-Match": item.if_match}
    decision = decide(BULK_METHOD, headers, snapshot, options)
    current = str(snapshot.etag(variant=options.variant))
    if isinstance(decision, Proceed):
        for warning in decision.warnings:
            logger.warning("ifmatch: bulk item %d: %s (warn-only mode)", item.index, warning)
        expect = Expectation.from_condition(decision.condition, variant=options.variant)
        # Without a precondition (allowed by the policy) the item must still exist: a bulk
        # update never creates.
        entry.expect = Expectation(exists=True) if expect.exists is None else expect
        return None
    if isinstance(decision, PreconditionFailed):
        return _failed(item, current, decision.detail, decision.code)
    if isinstance(decision, PreconditionRequired):
        detail = "This item carries no precondition: send 'ifMatch' (or 'version')."
        return ItemResult(
            item.index,
            item.id,
            428,
            current_etag=current,
            problem=problem(
                428,
                detail,
                code="precondition-required",
                pointer=item.pointer,
                current_etag=current,
            ),
        )
    if isinstance(decision, BadPrecondition):
        return invalid_item(
            item.index,
            item.id,
            f"Malformed 'ifMatch': {decision.detail}",
            f"{item.pointer}/ifMatch",
            code="invalid-if-match",
        )
    raise AssertionError(f"unexpected decision for a write: {decision!r}")  # pragma: no cover


def _settled(entry: _Pending, result: CASResult, options: Options) -> ItemResult:
    item, snapshot = entry.item, result.snapshot
    if result.outcome is Outcome.WON and snapshot is not None:
        return ItemResult(
            item.index, item.id, 200, etag=str(snapshot.etag(variant=options.variant))
        )
    if result.outcome is Outcome.ABORTED:
        return _aborted(item, snapshot, options)
    if result.outcome is Outcome.NOT_FOUND or snapshot is None:
        return _not_found(item)
    if item.version is not None:
        return _version_conflict(item, snapshot, options)
    current = str(snapshot.etag(variant=options.variant))
    return _failed(item, current, "Another write changed this item first.", "etag-mismatch")


def _failed(item: BulkItem, current: str, detail: str, code: str) -> ItemResult:
    body = problem(412, detail, code=code, pointer=f"{item.pointer}/ifMatch", current_etag=current)
    return ItemResult(item.index, item.id, 412, current_etag=current, problem=body)


def _version_conflict(item: BulkItem, snapshot: Snapshot, options: Options) -> ItemResult:
    current = str(snapshot.etag(variant=options.variant))
    detail = f"The item is at version {snapshot.version}, not {item.version}."
    body = problem(
        409,
        detail,
        code="version-mismatch",
        pointer=f"{item.pointer}/version",
        current_etag=current,
        current_version=snapshot.version,
    )
    return ItemResult(
        item.index,
        item.id,
        409,
        current_etag=current,
        current_version=snapshot.version,
        problem=body,
    )


def _not_found(item: BulkItem) -> ItemResult:
    body = problem(404, "No such item.", code="not-found", pointer=f"{item.pointer}/id")
    return ItemResult(item.index, item.id, 404, problem=body)


def _aborted(item: BulkItem, snapshot: Snapshot | None, options: Options) -> ItemResult:
    current = None if snapshot is None else str(snapshot.etag(variant=options.variant))
    detail = "Not applied: this item's precondition held, but another item in the batch failed."
    body = problem(424, detail, code="aborted", pointer=item.pointer, current_etag=current)
    return ItemResult(item.index, item.id, 424, current_etag=current, problem=body)


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _answer(results: list[ItemResult], atomic: bool, options: Options) -> BulkAnswer:
    status, body = batch_answer(results, atomic=atomic, type_base=options.type_base)
    ordered = tuple(sorted(results, key=lambda result: result.index))
    if status == 200:
        data = json.dumps(body, separators=(",", ":")).encode()
        return BulkAnswer(200, data, (("Content-Type", BULK_MEDIA_TYPE),), ordered)
    data, headers = render_problem(body, options.error_format)
    return BulkAnswer(status, data, headers, ordered)


def _problem_answer(body: dict[str, Any], options: Options) -> BulkAnswer:
    if options.type_base is not None and "code" in body:
        body = {**body, "type": options.type_base + body["code"]}
    data, headers = render_problem(body, options.error_format)
    return BulkAnswer(body["status"], data, headers)


def _body_error(error: BulkBodyError, options: Options) -> BulkAnswer:
    return _problem_answer(error.problem(type_base=options.type_base), options)


# --- drivers --------------------------------------------------------------------------------


def unavailable(error: Exception, options: Options) -> BulkAnswer:
    """503 with ``Retry-After`` when the store could not be reached or lost its connection
    (the batch may or may not have applied); re-raises any other error.

    Raises:
        Exception: ``error`` itself, when it is not about the store's availability.
    """
    if not is_unavailable(error):
        raise error
    answer = unavailable_error("POST", options, None)
    return BulkAnswer(answer.status, answer.body, answer.headers)


def run_sync(flow: Generator[Step, Any, BulkAnswer], store: Any) -> BulkAnswer:
    """Drive :func:`bulk_flow` against a synchronous store."""
    try:
        step = next(flow)
        while True:
            step = flow.send(_perform_sync(step, store))
    except StopIteration as stop:
        answer: BulkAnswer = stop.value
        return answer


def _perform_sync(step: Step, store: Any) -> Any:
    if isinstance(step, Read):
        return [store.read(key) for key in step.keys]
    if isinstance(step, Write):
        return store.compare_and_set_many(step.items, all_or_nothing=step.all_or_nothing)
    try:
        result = step.function(*step.args)
    except ItemInvalid as invalid:
        return invalid
    if inspect.isawaitable(result):
        raise TypeError("an async bulk hook needs the Starlette/FastAPI integration")
    return result


async def run_async(
    flow: Generator[Step, Any, BulkAnswer],
    store: Any,
    offload: Callable[[Callable[[], Any]], Awaitable[Any]],
) -> BulkAnswer:
    """Drive :func:`bulk_flow` against an async store, or a sync one through ``offload``
    (which runs a blocking call off the event loop, e.g. in a thread)."""
    is_async = inspect.iscoroutinefunction(store.compare_and_set_many)
    try:
        step = next(flow)
        while True:
            step = flow.send(await _perform_async(step, store, is_async, offload))
    except StopIteration as stop:
        answer: BulkAnswer = stop.value
        return answer


async def _perform_async(
    step: Step,
    store: Any,
    is_async: bool,
    offload: Callable[[Callable[[], Any]], Awaitable[Any]],
) -> Any:
    if isinstance(step, Call):
        try:
            result = step.function(*step.args)
            if inspect.isawaitable(result):
                result = await result
        except ItemInvalid as invalid:
            return invalid
        return result
    if not is_async:
        return await offload(lambda: _perform_sync(step, store))
    if isinstance(step, Read):
        return [await store.read(key) for key in step.keys]
    return await store.compare_and_set_many(step.items, all_or_nothing=step.all_or_nothing)
