"""FastAPI: a ``Depends`` dependency (or a route decorator) for race-free conditional requests.

Quick start::

    documents = Conditional(store, key="doc_id", create=True)

    @app.put("/documents/{doc_id}")
    async def put_document(doc_id: str, body: Doc,
                           condition: Annotated[ConditionalRequest, Depends(documents)]):
        await condition.write(body.model_dump())        # one conditional UPDATE
        return body                                     # ETag: the new version's tag

    install(app)    # problem+json exception handlers; OpenAPI documents the preconditions

The dependency reads the stored version (not the body) through the async store, answers 404 for
a missing resource, and lets :func:`ifmatch.core.evaluate` decide. A false precondition (304,
400, 412, 428) is answered only after every access decision of the route: app and route
dependencies run before the dependency, and those declared after it (or depending on it) and
the handler itself still run after it and may answer 401, 403 or 404; the handler's writes raise
the answer without writing, and the middleware ``install`` adds replaces a 2xx with it. So a
304 or 412 never reveals a resource the caller may not see. Nothing blocks the event loop: a
synchronous store is run in the thread pool.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import typing
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import replace
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import Field, Strict
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from ..core import DEFAULT_POLICY, PROBLEM_MEDIA_TYPE, Policy
from ..core.errors import ConfigurationError
from ..stores import Snapshot, StoreUnavailable
from ._conditional import KEY_ERRORS, check_validators_option, not_found_error, pick_key
from ._idempotency import Idempotency, idempotency_options
from .answers import SCOPE_KEY, LateAnswerMiddleware
from .head import HeadMiddleware
from .starlette import (
    EXCEPTION_HANDLERS,
    AnyStore,
    CollectionRequest,
    ConditionalHTTPException,
    ConditionalRequest,
    Loader,
    Peek,
    as_async,
    check,
    check_collection,
    make_options,
    write_conflict_handler,
)

__all__ = [
    "BodyVersion",
    "Collection",
    "CollectionRequest",
    "Idempotency",
    "Conditional",
    "ConditionalHTTPException",
    "ConditionalRequest",
    "document_route",
    "install",
    "protect",
]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

#: The type of a version carried in a request body (``condition.write(values, version=...)``):
#: a non-negative integer, strictly, so ``true`` is a 422 rather than version 1, and ``"3"`` is
#: not silently read as 3.
BodyVersion = Annotated[int, Strict(), Field(ge=0)]

_IF_MATCH = "Entity-tags of the representation the client read: the write happens only if one "
_IF_MATCH += "is current (else 412). Required on unsafe methods (else 428). `*`: any."
_IF_NONE_MATCH = "GET/HEAD: 304 if a tag is current. Writes: `*` creates only if absent."

_HEADER_PARAMETERS = (
    ("If-Match", _IF_MATCH),
    ("If-None-Match", _IF_NONE_MATCH),
)

_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string"},
        "header": {"type": "string"},
        "current_etag": {"type": "string"},
    },
}


class Conditional:
    """The dependency: ``Annotated[ConditionalRequest, Depends(Conditional(store, ...))]``.

    Args:
        store: an async compare-and-set store (a synchronous one runs in the thread pool).
        key: the path parameter naming the resource (default: the route's only one), or a
            callable taking the request.
        create: let a PUT create a missing resource (``If-None-Match: *``: create-only).
        policy: the core's policy (428 rules, warn-only, weak echo, limits).
        error_format: ``"problem"`` (RFC 9457) or ``"jsonapi"``.
        type_base: URI prefix for problem ``type`` members.
        last_modified: send ``Last-Modified`` beside ``ETag``.
        variant: tells representations of one version apart (see ``version_etag``): a string,
            or ``callable(request)`` for a route that negotiates (send ``Vary`` for what it
            reads); a write is checked against the variant it returns for the write request.
        load: ``async (key) -> object | None`` loading the resource itself; its validators
            come from the object (``snapshot``, default ``store.snapshot``) and the handler
            gets it as ``condition.instance``: no separate version query. An async generator
            yielding the object is kept open until the request ends (its session can build
            the body), and closed at once when the dependency answers; needs ``install(app)``.
        snapshot: the validators of a loaded object, e.g. ``ifmatch.stores.sqlalchemy.snapshot``.
        validators: ``async (key) -> Snapshot | None`` reading the validators alone, e.g.
            ``AsyncSQLAlchemyStore.peek`` (one statement, outside any transaction): a GET or
            HEAD carrying ``If-None-Match`` or ``If-Modified-Since`` whose copy is current is
            answered 304 from it, before ``load`` (or the store's read) runs. It must find
            what ``load`` finds (a loader that filters rows by user needs the same filter
            here). Needs ``answer_before_view=True``.
        answer_before_view: raise a false precondition's answer (304, 400, 412, 428) from the
            dependency itself, before the handler runs, so a 304 costs only the version read.
            Only for routes whose every access decision is an app or route dependency, or a
            parameter dependency declared before this one: none in the handler, none in a
            dependency resolved after this one.
        idempotency: honour ``Idempotency-Key`` on writes (``True``, or an ``Idempotency``
            that may require it on chosen methods); the store keeps the records (see
            ``docs/idempotency.md``). Needs ``install(app)``.
        idempotency_scope: who a key belongs to, from the request (e.g. the authenticated
            user's id); keys are always scoped to the resource too.

    A key function that cannot read the path (``int("abc")`` raising ``ValueError``,
    ``TypeError`` or ``KeyError``), or a loader that cannot take the key, answers as FastAPI
    would for the route's path parameters: 422 when they fail the handler's own validation,
    else 404. A key named by ``key="doc_id"`` is validated as the handler declares it.
    """

    def __init__(
        self,
        store: AnyStore,
        *,
        key: str | Callable[[Request], Hashable] | None = None,
        create: bool = False,
        policy: Policy = DEFAULT_POLICY,
        error_format: typing.Literal["problem", "jsonapi"] = "problem",
        type_base: str | None = None,
        last_modified: bool = True,
        variant: str | Callable[[Request], str | None] | None = None,
        load: Loader | None = None,
        snapshot: Callable[[Any], Snapshot] | None = None,
        answer_before_view: bool = False,
        idempotency: bool | Idempotency | None = None,
        idempotency_scope: Callable[[Request], str] | None = None,
        validators: Peek | None = None,
    ) -> None:
        check_validators_option("Conditional", validators, answer_before_view)
        self.load = load
        self.validators = validators
        self.snapshot_of = snapshot or getattr(store, "snapshot", None)
        if load is not None and self.snapshot_of is None:
            raise TypeError("Conditional(load=...) needs snapshot=... for this store")
        self.store = as_async(store)
        self.key = key
        self.idempotency = idempotency_options(idempotency)
        self.idempotency_scope = idempotency_scope
        self.variant = variant
        self.options = make_options(
            policy=policy,
            error_format=error_format,
            type_base=type_base,
            last_modified=last_modified,
            variant=None if callable(variant) else variant,
            create=create,
            answer_before_view=answer_before_view,
        )

    async def __call__(
        self,
        request: Request,
        response: Response,
    ) -> ConditionalRequest:
        # If-Match / If-None-Match are not parameters here: the core reads every raw header
        # line itself, and document_route() puts them in the OpenAPI schema without FastAPI
        # validating two more parameters on every request.
        key = self.resource_key(request)
        installed = SCOPE_KEY in request.scope
        if self.idempotency is not None and not installed:
            raise ConfigurationError(
                "Conditional(idempotency=...) needs install(app): its middleware releases the "
                "claim of a request that ended without its write"
            )
        scope = "" if self.idempotency_scope is None else self.idempotency_scope(request)
        options = self.options
        if callable(self.variant):
            options = replace(options, variant=self.variant(request))
        condition = await check(
            request,
            self.store,
            key,
            options,
            load=self.load,
            snapshot_of=self.snapshot_of,
            idempotency=self.idempotency,
            scope=scope,
            peek=self.validators,
        )
        if condition.refusal is not None and not installed:
            # Without install()'s middleware nothing could replace the route's 2xx later.
            raise ConditionalHTTPException(condition.refusal)
        request.state.ifmatch = condition  # for write_conflict_handler and the middleware
        condition.response = response
        condition.serve(condition.snapshot)
        return condition

    def resource_key(self, request: Request) -> Hashable:
        """The resource's key: the key function's result, or the named path parameter as the
        handler declares it (``doc_id: int``).

        Raises:
            RequestValidationError: the path parameters fail the handler's validation (422).
            ConditionalHTTPException: the key function cannot read the path (404).
        """
        if callable(self.key):
            try:
                return self.key(request)
            except KEY_ERRORS:
                _validated_path(request)
                path = request.url.path
                raise ConditionalHTTPException(not_found_error(self.options, path)) from None
        raw = pick_key(self.key, request.path_params, "Conditional()", "path parameter")
        name = self.key if self.key is not None else next(iter(request.path_params))
        return _validated_path(request).get(name, raw)  # type: ignore[no-any-return]


class Collection:
    """The dependency of a list route: ``Annotated[CollectionRequest, Depends(Collection(store,
    ...))]``.

    ``GET``/``HEAD`` get the collection's ``ETag`` (and the newest item's ``Last-Modified``)
    and 304 to it; a ``POST``'s preconditions are evaluated against the collection's tag, and
    ``await listing.create(key, values)`` inserts the item: ``201`` (set it on the route) with
    ``Location``, ``ETag`` and ``Last-Modified``. A false precondition waits for the route's
    own access decisions, as with :class:`Conditional`; ``install(app)`` is required.
    ``policy``, ``error_format``, ``type_base``, ``last_modified``, ``variant`` and
    ``answer_before_view`` are as for :class:`Conditional`.

    Args:
        store: the store the items live in; it must have ``read_collection`` (the SQLAlchemy
            and memory stores; a synchronous one runs in the thread pool).
        query: ``callable(request)`` returning the rows the caller may list, passed to
            ``store.read_collection`` (``select(Document).where(...)`` for SQLAlchemy);
            default every row.
        locate: the URL of a created item from its key (default: the path plus ``/<key>``).
        secret: keys the collection tag, so a caller cannot confirm a guess of the rows.
    """

    idempotency: Idempotency | None = None

    def __init__(
        self,
        store: AnyStore,
        *,
        query: Callable[[Request], Any] | None = None,
        locate: Callable[[Hashable], str] | None = None,
        policy: Policy = DEFAULT_POLICY,
        error_format: typing.Literal["problem", "jsonapi"] = "problem",
        type_base: str | None = None,
        last_modified: bool = True,
        variant: str | None = None,
        answer_before_view: bool = False,
        secret: bytes = b"",
    ) -> None:
        if not hasattr(store, "read_collection"):
            raise TypeError("Collection() needs a store with read_collection()")
        self.store = as_async(store)
        self.query, self.locate, self.secret = query, locate, secret
        self.options = make_options(
            policy=policy,
            error_format=error_format,
            type_base=type_base,
            last_modified=last_modified,
            variant=variant,
            create=True,
            answer_before_view=answer_before_view,
        )

    async def __call__(self, request: Request, response: Response) -> CollectionRequest:
        installed = SCOPE_KEY in request.scope
        condition = await check_collection(
            request,
            self.store,
            self.options,
            query=None if self.query is None else self.query(request),
            secret=self.secret,
            locate=self.locate,
        )
        if condition.refusal is not None and not installed:
            raise ConditionalHTTPException(condition.refusal)
        condition.response = response
        condition.apply(response, unconditionally=True)
        request.state.ifmatch = condition
        return condition


def _validated_path(request: Request) -> dict[str, Any]:
    """The route's path parameters validated as its handler declares them, as FastAPI does
    after the dependencies run; the dependency needs them first.

    Raises:
        RequestValidationError: as FastAPI would raise it for these parameters (422).
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return {}
    values, errors = request_params_to_args(route.dependant.path_params, request.path_params)
    if errors:
        raise RequestValidationError(errors)
    return values


def protect(store: AnyStore, **options: Any) -> Callable[[F], F]:
    """Route decorator: the handler gets a ``condition: ConditionalRequest`` argument.

    ``@app.put(...)`` above ``@protect(store, key="doc_id")`` above ``async def handler(...,
    condition)``; the keywords are :class:`Conditional`'s.
    """
    dependency = Conditional(store, **options)

    def decorator(endpoint: F) -> F:
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError("protect() needs an async handler: writes are awaited")
        hints = typing.get_type_hints(endpoint, include_extras=True)
        signature = inspect.signature(endpoint)
        wants = "condition" in signature.parameters
        params = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in signature.parameters.values()
            if p.name != "condition" and p.kind is not p.VAR_KEYWORD
        ]
        params.append(
            inspect.Parameter(
                "condition",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[ConditionalRequest, Depends(dependency)],
            )
        )

        @functools.wraps(endpoint)
        async def protected(*args: Any, condition: ConditionalRequest, **kwargs: Any) -> Any:
            if wants:
                kwargs["condition"] = condition
            return await endpoint(*args, **kwargs)

        protected.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=params, return_annotation=hints.get("return", signature.return_annotation)
        )
        return protected  # type: ignore[return-value]

    return decorator


def _dependants(route: APIRoute) -> Iterator[Dependant]:
    """The route's dependant and every sub-dependency's, depth first."""
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        yield dependant
        pending.extend(dependant.dependencies)


def _conditionals(route: APIRoute) -> list[Conditional | Collection]:
    found = (d.call for d in _dependants(route))
    return [call for call in found if isinstance(call, Conditional | Collection)]


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_SCHEMA}},
    }


_IDEMPOTENCY_KEY = (
    "A unique key per logical write (an RFC 8941 String, or a bare token), sent again "
    "unchanged on every retry: a retry of a write that committed gets its first answer again "
    "(`Idempotent-Replayed: true`), 409 while it is still in flight, 422 if the key was used "
    "with another request."
)


def _document_headers(route: APIRoute, keys: Idempotency | None = None) -> None:
    """List If-Match and If-None-Match (and Idempotency-Key where keys are honoured) among the
    operation's parameters (once, and not where the handler declares the header itself)."""
    declared = {(p.alias or p.name).lower() for d in _dependants(route) for p in d.header_params}
    extra = route.openapi_extra if route.openapi_extra is not None else {}
    parameters = extra.setdefault("parameters", [])
    declared |= {
        str(p.get("name", "")).lower()
        for p in parameters
        if isinstance(p, dict) and p.get("in") == "header"
    }
    wanted = [(name, description, False) for name, description in _HEADER_PARAMETERS]
    methods = route.methods or set()
    if keys is not None and methods & keys.methods:
        wanted.append(("Idempotency-Key", _IDEMPOTENCY_KEY, bool(methods <= keys.required)))
    for name, description, required in wanted:
        if name.lower() not in declared:
            parameters.append(
                {
                    "name": name,
                    "in": "header",
                    "required": required,
                    "description": description,
                    "schema": {"type": "string", "title": name},
                }
            )
    route.openapi_extra = extra


def document_route(route: APIRoute) -> None:
    """Add the ``ETag`` header and the 304/400/404/412/428 responses to a protected route's
    OpenAPI operation (``install`` does this for every route before the schema is built)."""
    conditionals = _conditionals(route)
    if not conditionals:
        return
    keys = conditionals[0].idempotency
    _document_headers(route, keys)
    methods = route.methods or set()
    policy = conditionals[0].options.policy
    responses: dict[int | str, Any] = route.responses
    success = route.status_code or 200
    if methods - {"DELETE"}:
        headers = responses.setdefault(success, {}).setdefault("headers", {})
        headers["ETag"] = {
            "description": "Strong entity-tag of the version this response carries.",
            "schema": {"type": "string"},
        }
    if methods & {"GET", "HEAD"}:
        responses.setdefault(304, {"description": "Not Modified: If-None-Match matched."})
    responses.setdefault(400, _problem("Malformed If-Match / If-None-Match header."))
    responses.setdefault(404, _problem("The resource does not exist."))
    responses.setdefault(412, _problem("Precondition Failed: the resource has changed."))
    if methods & policy.require_precondition and not policy.warn_only:
        responses.setdefault(428, _problem("Precondition Required: send If-Match."))
    if keys is not None and methods & keys.methods:
        responses.setdefault(409, _problem("A request with this Idempotency-Key is in flight."))
        responses.setdefault(422, _problem("This Idempotency-Key was used with another request."))
    if 503 not in responses:
        responses[503] = _problem("The database could not be reached; see Retry-After.")


def serves_head(route: BaseRoute) -> bool:
    """Whether ``install``'s middleware answers ``HEAD`` with this route: a ``GET`` route whose
    dependencies include a ``Conditional`` (when no route of the app answers ``HEAD`` itself)."""
    return (
        isinstance(route, APIRoute)
        and "GET" in (route.methods or set())
        and "HEAD" not in (route.methods or set())
        and bool(_conditionals(route))
    )


def document_head(app: FastAPI, schema: dict[str, Any]) -> None:
    """Add the ``HEAD`` operation ``install``'s middleware serves beside each protected ``GET``
    (the ``GET``'s parameters and responses, without content; its own ``operationId``)."""
    for route in app.routes:
        if not (isinstance(route, APIRoute) and route.include_in_schema and serves_head(route)):
            continue
        item = schema.get("paths", {}).get(route.path_format)
        if not isinstance(item, dict) or "get" not in item or "head" in item:
            continue
        get = item["get"]
        head = {**get, "responses": {}}
        if "operationId" in head:
            head["operationId"] = f"{get['operationId']}_head"
        head["summary"] = f"{get.get('summary', '')} (HEAD)".strip()
        for status, response in get.get("responses", {}).items():
            head["responses"][status] = {k: v for k, v in response.items() if k != "content"}
        item["head"] = head


def install(app: FastAPI) -> FastAPI:
    """Register the problem+json exception handlers, the middleware that answers a false
    precondition after the route's own access decisions
    (:class:`~ifmatch.integrations.answers.LateAnswerMiddleware`), the one that answers
    ``HEAD`` like ``GET`` on protected routes (:class:`~ifmatch.integrations.head.HeadMiddleware`;
    a route declared for ``HEAD`` by the app wins), and document protected routes in OpenAPI,
    their ``HEAD`` operations included.

    With SQLAlchemy installed, a serialization failure or deadlock raised by a protected
    handler's own ``commit()`` is answered 412 (409 without a precondition) instead of 500, and
    a database that cannot be reached or a connection lost mid-request, in any route, 503 with
    ``Retry-After`` (:func:`~ifmatch.integrations.starlette.write_conflict_handler`), unless
    the app already has a handler for ``sqlalchemy.exc.DBAPIError``. ``StoreUnavailable``
    (e.g. from the Redis store) is answered 503 as well.
    """
    for exc_class, handler in EXCEPTION_HANDLERS.items():
        app.add_exception_handler(exc_class, handler)
    app.add_exception_handler(StoreUnavailable, write_conflict_handler)
    if app.middleware_stack is not None:
        raise RuntimeError("install(app) must run before the application starts")
    installed: list[Any] = [m.cls for m in app.user_middleware]
    if HeadMiddleware not in installed:
        # HEAD like GET for every protected GET route the app does not answer HEAD for itself.
        app.user_middleware.append(
            Middleware(HeadMiddleware, routes=lambda: app.routes, serves_head=serves_head)
        )
    if LateAnswerMiddleware not in installed:
        # Innermost of the app's own middleware, whenever they are added: an answer given in
        # place of a route's 2xx passes through all of them (Date, CORS, compression).
        app.user_middleware.append(Middleware(LateAnswerMiddleware))
    if importlib.util.find_spec("sqlalchemy") is not None:
        from sqlalchemy.exc import DBAPIError

        if DBAPIError not in app.exception_handlers:
            app.add_exception_handler(DBAPIError, write_conflict_handler)
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for route in app.routes:
                if isinstance(route, APIRoute):
                    document_route(route)
            schema = original()
            document_head(app, schema)
            return schema
        return original()

    app.openapi = openapi  # type: ignore[method-assign]
    return app
