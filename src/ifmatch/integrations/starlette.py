"""Starlette: conditional endpoints over an async compare-and-set store.

Quick start::

    @conditional(store, key="doc_id", create=True)
    async def document(request: Request) -> Response:
        condition = request.state.ifmatch
        if request.method == "PUT":
            await condition.write(await request.json())   # one conditional UPDATE
            return JSONResponse({"saved": True})
        return JSONResponse(await load(condition.key))

    app = Starlette(routes=[Route("/documents/{doc_id}", document, methods=[...])],
                    exception_handlers=EXCEPTION_HANDLERS)

The decorator reads the stored version (not the body), answers 404 for a missing resource, and
lets :func:`ifmatch.core.evaluate` decide. A false precondition (304, 400, 412, 428) is answered
only after the endpoint's own access decisions: the endpoint runs, may answer 401, 403 or 404
itself, its ``condition.write()`` / ``delete()`` raise the answer without writing, and a 2xx it
returns is replaced by the answer (``answer_before_view=True`` answers before the endpoint runs,
for endpoints that check access only in middleware). Each 2xx gets the ``ETag`` (and
``Last-Modified``) of the version it carries. The FastAPI integration builds on the pieces here.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable, Mapping
from dataclasses import replace
from http import HTTPStatus
from types import AsyncGeneratorType
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..core import DEFAULT_POLICY, ETag, Policy, Preconditions, Proceed
from ..core.errors import ConfigurationError
from ..core.idempotency import IdempotencyRecord
from ..stores import (
    AsyncVersionStore,
    CASResult,
    Expectation,
    Snapshot,
    VersionStore,
    is_unavailable,
    is_write_conflict,
)
from ..stores.collection import CollectionState
from ..stores.idempotency import Claim
from ._conditional import (
    KEY_ERRORS,
    ConditionalState,
    ErrorFormat,
    HTTPError,
    Options,
    check_validators_option,
    collection_needs_tag,
    collection_precheck,
    idempotency_error,
    location,
    log_unguarded,
    not_found_error,
    not_modified,
    precheck,
    replay_error,
    revalidates,
    unavailable_error,
    validator_headers,
    waiting,
    write_conflict_error,
)
from ._fields import PRECONDITION_FIELDS, last_modified_fields
from ._idempotency import Idempotency, idempotency_options, judged, keyed_request, twin_completed
from .answers import SCOPE_KEY

__all__ = [
    "EXCEPTION_HANDLERS",
    "CollectionRequest",
    "ConditionalHTTPException",
    "ConditionalRequest",
    "check",
    "check_collection",
    "collection",
    "conditional",
    "conditional_exception_handler",
    "make_options",
    "write_conflict_handler",
]

logger = logging.getLogger("ifmatch.starlette")
Endpoint = Callable[[Request], Awaitable[Response]]
AnyStore = AsyncVersionStore[Any] | VersionStore[Any]


class ConditionalHTTPException(HTTPException):
    """A 304, 400, 404, 409, 412 or 428 answer with its body rendered (``.error``)."""

    def __init__(self, error: HTTPError) -> None:
        # HTTPException's attributes, set here directly: the exception handler answers from
        # ``error`` itself.
        problem = error.problem
        self.status_code = error.status
        self.detail = (
            _PHRASES.get(error.status, "") if problem is None else str(problem.get("detail"))
        )
        self.headers = dict(error.headers)
        self.error = error


_PHRASES = {status.value: status.phrase for status in HTTPStatus}


class _Answer(Response):
    # A rendered error as a Response, its header lines encoded once, without the generic
    # header initialisation (no media type of its own: the problem's fields carry it).

    def __init__(self, error: HTTPError) -> None:
        self.status_code = error.status
        self.background = None
        self.body = error.body
        fields: dict[bytes, bytes] = {}
        if not (error.status < 200 or error.status in (204, 304)):
            fields[b"content-length"] = str(len(error.body)).encode()
        for name, value in error.headers:
            # One line per field, where it first appeared: the last value wins.
            fields[name.lower().encode("latin-1")] = value.encode("latin-1")
        self.raw_headers = list(fields.items())


def error_response(error: HTTPError) -> Response:
    """The Starlette response for a rendered error (a 304 has no body and no media type)."""
    return _Answer(error)


async def conditional_exception_handler(request: Request, exc: Exception) -> Response:
    """Exception handler turning :class:`ConditionalHTTPException` into its response."""
    assert isinstance(exc, ConditionalHTTPException)
    return _Answer(exc.error)


EXCEPTION_HANDLERS: Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    ConditionalHTTPException: conditional_exception_handler
}


async def write_conflict_handler(request: Request, exc: Exception) -> Response:
    """Exception handler for database errors.

    - A database that cannot be reached, or a connection lost mid-request
      (``ifmatch.stores.is_unavailable``), in any request: 503 with ``Retry-After``. For a write
      the outcome is unknown; the problem body says to read the resource again.
    - A serialization failure or deadlock (``ifmatch.stores.is_write_conflict``) while a
      protected request was handled, e.g. from the endpoint's own ``await session.commit()``,
      means the database rolled the transaction back: 412 (409 without a precondition).

    Anything else is raised again (500).
    """
    condition = getattr(request.state, "ifmatch", None)
    protected = isinstance(condition, ConditionalRequest)
    options = condition.options if isinstance(condition, ConditionalRequest) else Options()
    if is_unavailable(exc):
        return error_response(unavailable_error(request.method, options, request.url.path))
    if not protected or not is_write_conflict(exc):
        raise exc
    return error_response(write_conflict_error(request.headers, options, request.url.path))


class _ThreadedStore:
    """Runs a synchronous store's calls in the thread pool, off the event loop."""

    def __init__(self, store: VersionStore[Any]) -> None:
        self.store = store

    async def read(self, key: Any) -> Snapshot | None:
        return await run_in_threadpool(self.store.read, key)

    async def compare_and_set(
        self, key: Any, expect: Expectation, values: Mapping[str, Any], **kwargs: Any
    ) -> CASResult:
        return await run_in_threadpool(self.store.compare_and_set, key, expect, values, **kwargs)

    async def compare_and_delete(self, key: Any, expect: Expectation, **kwargs: Any) -> CASResult:
        return await run_in_threadpool(self.store.compare_and_delete, key, expect, **kwargs)

    async def read_collection(self, query: Any = None) -> CollectionState:
        store: Any = self.store
        state: CollectionState = await run_in_threadpool(store.read_collection, query)
        return state

    async def claim(self, id: str, fingerprint: str, **kwargs: Any) -> Claim:
        store: Any = self.store
        claim: Claim = await run_in_threadpool(store.claim, id, fingerprint, **kwargs)
        return claim

    async def lookup(self, id: str) -> IdempotencyRecord | None:
        store: Any = self.store
        found: IdempotencyRecord | None = await run_in_threadpool(store.lookup, id)
        return found

    async def release(self, id: str, attempt: str) -> None:
        store: Any = self.store
        await run_in_threadpool(store.release, id, attempt)


def as_async(store: AnyStore) -> AsyncVersionStore[Any]:
    """``store`` itself if it is async, else a wrapper running it in the thread pool."""
    if type(store) in _ASYNC_STORES and "read" not in getattr(store, "__dict__", ()):
        return store  # type: ignore[return-value]
    if inspect.iscoroutinefunction(store.read):
        if len(_ASYNC_STORES) < 64 and inspect.iscoroutinefunction(type(store).read):
            _ASYNC_STORES.add(type(store))  # its class's read is a coroutine function
        return store  # type: ignore[return-value]
    return _ThreadedStore(store)  # type: ignore[arg-type]


# Store classes whose ``read`` is a coroutine function (checked once per class).
_ASYNC_STORES: set[type] = set()


def request_path(request: Request) -> str:
    """``request.url.path``, without building the URL when the path needs no escaping."""
    path: str = request.scope["path"]
    if "?" in path or "#" in path or "\\" in path:
        return request.url.path
    return path


def make_options(
    *,
    policy: Policy = DEFAULT_POLICY,
    error_format: ErrorFormat = "problem",
    type_base: str | None = None,
    last_modified: bool = True,
    variant: str | None = None,
    create: bool = False,
    answer_before_view: bool = False,
) -> Options:
    """Bundle a resource's settings (see each keyword in :func:`conditional`)."""
    return Options(
        policy, error_format, type_base, last_modified, variant, create, answer_before_view
    )


#: The validator fields, as raw header names: a 2xx carries the served version's, no other.
_VALIDATORS = frozenset({b"etag", b"last-modified"})


class ConditionalRequest(ConditionalState):
    """What a protected endpoint gets (``request.state.ifmatch``, or the FastAPI dependency):
    ``key``, ``snapshot`` (validators when checked; ``None`` if the resource did not exist),
    ``etag``, ``instance``, ``decision``, ``expectation``, ``preconditions``, and the writes."""

    def __init__(
        self,
        request: Request,
        store: AsyncVersionStore[Any],
        key: Hashable,
        snapshot: Snapshot | None,
        decision: Proceed,
        options: Options,
        *,
        refusal: HTTPError | None = None,
        claim: Claim | None = None,
    ) -> None:
        super().__init__(key, snapshot, decision, options, refusal=refusal, claim=claim)
        self.request, self.store = request, store
        self.response: Response | None = None  # FastAPI's response to put validators on
        #: The loader that yielded ``instance``, closed when the request ends (``close()``).
        self.loading: AsyncGenerator[Any, None] | None = None

    @property
    def preconditions(self) -> Preconditions:
        """The request's parsed precondition headers (they parsed: the decision was Proceed)."""
        return Preconditions.from_headers(self.request.headers.raw)

    async def write(
        self, values: Mapping[str, Any], *, version: int | None = None, status: int | None = None
    ) -> Snapshot:
        """Apply ``values`` in one compare-and-set (creating the resource if the request may).

        Args:
            values: the fields to store.
            version: the version the client sent in the body (409 scheme), if any.
            status: the status the endpoint answers a keyed write with, recorded with the write
                for a retry of the same ``Idempotency-Key`` (default 200, 201 for a create).

        Returns:
            The new snapshot; its tag becomes the response's ``ETag``.

        Raises:
            ConditionalHTTPException: 412 (another writer won), 409 (stale ``version``), 404;
                the first answer again when another attempt of the same key wrote first.
        """
        expect = self.expect(version)
        path = self.request.url.path
        completion = self.completion(status, deleting=False, location=location(path))
        store: Any = self.store
        try:
            if completion is None:
                result = await store.compare_and_set(self.key, expect, values)
            else:
                result = await store.compare_and_set(
                    self.key, expect, values, completion=completion
                )
        except Exception as error:
            raise self._unavailable(error) from error
        return self._apply(await self._keyed(result), expect, version)

    async def delete(self, *, version: int | None = None, status: int | None = None) -> Snapshot:
        """Delete the resource in one compare-and-delete; raises like :meth:`write`."""
        expect = self.expect(version)
        completion = self.completion(status, deleting=True, location=None)
        store: Any = self.store
        try:
            if completion is None:
                result = await store.compare_and_delete(self.key, expect)
            else:
                result = await store.compare_and_delete(self.key, expect, completion=completion)
        except Exception as error:
            raise self._unavailable(error) from error
        snapshot = self._apply(await self._keyed(result), expect, version)
        self.serve(None)
        return snapshot

    def serve(self, snapshot: Snapshot | None) -> None:
        """Declare the version the response body was built from."""
        self.served = snapshot
        if self.response is not None:
            self.apply(self.response, unconditionally=True)

    def apply(self, response: Response, *, unconditionally: bool = False) -> Response:
        """Put the served version's validators on a 2xx ``response`` (and ``Location`` on a
        create); a helper for endpoints that build their own response."""
        if self.echo is not None:
            response.headers[self.echo[0]] = self.echo[1]
        if not (unconditionally or 200 <= response.status_code < 300):
            return response
        raw = response.headers.raw
        if any(name in _VALIDATORS for name, _ in raw):
            raw[:] = [line for line in raw if line[0] not in _VALIDATORS]
        if self.request.method not in {"GET", "HEAD"} and not self.wrote:
            return response
        for name, value in validator_headers(self.served, self.options):
            raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        if self.wrote and self.snapshot is None and self.served is not None:
            # RFC 9110 §15.3.2: the created resource is the target URI; say so explicitly.
            response.headers.setdefault("Location", location(self.request.url.path))
        return response

    def _apply(self, result: CASResult, expect: Expectation, version: int | None) -> Snapshot:
        snapshot = self.settle(result, expect, version, self.request.url.path)
        self.serve(snapshot)
        return snapshot

    def failure(self, error: HTTPError) -> Exception:
        return ConditionalHTTPException(self.answer(error))

    async def _keyed(self, result: CASResult) -> CASResult:
        # A keyed write that did not apply may have lost to another attempt of the same key:
        # then answer as that attempt was answered.
        if not result.won and self.claim is not None:
            store: Any = self.store
            record = await store.lookup(self.claim.record.id)
            if twin_completed(self.claim, record):
                raise ConditionalHTTPException(replay_error(record, self.options))
        return result

    async def close(self) -> None:
        """Close the loader that yielded ``instance`` (and the session it read the row in):
        ``install()``'s middleware calls this when the request ends. It also lets go of the
        request (see :meth:`end`)."""
        loading, self.loading = self.loading, None
        try:
            if loading is not None:
                await loading.aclose()
        finally:
            self.end()

    def end(self) -> None:
        """Let go of the request once it has ended. The request's scope holds the condition
        (``request.state.ifmatch``) and the condition held the request: a reference cycle that
        only the cycle collector would free, with everything the scope holds, a cost paid on
        every request. After this, ``condition.request`` is gone; the rest stays readable."""
        self.__dict__.pop("request", None)

    async def release_claim(self) -> None:
        """Forget the request's ``Idempotency-Key`` claim when it ended without its write, so a
        retry goes on at once. Safe whatever happened: a record whose write committed is done
        and is never released."""
        claim = self.claim
        if claim is None or self.wrote:
            return
        store: Any = self.store
        try:
            await store.release(claim.record.id, claim.record.attempt)
        except Exception:  # the database may be why the request failed
            logger.warning("ifmatch: could not release an idempotency claim", exc_info=True)

    def _unavailable(self, error: Exception) -> Exception:
        # A lost connection is a 503 (the write's outcome unknown); anything else as it was.
        if not is_unavailable(error):
            return error
        path = self.request.url.path
        return self.failure(unavailable_error(self.request.method, self.options, path))


class CollectionRequest(ConditionalRequest):
    """What a collection endpoint gets (``request.state.ifmatch``, or the FastAPI
    ``Collection`` dependency): the collection's ``etag`` and ``state`` (``None`` when the
    request did not need them: a ``POST`` without a precondition), ``refused``, and
    :meth:`create`."""

    def __init__(
        self,
        request: Request,
        store: AsyncVersionStore[Any],
        decision: Proceed,
        options: Options,
        *,
        refusal: HTTPError | None,
        collection: tuple[ETag, CollectionState] | None,
        locate: Callable[[Hashable], str],
    ) -> None:
        super().__init__(request, store, None, None, decision, options, refusal=refusal)
        self.collection_etag = None if collection is None else collection[0]
        self.state = None if collection is None else collection[1]
        self.locate = locate
        self.location: str | None = None

    @property
    def etag(self) -> str | None:
        """The tag the response carries: the created item's after :meth:`create`, else the
        collection's."""
        if self.wrote:
            return super().etag
        return None if self.collection_etag is None else str(self.collection_etag)

    def expect(self, version: int | None) -> Expectation:
        """A create's expectation: the key is free. The request's preconditions were about the
        collection; a false one raises its answer here, before anything is inserted."""
        if self.refusal is not None:
            raise self.failure(self.refusal)
        return Expectation(exists=False)

    async def create(
        self, key: Hashable, values: Mapping[str, Any], *, status: int | None = None
    ) -> Snapshot:
        """Insert a new item under ``key`` (an ``INSERT`` that fails if the key is taken); the
        response then carries its ``ETag``, ``Last-Modified`` and, on a ``201``, ``Location``
        (``locate(key)``).

        Raises:
            ConditionalHTTPException: the waiting answer when the request's preconditions are
                false (nothing is inserted); 412 (``code: exists``) when the key is taken.
        """
        self.key = key
        self.location = self.locate(key)
        return await self.write(values, status=status)

    def apply(self, response: Response, *, unconditionally: bool = False) -> Response:
        """Put the collection's validators on a 2xx ``GET``/``HEAD`` response, or the created
        item's (and ``Location`` on a ``201``) after :meth:`create`."""
        if not (unconditionally or 200 <= response.status_code < 300):
            return response
        for name in ("ETag", "Last-Modified"):
            if name in response.headers:
                del response.headers[name]
        if self.wrote:
            for name, value in validator_headers(self.served, self.options):
                response.headers[name] = value
            # FastAPI's dependency response has no status until the route's is known.
            status = getattr(response, "status_code", None)
            if status in {None, 201} and self.location is not None:
                response.headers.setdefault("Location", self.location)
        elif self.request.method in {"GET", "HEAD"} and self.state is not None:
            response.headers["ETag"] = str(self.collection_etag)
            newest = self.state.last_modified
            for name, value in last_modified_fields(newest, send=self.options.send_last_modified):
                response.headers[name] = value
        return response


async def check_collection(
    request: Request,
    store: AnyStore,
    options: Options,
    *,
    query: Any = None,
    secret: bytes = b"",
    locate: Callable[[Hashable], str] | None = None,
) -> CollectionRequest:
    """Read a collection's tag when the request needs it and evaluate its preconditions.

    Returns:
        The :class:`CollectionRequest` the endpoint creates through; when the preconditions are
        false it carries the waiting answer (``refusal``), unless ``options.answer_before_view``.

    Raises:
        ConditionalHTTPException: 503 when the store cannot be reached; with
            ``answer_before_view``, the decision's 304, 400, 412 or 428.
    """
    async_store: Any = as_async(store)
    path = request.url.path
    headers = request.headers
    preconditioned = any(name in headers for name in PRECONDITION_FIELDS)
    read: tuple[ETag, CollectionState] | None = None
    if collection_needs_tag(request.method, options, has_precondition=preconditioned):
        try:
            state: CollectionState = await async_store.read_collection(query)
        except Exception as error:
            if not is_unavailable(error):
                raise
            failure = unavailable_error(request.method, options, path)
            raise ConditionalHTTPException(failure) from error
        target = path + (f"?{request.url.query}" if request.url.query else "")
        read = (state.etag(target=target, variant=options.variant, key=secret), state)

    def tag() -> ETag:
        assert read is not None  # collection_needs_tag said so
        return read[0]

    answer = collection_precheck(
        request.method, headers.raw, tag, options, path, has_precondition=preconditioned
    )
    ready = waiting(answer, options)
    if isinstance(ready, HTTPError):
        raise ConditionalHTTPException(ready)
    decision, refusal = ready

    def located(key: Hashable) -> str:
        if locate is not None:
            return locate(key)
        return location(f"{path.rstrip('/')}/{key}")

    return CollectionRequest(
        request,
        async_store,
        decision,
        options,
        refusal=refusal,
        collection=read,
        locate=located,
    )


Loader = Callable[[Hashable], Awaitable[Any] | AsyncIterator[Any]]
#: ``async (key) -> Snapshot | None``: the validators alone, e.g. ``AsyncSQLAlchemyStore.peek``.
Peek = Callable[[Hashable], Awaitable[Snapshot | None]]


async def check(
    request: Request,
    store: AnyStore,
    key: Hashable,
    options: Options,
    *,
    load: Loader | None = None,
    snapshot_of: Callable[[Any], Snapshot] | None = None,
    idempotency: Idempotency | None = None,
    scope: str = "",
    peek: Peek | None = None,
) -> ConditionalRequest:
    """Read the stored version and evaluate the request's preconditions against it.

    With ``idempotency``, a write carrying ``Idempotency-Key`` claims it first: a retry of a
    write that committed is answered as it was (raised as the exception), a key in flight 409,
    reused 422, malformed or missing-but-required 400.

    With ``load`` (and ``snapshot_of``), the resource is loaded instead and its validators
    taken from the loaded object, which the endpoint finds in ``condition.instance``. A loader
    that cannot take the key (``ValueError``, ``TypeError``, ``KeyError``) means no resource.

    With ``peek`` (only under ``options.answer_before_view``), a GET or HEAD carrying
    ``If-None-Match`` or ``If-Modified-Since`` is first checked against the validators it
    reads: a copy still current is answered 304 from them, without loading or reading
    anything else; any other answer is decided as without it.

    Returns:
        The :class:`ConditionalRequest` the endpoint writes through; when the preconditions are
        false it carries the waiting answer (``condition.refusal``), unless
        ``options.answer_before_view``.

    Raises:
        ConditionalHTTPException: 404; 503 when the store cannot be reached; with
            ``answer_before_view``, the decision's 304, 400, 412 or 428.
    """
    async_store = as_async(store)
    path = request_path(request)
    instance = None
    loading: AsyncGenerator[Any, None] | None = None
    try:
        try:
            if peek is not None and revalidates(request.method, request.headers):
                await _answer_current(request, peek, key, options)
            if load is not None and snapshot_of is not None:
                try:
                    loaded = load(key)
                    if type(loaded) is AsyncGeneratorType:
                        # A loader that yields: the row stays in its session (which the
                        # endpoint may use) until the request ends; closed at once on a refusal.
                        loading = loaded
                        instance = await anext(loaded, None)
                        if SCOPE_KEY not in request.scope:
                            _closable(request, loaded)
                    else:
                        instance = await loaded  # type: ignore[misc]
                except KEY_ERRORS:
                    raise ConditionalHTTPException(not_found_error(options, path)) from None
                snapshot = None if instance is None else snapshot_of(instance)
            else:
                snapshot = await async_store.read(key)
        except ConditionalHTTPException:
            raise
        except Exception as error:
            if not is_unavailable(error):
                raise
            failure = unavailable_error(request.method, options, path)
            raise ConditionalHTTPException(failure) from error
        claimed = (
            None
            if idempotency is None
            else await _claim(request, async_store, options, idempotency, scope)
        )
        claim, echo = claimed if claimed is not None else (None, None)
        try:
            answer = precheck(
                request.method, request.headers.raw, snapshot, options, path, logger=logger
            )
            ready = waiting(answer, options)
        except BaseException:
            if claim is not None:
                await async_store.release(claim.record.id, claim.record.attempt)  # type: ignore[attr-defined]
            raise
        if isinstance(ready, HTTPError) and claim is not None:
            await async_store.release(claim.record.id, claim.record.attempt)  # type: ignore[attr-defined]
    except BaseException:
        if loading is not None:
            await loading.aclose()
        raise
    if isinstance(ready, HTTPError):
        # Answered now (404, or anything under answer_before_view): raised once, from here.
        if loading is not None:
            await loading.aclose()
        raise ConditionalHTTPException(ready)
    decision, refusal = ready
    condition = ConditionalRequest(
        request, async_store, key, snapshot, decision, options, refusal=refusal, claim=claim
    )
    condition.instance = instance
    condition.echo = echo
    condition.loading = loading
    return condition


async def _answer_current(request: Request, peek: Peek, key: Hashable, options: Options) -> None:
    """Raise the 304 when the peeked validators say the client's copy is current."""
    try:
        snapshot = await peek(key)
    except KEY_ERRORS:
        return  # the loader (or the store) decides what such a key means
    current = not_modified(request.method, request.headers.raw, snapshot, options)
    if current is not None:
        raise ConditionalHTTPException(current)


def _closable(request: Request, loading: AsyncGenerator[Any, None]) -> None:
    # Only install()'s middleware can close the loader when the request ends.
    if SCOPE_KEY not in request.scope:
        raise ConfigurationError(
            "a loader that yields needs install(app): its middleware closes the loader (and "
            "the session it read the row in) when the request ends"
        )


async def _claim(
    request: Request,
    store: AsyncVersionStore[Any],
    options: Options,
    idempotency: Idempotency | None,
    scope: str,
) -> tuple[Claim, tuple[str, str]] | None:
    if idempotency is None:
        return None
    path = request.url.path
    target = path + (f"?{request.url.query}" if request.url.query else "")
    body = await request.body() if request.method.upper() in idempotency.methods else b""
    keyed = keyed_request(
        idempotency,
        request.method,
        [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
        scope=f"{scope}\x1f{path}",
        target=target,
        body=lambda: body,
    )
    if keyed is None:
        return None
    if isinstance(keyed, dict):
        raise ConditionalHTTPException(idempotency_error(keyed, options))
    ledger: Any = store
    try:
        found = await ledger.claim(
            keyed.id,
            keyed.fingerprint,
            retention=idempotency.retention,
            in_flight=idempotency.in_flight,
        )
    except Exception as error:
        if not is_unavailable(error):
            raise
        raise ConditionalHTTPException(unavailable_error(request.method, options, path)) from error
    outcome = judged(found, path)
    if outcome.replay is not None:
        replay = replay_error(outcome.replay, options)
        raise ConditionalHTTPException(replay.with_header(keyed.echo))
    if outcome.problem is not None:
        problem = idempotency_error(outcome.problem, options)
        raise ConditionalHTTPException(problem.with_header(keyed.echo))
    assert outcome.claim is not None
    return outcome.claim, keyed.echo


def conditional(
    store: AnyStore,
    *,
    key: str | Callable[[Request], Hashable],
    create: bool = False,
    policy: Policy = DEFAULT_POLICY,
    error_format: ErrorFormat = "problem",
    type_base: str | None = None,
    last_modified: bool = True,
    variant: str | Callable[[Request], str | None] | None = None,
    answer_before_view: bool = False,
    idempotency: bool | Idempotency | None = None,
    idempotency_scope: Callable[[Request], str] | None = None,
    validators: Peek | None = None,
) -> Callable[[Endpoint], Endpoint]:
    """Make a Starlette endpoint conditional; it finds its state in ``request.state.ifmatch``.

    Args:
        store: a compare-and-set store (a synchronous one runs in the thread pool).
        key: the path parameter naming the resource, or a callable taking the request.
        create: let a PUT create a missing resource (``If-None-Match: *``: create-only).
        policy: the core's policy (428 rules, warn-only, weak echo, limits).
        error_format: ``"problem"`` (RFC 9457) or ``"jsonapi"``.
        type_base: URI prefix for problem ``type`` members.
        last_modified: send ``Last-Modified`` beside ``ETag``.
        variant: tells representations of one version apart (see ``version_etag``): a
            string, or ``callable(request)`` for an endpoint that negotiates (send ``Vary`` for
            what it reads); a write is checked against the variant it returns for the write.
        answer_before_view: answer a false precondition before the endpoint runs (a 304 then
            costs only the version read). Only for an endpoint that makes no access decision
            of its own: all of them in middleware or the router.
        idempotency: honour ``Idempotency-Key`` on writes (``True``, or an ``Idempotency``
            that may require it); the store keeps the records.
        idempotency_scope: who a key belongs to (e.g. the authenticated user's id), from the
            request; keys are always scoped to the resource too.
        validators: ``async (key) -> Snapshot | None`` reading the validators alone, e.g.
            ``AsyncSQLAlchemyStore.peek``: a GET or HEAD carrying ``If-None-Match`` or
            ``If-Modified-Since`` whose copy is current is answered 304 from it, before the
            store's read. Needs ``answer_before_view=True``.
    """
    check_validators_option("conditional", validators, answer_before_view)
    options = make_options(
        policy=policy,
        error_format=error_format,
        type_base=type_base,
        last_modified=last_modified,
        variant=None if callable(variant) else variant,
        create=create,
        answer_before_view=answer_before_view,
    )
    async_store = as_async(store)
    keys = idempotency_options(idempotency)

    def decorator(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def protected(request: Request) -> Response:
            try:
                resource = key(request) if callable(key) else request.path_params[key]
            except KEY_ERRORS:
                return error_response(not_found_error(options, request.url.path))
            scope = "" if idempotency_scope is None else idempotency_scope(request)
            condition: ConditionalRequest | None = None
            chosen = (
                options if not callable(variant) else replace(options, variant=variant(request))
            )
            try:
                try:
                    condition = await check(
                        request,
                        async_store,
                        resource,
                        chosen,
                        idempotency=keys,
                        scope=scope,
                        peek=validators,
                    )
                    request.state.ifmatch = condition
                    response = await endpoint(request)
                except ConditionalHTTPException as exc:
                    return error_response(exc.error)
                except Exception as exc:
                    return await write_conflict_handler(request, exc)
                finally:
                    if condition is not None:
                        await condition.release_claim()
                if condition.refusal is not None and 200 <= response.status_code < 300:
                    # The endpoint granted access and wrote nothing: answer the precondition.
                    return error_response(condition.answer(condition.refusal))
                unsafe = request.method not in {"GET", "HEAD"}
                if unsafe and 200 <= response.status_code < 300 and not condition.wrote:
                    log_unguarded(logger, request.method, request.url.path)
                return condition.apply(response)
            finally:
                _end(condition)

        return protected

    return decorator


def collection(
    store: AnyStore,
    *,
    query: Callable[[Request], Any] | None = None,
    locate: Callable[[Hashable], str] | None = None,
    policy: Policy = DEFAULT_POLICY,
    error_format: ErrorFormat = "problem",
    type_base: str | None = None,
    last_modified: bool = True,
    variant: str | None = None,
    answer_before_view: bool = False,
    secret: bytes = b"",
) -> Callable[[Endpoint], Endpoint]:
    """Make a Starlette list endpoint conditional; it finds its state in
    ``request.state.ifmatch`` (a :class:`CollectionRequest`).

    ``GET``/``HEAD`` get the collection's ``ETag`` (and the newest item's ``Last-Modified``)
    and 304 to it; a ``POST``'s preconditions are evaluated against the collection's tag, and
    ``await condition.create(key, values)`` inserts the item: ``201`` with ``Location``,
    ``ETag`` and ``Last-Modified``. A false precondition waits for the endpoint's own access
    decisions, as in :func:`conditional`. ``policy``, ``error_format``, ``type_base``,
    ``last_modified``, ``variant`` and ``answer_before_view`` are as in :func:`conditional`.

    Args:
        store: the store the items live in; it must have ``read_collection``.
        query: called per request for the rows the caller may list, passed to
            ``store.read_collection`` (a ``select(...)`` for SQLAlchemy); default every row.
        locate: the URL of a created item from its key (default: the path plus ``/<key>``).
        secret: keys the collection tag, so a caller cannot confirm a guess of the rows.
    """
    options = make_options(
        policy=policy,
        error_format=error_format,
        type_base=type_base,
        last_modified=last_modified,
        variant=variant,
        create=True,
        answer_before_view=answer_before_view,
    )

    def decorator(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def listed(request: Request) -> Response:
            condition: CollectionRequest | None = None
            try:
                try:
                    chosen = None if query is None else query(request)
                    condition = await check_collection(
                        request, store, options, query=chosen, secret=secret, locate=locate
                    )
                    request.state.ifmatch = condition
                    response = await endpoint(request)
                except ConditionalHTTPException as exc:
                    return error_response(exc.error)
                except Exception as exc:
                    return await write_conflict_handler(request, exc)
                if condition.refusal is not None and 200 <= response.status_code < 300:
                    return error_response(condition.answer(condition.refusal))
                return condition.apply(response)
            finally:
                _end(condition)

        return listed

    return decorator


def _end(condition: ConditionalRequest | None) -> None:
    """Once the answer is made, ``condition`` lets go of its request
    (``ConditionalRequest.end``)."""
    if condition is not None:
        condition.end()
