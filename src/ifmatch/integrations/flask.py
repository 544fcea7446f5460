"""Flask: version-derived ETags, 304/412/428/409, and writes the database checks atomically.

Quick start::

    ifmatch = IfMatch(app, store=SQLAlchemyStore(Document, db.session))

    @app.route("/documents/<int:doc_id>", methods=["GET", "PUT", "DELETE"])
    @ifmatch.protect()
    def document(doc_id):
        condition = current_condition()
        if request.method == "PUT":
            condition.write(request.get_json())      # UPDATE ... WHERE version IN (...)
        elif request.method == "DELETE":
            condition.delete()
            return "", 204
        return jsonify(load(doc_id))

Before the view runs, the decorator reads the stored version (not the body), answers 404 for a
missing resource, then lets :func:`ifmatch.core.evaluate` decide. A false precondition (304,
400, 412, 428) is answered only after the view's own access decisions: the view runs, may answer
401, 403 or 404 itself (``abort(403)``, a ``login_required`` below ``protect``), its
``condition.write()`` / ``delete()`` raise the answer without writing, and a 2xx it returns is
replaced by the answer. ``protect(answer_before_view=True)`` answers before calling the view,
for views whose access checks are all in ``authorize=`` or ``before_request``. After a 2xx it
sends the ``ETag`` (and ``Last-Modified``) of the version the response carries: the new one
after a write. Werkzeug's ``make_conditional`` is not used: it answers ``If-Match: *`` with 412
and ignores If-Unmodified-Since.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from flask.views import View
from werkzeug.exceptions import Forbidden, HTTPException, InternalServerError

from ..core import ETag, Policy, Proceed
from ..stores import (
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
    HTTPError,
    Options,
    check_validators_option,
    collection_precheck,
    idempotency_error,
    location,
    log_unguarded,
    not_found_error,
    not_modified,
    pick_key,
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

__all__ = [
    "CONFIG_DEFAULTS",
    "CollectionRequest",
    "ConditionalError",
    "ConditionalRequest",
    "IfMatch",
    "current_collection",
    "current_condition",
]

logger = logging.getLogger("ifmatch.flask")
F = TypeVar("F", bound=Callable[..., Any])
KeySpec = str | Callable[..., Hashable] | None

#: Flask config keys and their defaults (``app.config``), read at request time.
CONFIG_DEFAULTS: Mapping[str, Any] = {
    "IFMATCH_ENABLED": True,  # the on/off switch: False sends no ETags and checks nothing
    "IFMATCH_REQUIRE_PRECONDITION": ("PUT", "PATCH", "DELETE"),  # 428 without one
    "IFMATCH_WARN_ONLY": False,  # log instead of 428, for migrating existing clients
    "IFMATCH_ACCEPT_WEAK_ECHO": False,  # accept W/"v3" in If-Match (compressing proxies)
    "IFMATCH_ACCEPT_BARE_VERSION_TOKEN": True,  # accept If-Match: v3 (a bare _etag); False: 400
    "IFMATCH_UNMODIFIED_SINCE_COUNTS": True,  # If-Unmodified-Since satisfies the 428 rule
    "IFMATCH_ERROR_FORMAT": "problem",  # or "jsonapi"
    "IFMATCH_PROBLEM_TYPE_BASE": None,  # URI prefix for problem "type" members
    "IFMATCH_LAST_MODIFIED": True,  # send Last-Modified beside ETag
    "IFMATCH_IDEMPOTENCY": False,  # honour Idempotency-Key (True, or an Idempotency)
    "IFMATCH_MAX_TAGS": 64,
    "IFMATCH_MAX_HEADER_LENGTH": 8190,
}


class ConditionalError(HTTPException):
    """A 304, 400, 404, 409, 412 or 428 answer with its problem body already rendered.

    An ``HTTPException``; ``@app.errorhandler(412)`` (or 304, 428, ...) takes it over, an app's
    catch-all ``errorhandler(Exception)`` does not (see :meth:`IfMatch.init_app`). The problem
    object is in ``.problem``.
    """

    def __init__(self, error: HTTPError) -> None:
        detail = None if error.problem is None else error.problem.get("detail")
        super().__init__(description=detail)
        self.code = error.status
        self.problem = error.problem
        self.error = error

    def get_response(self, environ: Any = None, scope: Any = None) -> Response:
        response = Response(self.error.body, status=self.error.status)
        if not self.error.body:
            del response.headers["Content-Type"]  # a 304, or a replayed answer
        for name, value in self.error.headers:
            response.headers[name] = value
        return response


def _answer(error: ConditionalError) -> Any:
    """ifmatch's answer, or the app's (or blueprint's) own handler for its status code.

    Flask finds handlers by the exception's class, whose code is set per instance here, so a
    handler registered with ``@app.errorhandler(412)`` is looked up by the code explicitly.
    """
    spec = current_app.error_handler_spec
    for name in (*request.blueprints, None):
        handlers = spec.get(name, {}).get(error.code)
        if handlers:
            return current_app.ensure_sync(next(iter(handlers.values())))(error)
    return error.get_response()


class ConditionalRequest(ConditionalState):
    """What a protected view gets from :func:`current_condition`: ``key``, ``snapshot``
    (validators when checked; ``None`` if the resource did not exist), ``etag``,
    ``instance``, ``decision``, ``expectation``, and the two writes below."""

    def __init__(
        self,
        store: VersionStore[Any],
        key: Hashable,
        snapshot: Snapshot | None,
        decision: Proceed,
        options: Options,
        *,
        refusal: HTTPError | None = None,
        claim: Claim | None = None,
    ) -> None:
        super().__init__(key, snapshot, decision, options, refusal=refusal, claim=claim)
        self.store = store

    def write(
        self, values: Mapping[str, Any], *, version: int | None = None, status: int | None = None
    ) -> Snapshot:
        """Apply ``values`` in one compare-and-set; create the resource if the request may.

        Args:
            values: the columns/fields to store.
            version: the version the client sent in the body (409 scheme), if any.
            status: the status the view answers a keyed write with, recorded with the write for
                a retry of the same ``Idempotency-Key`` (default 200, 201 for a create).

        Returns:
            The new snapshot; its tag is sent as the response's ``ETag``.

        Raises:
            ConditionalError: 412 (another writer won), 409 (``version`` is stale), 404; the
                first answer again when another attempt of the same key wrote first.
        """
        expect = self.expect(version)
        completion = self.completion(status, deleting=False, location=location(request.path))
        if completion is None:
            result = self.store.compare_and_set(self.key, expect, values)
        else:
            result = self._keyed(
                self.store.compare_and_set(self.key, expect, values, completion=completion)  # type: ignore[call-arg]
            )
        return self._apply(result, expect, version)

    def delete(self, *, version: int | None = None, status: int | None = None) -> Snapshot:
        """Delete the resource in one compare-and-delete; raises like :meth:`write`."""
        expect = self.expect(version)
        completion = self.completion(status, deleting=True, location=None)
        if completion is None:
            result = self.store.compare_and_delete(self.key, expect)
        else:
            result = self._keyed(
                self.store.compare_and_delete(self.key, expect, completion=completion)  # type: ignore[call-arg]
            )
        snapshot = self._apply(result, expect, version)
        self.served = None
        return snapshot

    def _keyed(self, result: CASResult) -> CASResult:
        # A keyed write that did not apply may have lost to another attempt of the same key
        # (a retry that took over a claim): then answer as that attempt was answered.
        if not result.won and self.claim is not None:
            record = self.store.lookup(self.claim.record.id)  # type: ignore[attr-defined]
            if twin_completed(self.claim, record):
                raise ConditionalError(replay_error(record, self.options))
        return result

    def serve(self, snapshot: Snapshot) -> None:
        """Declare the version the response body was built from (when the view read it again)."""
        self.served = snapshot

    def _apply(self, result: CASResult, expect: Expectation, version: int | None) -> Snapshot:
        return self.settle(result, expect, version, request.path)

    def failure(self, error: HTTPError) -> Exception:
        return ConditionalError(error)


class CollectionRequest(ConditionalRequest):
    """What a collection view gets from :func:`current_collection`: the collection's ``etag``
    and ``state`` (``None`` when the request did not need them: a ``POST`` without a
    precondition), ``refused``, and :meth:`create`."""

    def __init__(
        self,
        store: VersionStore[Any],
        decision: Proceed,
        options: Options,
        *,
        refusal: HTTPError | None,
        collection: tuple[ETag, CollectionState] | None,
        locate: Callable[[Hashable], str],
    ) -> None:
        super().__init__(store, None, None, decision, options, refusal=refusal)
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
        collection (evaluated before the view ran); a false one raises its answer here."""
        if self.refusal is not None:
            raise self.failure(self.refusal)
        return Expectation(exists=False)

    def create(
        self, key: Hashable, values: Mapping[str, Any], *, status: int | None = None
    ) -> Snapshot:
        """Insert a new item under ``key`` (an ``INSERT`` that fails if the key is taken).

        The response then carries the item's ``ETag``, ``Last-Modified`` and, on a ``201``,
        ``Location`` (``locate(key)``).

        Raises:
            ConditionalError: the waiting answer when the request's preconditions are false
                (nothing is inserted); 412 (``code: exists``) when the key is taken.
        """
        self.key = key
        snapshot = self.write(values, status=status)
        self.location = self.locate(key)
        return snapshot


def current_collection() -> CollectionRequest:
    """The :class:`CollectionRequest` of the collection view handling this request."""
    condition = g.get("_ifmatch_condition")
    if not isinstance(condition, CollectionRequest):
        raise RuntimeError("current_collection() is only available inside a @collection view")
    return condition


def _write_conflict_handler(
    previous: Callable[[InternalServerError], Any] | None,
) -> Callable[[InternalServerError], Any]:
    def handle(error: InternalServerError) -> Any:
        original = error.original_exception
        condition: ConditionalRequest | None = g.get("_ifmatch_condition")
        if original is not None and is_unavailable(original):
            options = Options() if condition is None else condition.options
            failure = unavailable_error(request.method, options, request.path)
            return ConditionalError(failure).get_response()
        if condition is not None and original is not None and is_write_conflict(original):
            conflict = write_conflict_error(request.headers, condition.options, request.path)
            return ConditionalError(conflict).get_response()
        return error if previous is None else previous(error)

    return handle


def current_condition() -> ConditionalRequest:
    """The :class:`ConditionalRequest` of the protected view handling this request."""
    condition: ConditionalRequest | None = g.get("_ifmatch_condition")
    if condition is None:
        raise RuntimeError("current_condition() is only available inside an @protect view")
    return condition


class IfMatch:
    """The Flask extension: ``IfMatch(app, store=...)`` or ``IfMatch(store=...).init_app(app)``."""

    def __init__(self, app: Flask | None = None, *, store: VersionStore[Any] | None = None) -> None:
        self.store = store
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register the extension and fill in the ``IFMATCH_*`` config defaults.

        Registers a handler for :class:`ConditionalError`, so catch-all handlers for
        ``Exception`` or ``HTTPException`` leave ifmatch's answers as they are; a handler for
        the status code (``@app.errorhandler(412)``) takes over.

        Also registers a 500 handler (chained to one registered before) that answers a
        serialization failure or deadlock raised after a protected view returned, e.g. by a
        ``db.session.commit()`` in an ``after_request`` function, with 412 (409 without a
        precondition) instead of 500, and a database that cannot be reached or a connection
        lost mid-request, in any view, with 503 and ``Retry-After``. Failures raised inside a
        protected view are answered by :meth:`protect` itself.
        """
        for name, value in CONFIG_DEFAULTS.items():
            app.config.setdefault(name, value)
        app.extensions["ifmatch"] = self
        # A handler for the class itself, so an app's catch-all ``errorhandler(Exception)`` or
        # ``errorhandler(HTTPException)`` (or a library's, such as flask-rest-jsonapi's) does
        # not turn a 304 into one without its ETag, or a 412 into one without its problem body.
        # ``@app.errorhandler(412)`` takes over (see ``_answer``).
        app.register_error_handler(ConditionalError, _answer)
        previous = app.error_handler_spec[None][500].get(InternalServerError)
        app.register_error_handler(InternalServerError, _write_conflict_handler(previous))

    def protect(
        self,
        store: VersionStore[Any] | None = None,
        *,
        key: KeySpec = None,
        create: bool = False,
        variant: str | Callable[[], str | None] | None = None,
        require: Iterable[str] | None = None,
        authorize: Callable[[Hashable], object] | None = None,
        load: Callable[[Hashable], Any] | None = None,
        snapshot: Callable[[Any], Snapshot] | None = None,
        answer_before_view: bool = False,
        idempotency: bool | Idempotency | None = None,
        idempotency_scope: Callable[[], str] | None = None,
        validators: Callable[[Hashable], Snapshot | None] | None = None,
    ) -> Callable[[F], F]:
        """Decorate a view function, or a ``MethodView`` class, to make it conditional.

        Args:
            store: the compare-and-set store (default: the extension's).
            key: the view argument naming the resource, or a callable taking the view's
                keyword arguments; by default the view's only argument.
            create: let a PUT create a missing resource (``If-None-Match: *`` for create-only).
            variant: tell representations of one version apart (see ``version_etag``): a
                string, or a function called per request for a view that negotiates (e.g.
                ``lambda: request.accept_mimetypes.best_match(["application/json",
                "text/html"])``); send ``Vary`` for what it reads. A write is checked against
                the variant it returns for the write request.
            require: methods that need a precondition (default ``IFMATCH_REQUIRE_PRECONDITION``;
                ``()`` for the 409 body-version scheme).
            authorize: called with the key before anything about the resource is revealed;
                ``abort(403)`` there, or return ``False`` (403). Runs after ``before_request``
                authentication.
            load: load the resource itself (``lambda key: db.session.get(Document, key)``,
                ``None`` if missing) instead of reading only its version: the validators come
                from the loaded object and the view gets it as ``condition.instance``, so a
                view that needs the row anyway pays no extra query.
            snapshot: the validators of a loaded object (default: ``store.snapshot``).
            answer_before_view: answer a false precondition (304, 400, 412, 428) before calling
                the view, so a 304 costs only the version read. Only for a view that makes no
                access decision of its own: all of them in ``authorize=``, ``before_request``
                or decorators above ``protect``. By default the view runs first (see the
                module's docstring).
            idempotency: honour ``Idempotency-Key`` on writes (``True``, or an
                :class:`~ifmatch.integrations.Idempotency` that may require it); ``None``
                follows ``IFMATCH_IDEMPOTENCY``. The store keeps the records (see
                ``docs/idempotency.md``).
            idempotency_scope: who a key belongs to, e.g. ``lambda: str(current_user.id)``;
                keys are always scoped to the resource too.
            validators: ``(key) -> Snapshot | None`` reading the validators alone, e.g.
                ``SQLAlchemyStore.peek`` (one statement, outside any transaction): a GET or
                HEAD carrying ``If-None-Match`` or ``If-Modified-Since`` whose copy is current
                is answered 304 from it, before ``load`` (or the store's read) runs. It must
                find what ``load`` finds (a loader that filters rows by user needs the same
                filter here). Needs ``answer_before_view=True``.
        """
        check_validators_option("protect", validators, answer_before_view)
        chosen = store if store is not None else self.store
        if chosen is None:
            raise TypeError("protect() needs a store, here or in IfMatch(store=...)")
        snapshot_of = snapshot or getattr(chosen, "snapshot", None)
        if load is not None and snapshot_of is None:
            raise TypeError("protect(load=...) needs snapshot=... for this store")
        methods = None if require is None else frozenset(m.upper() for m in require)
        settings = _Route(
            chosen,
            key,
            create,
            variant,
            methods,
            authorize,
            load,
            snapshot_of,
            answer_before_view,
            idempotency,
            idempotency_scope,
            validators,
        )

        def decorator(view: F) -> F:
            if isinstance(view, type) and issubclass(view, View):
                view.decorators = [*view.decorators, decorator]
                return view

            @functools.wraps(view)
            def protected(*args: Any, **kwargs: Any) -> Response:
                return settings.dispatch(view, *args, **kwargs)

            return protected  # type: ignore[return-value]

        return decorator

    def collection(
        self,
        store: VersionStore[Any] | None = None,
        *,
        query: Callable[[], Any] | None = None,
        locate: Callable[[Hashable], str] | None = None,
        variant: str | None = None,
        require: Iterable[str] | None = None,
        answer_before_view: bool = False,
        secret: bytes | None = None,
    ) -> Callable[[F], F]:
        """Decorate a list view: ``ETag`` and 304 for ``GET``/``HEAD``, and ``POST`` through
        :meth:`CollectionRequest.create`, answered ``201`` with ``Location``, ``ETag`` and
        ``Last-Modified``, with its preconditions evaluated against the collection's tag.

        Args:
            store: the store the items live in (default: the extension's); it must have
                ``read_collection`` (the SQLAlchemy and memory stores).
            query: called per request for the rows the caller may list, passed to
                ``store.read_collection``: a ``select(Document).where(...)`` for SQLAlchemy, a
                ``(key, values) -> bool`` for the memory store. Default: every row.
            locate: the URL of a created item from its key (default: the collection's path
                plus ``/<key>``), e.g. ``lambda key: url_for("document", doc_id=key)``.
            variant: tell representations of one collection apart.
            require: methods that need a precondition (default: the config's; ``POST`` is
                not in it unless you add it).
            answer_before_view: answer a false precondition before calling the view (only for
                views that make no access decision of their own).
            secret: keys the collection tag (default: ``app.secret_key``), so a caller cannot
                confirm a guess of the rows by hashing candidates.
        """
        chosen = store if store is not None else self.store
        if chosen is None or not hasattr(chosen, "read_collection"):
            raise TypeError("collection() needs a store with read_collection()")
        methods = None if require is None else frozenset(m.upper() for m in require)
        listing = _Collection(chosen, query, locate, variant, methods, answer_before_view, secret)

        def decorator(view: F) -> F:
            @functools.wraps(view)
            def listed(*args: Any, **kwargs: Any) -> Response:
                return listing.dispatch(view, *args, **kwargs)

            return listed  # type: ignore[return-value]

        return decorator


@dataclass
class _Collection:
    store: VersionStore[Any]
    query: Callable[[], Any] | None
    locate: Callable[[Hashable], str] | None
    variant: str | None
    require: frozenset[str] | None
    answer_before_view: bool
    secret: bytes | None
    cache: dict[tuple[Any, ...], Options] = field(default_factory=dict)

    def options(self, config: Mapping[str, Any]) -> Options:
        def build(values: Mapping[str, Any]) -> Options:
            return build_options(
                values,
                require=self.require,
                variant=self.variant,
                create=True,
                answer_before_view=self.answer_before_view,
            )

        return cached_options(self.cache, config, build)

    def read(self) -> tuple[ETag, CollectionState]:
        store: Any = self.store
        state: CollectionState = store.read_collection(None if self.query is None else self.query())
        secret = self.secret
        if secret is None:
            configured = current_app.secret_key
            secret = configured.encode() if isinstance(configured, str) else configured or b""
        target = request.full_path.rstrip("?")
        return state.etag(target=target, variant=self.variant, key=secret), state

    def location(self, key: Hashable) -> str:
        if self.locate is not None:
            return self.locate(key)
        return location(f"{request.path.rstrip('/')}/{key}")

    def dispatch(self, view: Callable[..., Any], *args: Any, **kwargs: Any) -> Response:
        config = current_app.config
        if not config.get("IFMATCH_ENABLED", True):
            return current_app.make_response(view(*args, **kwargs))
        options = self.options(config)
        method = request.method
        read: list[tuple[ETag, CollectionState]] = []

        def etag() -> ETag:
            read.append(self.read())
            return read[-1][0]

        try:
            answer = collection_precheck(
                method,
                request.headers,
                etag,
                options,
                request.path,
                has_precondition=any(name in request.headers for name in PRECONDITION_FIELDS),
            )
            if method in {"GET", "HEAD"} and not read:
                etag()
        except Exception as error:
            if is_unavailable(error):
                raise ConditionalError(unavailable_error(method, options, request.path)) from error
            raise
        ready = waiting(answer, options)
        if isinstance(ready, HTTPError):
            raise ConditionalError(ready)
        decision, refusal = ready
        condition = CollectionRequest(
            self.store,
            decision,
            options,
            refusal=refusal,
            collection=read[-1] if read else None,
            locate=self.location,
        )
        g._ifmatch_condition = condition
        response = current_app.make_response(view(*args, **kwargs))
        if not 200 <= response.status_code < 300:
            return response
        if refusal is not None:
            raise ConditionalError(refusal)
        if condition.wrote:
            for name, value in validator_headers(condition.served, options):
                response.headers[name] = value
            if response.status_code == 201 and condition.location is not None:
                response.headers.setdefault("Location", condition.location)
        elif method in {"GET", "HEAD"} and condition.state is not None:
            response.headers["ETag"] = str(condition.collection_etag)
            newest = condition.state.last_modified
            for name, value in last_modified_fields(newest, send=options.send_last_modified):
                response.headers[name] = value
        return response


class _NoSuchResource(Exception):
    """The path names no resource: the key function or the loader could not take it."""


@dataclass
class _Route:
    store: VersionStore[Any]
    key: KeySpec
    create: bool
    variant: str | Callable[[], str | None] | None
    require: frozenset[str] | None
    authorize: Callable[[Hashable], object] | None
    load: Callable[[Hashable], Any] | None
    snapshot_of: Callable[[Any], Snapshot] | None
    answer_before_view: bool
    idempotency: bool | Idempotency | None
    idempotency_scope: Callable[[], str] | None
    validators: Callable[[Hashable], Snapshot | None] | None = None
    cache: dict[tuple[Any, ...], Options] = field(default_factory=dict)

    def dispatch(self, view: Callable[..., Any], *args: Any, **kwargs: Any) -> Response:
        config = current_app.config
        options = self.options(config)
        if callable(self.variant):
            options = replace(options, variant=self.variant())
        try:
            return self.respond(view, options, args, kwargs)
        except HTTPException:
            raise
        except Exception as error:
            # E.g. the view's own db.session.commit() failed on a serialization failure, or the
            # database went away.
            if is_unavailable(error):
                failure = unavailable_error(request.method, options, request.path)
                raise ConditionalError(failure) from error
            if not is_write_conflict(error):
                raise
            conflict = write_conflict_error(request.headers, options, request.path)
            raise ConditionalError(conflict) from error

    def respond(
        self, view: Callable[..., Any], options: Options, args: Any, kwargs: dict[str, Any]
    ) -> Response:
        try:
            key = self.resolve_key(kwargs)
            if self.authorize is not None and self.authorize(key) is False:
                raise Forbidden()
            if (
                self.validators is not None
                and revalidates(request.method, request.headers)
                and current_app.config.get("IFMATCH_ENABLED", True)
            ):
                self.answer_current(key, options)  # a 304 from the validators alone
            instance, snapshot = self.read(key)
        except _NoSuchResource:
            raise ConditionalError(not_found_error(options, request.path)) from None
        method = request.method
        claim = self.claim(method, key, options)
        echo: tuple[str, str] | None = g.get("_ifmatch_echo")
        try:
            response = self.proceed(view, options, args, kwargs, key, instance, snapshot, claim)
        except ConditionalError as error:
            if echo is None:
                raise
            raise ConditionalError(error.error.with_header(echo)) from error
        finally:
            condition: ConditionalRequest | None = g.get("_ifmatch_condition")
            if claim is not None and (condition is None or not condition.wrote):
                self.release(claim)
        if echo is not None:
            response.headers[echo[0]] = echo[1]
        return response

    def claim(self, method: str, key: Hashable, options: Options) -> Claim | None:
        """The request's ``Idempotency-Key`` claimed, or ``None`` when it carries none; a replay,
        a key in flight or reused, and a malformed or missing key are answered here."""
        settings = self.idempotency
        if settings is None:
            settings = current_app.config.get("IFMATCH_IDEMPOTENCY", False)
        chosen = idempotency_options(settings)
        if chosen is None:
            return None
        scope = "" if self.idempotency_scope is None else self.idempotency_scope()
        target = request.full_path.rstrip("?")
        keyed = keyed_request(
            chosen,
            method,
            request.headers.items(),
            scope=f"{scope}\x1f{request.path}",
            target=target,
            body=lambda: request.get_data(cache=True),
        )
        if keyed is None:
            return None
        if isinstance(keyed, dict):
            raise ConditionalError(idempotency_error(keyed, options))
        store: Any = self.store
        found = store.claim(
            keyed.id, keyed.fingerprint, retention=chosen.retention, in_flight=chosen.in_flight
        )
        outcome = judged(found, request.path)
        if outcome.replay is not None:
            raise ConditionalError(replay_error(outcome.replay, options).with_header(keyed.echo))
        if outcome.problem is not None:
            error = idempotency_error(outcome.problem, options)
            raise ConditionalError(error.with_header(keyed.echo))
        g._ifmatch_echo = keyed.echo
        return outcome.claim

    def release(self, claim: Claim) -> None:
        # The request ended without its write: a retry of the key may go on at once. Safe
        # whatever happened: a record whose write committed is done, and is not released.
        store: Any = self.store
        try:
            store.release(claim.record.id, claim.record.attempt)
        except Exception:  # the database may be the reason the request failed
            logger.warning("ifmatch: could not release an idempotency claim", exc_info=True)

    def proceed(
        self,
        view: Callable[..., Any],
        options: Options,
        args: Any,
        kwargs: dict[str, Any],
        key: Hashable,
        instance: Any,
        snapshot: Snapshot | None,
        claim: Claim | None,
    ) -> Response:
        config = current_app.config
        method = request.method
        answer = precheck(
            method,
            request.headers,
            snapshot,
            options,
            request.path,
            logger=logger,
            evaluate_preconditions=config.get("IFMATCH_ENABLED", True),
        )
        ready = waiting(answer, options)
        if isinstance(ready, HTTPError):
            raise ConditionalError(ready)
        decision, refusal = ready
        condition = ConditionalRequest(
            self.store, key, snapshot, decision, options, refusal=refusal, claim=claim
        )
        condition.instance = instance
        g._ifmatch_condition = condition
        response = current_app.make_response(view(*args, **kwargs))
        if 200 <= response.status_code < 300:
            if refusal is not None:
                # The view granted access (and wrote nothing): answer the precondition now.
                raise ConditionalError(refusal)
            self.finish(response, condition, method, config.get("IFMATCH_ENABLED", True))
        return response

    def answer_current(self, key: Hashable, options: Options) -> None:
        """Raise the 304 when the validators alone say the client's copy is current."""
        assert self.validators is not None
        try:
            snapshot = self.validators(key)
        except KEY_ERRORS:
            return  # the loader (or the store) decides what such a key means
        current = not_modified(request.method, request.headers, snapshot, options)
        if current is not None:
            raise ConditionalError(current)

    def read(self, key: Hashable) -> tuple[Any, Snapshot | None]:
        """The loaded object (if ``load=``) and the resource's validators; a key the loader
        cannot take names no resource."""
        if self.load is None or self.snapshot_of is None:
            return None, self.store.read(key)
        try:
            instance = self.load(key)
        except KEY_ERRORS:
            raise _NoSuchResource from None
        return instance, None if instance is None else self.snapshot_of(instance)

    def finish(
        self, response: Response, condition: ConditionalRequest, method: str, enabled: bool
    ) -> None:
        if response.status_code == 201 and condition.snapshot is None and condition.wrote:
            # RFC 9110 §15.3.2: the created resource is the target URI; say so explicitly.
            response.headers.setdefault("Location", location(request.path))
        if not enabled:
            return
        if method not in {"GET", "HEAD"} and not condition.wrote:
            log_unguarded(logger, method, request.path)
            return
        if condition.wrote and condition.served is not None:
            self.follow_instance(condition)
        for name, value in validator_headers(condition.served, condition.options):
            response.headers[name] = value

    def follow_instance(self, condition: ConditionalRequest) -> None:
        """After a write, send the tag of the version ``condition.instance`` holds when the
        view read it again after the write.

        The store expires the written attributes of a loaded instance, and a commit expires all
        of them; the next read reloads the row at its latest version, which another writer may
        have moved on by then. A body built from that read describes that version, so the
        ``ETag`` must too. An instance with attributes still waiting to be reloaded was not read
        since (the body came from the written values): the write's own version is kept, as it
        is for an instance older than the write (one from another session).
        """
        instance, served = condition.instance, condition.served
        if instance is None or served is None or self.snapshot_of is None:
            return
        try:
            from sqlalchemy import inspect
        except ImportError:  # pragma: no cover - the loaded instance then is no SQLAlchemy row
            return
        state = inspect(instance, raiseerr=False)
        if state is None or state.expired_attributes:
            return
        current = self.snapshot_of(instance)
        if current.version > served.version:
            condition.serve(current)

    def resolve_key(self, kwargs: dict[str, Any]) -> Hashable:
        if not callable(self.key):
            return pick_key(self.key, kwargs, "protect()", "view argument")  # type: ignore[no-any-return]
        try:
            return self.key(**kwargs)
        except KEY_ERRORS:
            # A key function that cannot read the path ("abc" for int()) names no resource.
            raise _NoSuchResource from None

    def options(self, config: Mapping[str, Any]) -> Options:
        return cached_options(self.cache, config, self.build_options)

    def build_options(self, config: Mapping[str, Any]) -> Options:
        return build_options(
            config,
            require=self.require,
            variant=None if callable(self.variant) else self.variant,
            create=self.create,
            answer_before_view=self.answer_before_view,
        )


def cached_options(
    cache: dict[tuple[Any, ...], Options],
    config: Mapping[str, Any],
    build: Callable[[Mapping[str, Any]], Options],
) -> Options:
    """Config is read on every request (tests and apps may change it), the ``Options`` built
    from it once per distinct set of values."""
    values = {name: config.get(name, default) for name, default in CONFIG_DEFAULTS.items()}
    cache_key = tuple(
        tuple(sorted(value)) if isinstance(value, list | set | frozenset) else value
        for value in values.values()
    )
    options = cache.get(cache_key)
    if options is None:
        options = cache[cache_key] = build(values)
    return options


def build_options(
    config: Mapping[str, Any],
    *,
    require: frozenset[str] | None,
    variant: str | None,
    create: bool,
    answer_before_view: bool,
) -> Options:
    """The ``Options`` of a protected view from the ``IFMATCH_*`` config and its arguments."""
    if require is None:
        require = frozenset(m.upper() for m in config["IFMATCH_REQUIRE_PRECONDITION"])
    policy = Policy(
        require_precondition=require,
        warn_only=bool(config["IFMATCH_WARN_ONLY"]),
        unmodified_since_counts=bool(config["IFMATCH_UNMODIFIED_SINCE_COUNTS"]),
        accept_weak_echo=bool(config["IFMATCH_ACCEPT_WEAK_ECHO"]),
        max_header_length=int(config["IFMATCH_MAX_HEADER_LENGTH"]),
        max_tags=int(config["IFMATCH_MAX_TAGS"]),
        accept_bare_version_token=bool(config["IFMATCH_ACCEPT_BARE_VERSION_TOKEN"]),
    )
    return Options(
        policy=policy,
        error_format=config["IFMATCH_ERROR_FORMAT"],
        type_base=config["IFMATCH_PROBLEM_TYPE_BASE"],
        send_last_modified=bool(config["IFMATCH_LAST_MODIFIED"]),
        variant=variant,
        create=create,
        answer_before_view=answer_before_view,
    )
