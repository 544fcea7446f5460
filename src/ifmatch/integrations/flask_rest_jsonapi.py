"""flask-rest-jsonapi-next: race-free ETags for ``ResourceDetail`` and ``ResourceList``.

One line: take the resource classes from here instead of ``flask_rest_jsonapi_next``::

    from ifmatch.integrations.flask_rest_jsonapi import ResourceDetail, ResourceList

    class DocumentDetail(ResourceDetail):
        schema = DocumentSchema
        data_layer = {"session": db.session, "model": Document}   # Document(Versioned, ...)

Then, on a model with ``version`` and ``last_modified`` columns (``ifmatch.stores.sqlalchemy
.Versioned``):

- every resource answer carries a strong ``ETag`` from the stored version (``"v3"``), and
  each resource object carries the same tag in its ``meta`` (``"meta": {"etag": "\\"v3\\""}``),
  also every item of a list;
- ``GET`` with ``If-None-Match`` answers 304 after the object is loaded and its access hooks ran,
  before the document is built; a list answers 304 to its collection tag before the items are
  serialized;
- ``PATCH`` and ``DELETE`` need ``If-Match`` (428 without one) and are one guarded statement
  (``UPDATE … WHERE id = ? AND version IN (…)``) through the SQLAlchemy store: the data layer's
  write is the compare-and-set, so two writers holding the same tag never both win (412);
- ``POST`` answers 201 with ``Location`` and ``ETag``; its ``If-Match`` / ``If-None-Match`` are
  evaluated against the collection tag;
- 304 / 400 / 404 / 409 / 412 / 428 / 503 are JSON:API error documents
  (``application/vnd.api+json``), never 500.

A false precondition is answered only after the resource's own access decisions (the
``before_*`` hooks, the data layer's ``query`` / ``retrieve_object_query``, a
``permission_manager``): see ``docs/security.md``. The ``IFMATCH_*`` settings of
``ifmatch.integrations.flask`` apply (``IFMATCH_ENABLED`` is the switch), read per request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import quote

from flask import Response, current_app, g, request
from flask_rest_jsonapi_next import ResourceDetail as _ResourceDetail
from flask_rest_jsonapi_next import ResourceList as _ResourceList
from flask_rest_jsonapi_next.data_layers.alchemy import SqlalchemyDataLayer
from flask_rest_jsonapi_next.exceptions import ObjectNotFound
from flask_rest_jsonapi_next.schema import get_nested_fields, get_relationships, get_schema_field
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import ColumnProperty, RelationshipProperty
from sqlalchemy.orm.interfaces import MANYTOONE

from ..core import Proceed, ResourceState, content_etag, evaluate
from ..core.errors import ConfigurationError
from ..stores import VersionStore, is_unavailable
from ..stores._sql import max_version
from ..stores.sqlalchemy import SQLAlchemyStore
from ._conditional import (
    Options,
    decision_error,
    location,
    log_warnings,
    unavailable_error,
)
from ._idempotency import Idempotency
from .flask import ConditionalError, _Route, current_condition, logger

__all__ = [
    "ConditionalDataLayer",
    "ResourceDetail",
    "ResourceList",
]

#: Where a resource object carries its entity-tag: ``"meta": {"etag": "\"v3\""}``.
META_NAME = "etag"


class _JSONAPIRoute(_Route):
    """The Flask integration's route, answering in JSON:API error documents."""

    def build_options(self, config: Mapping[str, Any]) -> Options:
        return replace(super().build_options(config), error_format="jsonapi")


class ConditionalDataLayer(SqlalchemyDataLayer):  # type: ignore[misc]
    """The SQLAlchemy data layer whose ``update_object`` / ``delete_object`` are the guarded
    write of the request's condition.

    ``update_object`` sends the object's own columns (and the foreign keys of its to-one
    relationships) in one compare-and-set through the store: ``UPDATE … WHERE id = ? AND
    version IN (…)``, which bumps the version once. What lives in other tables (to-many
    relationships, nested objects) and what ``before_commit`` changes are written by the
    session after it, in the same transaction, under the row lock the guarded statement took.
    ``delete_object`` claims the row with the same guarded statement, then deletes it through
    the session, so the ORM's cascades run as they do without ifmatch.

    Resources of this module use it (mixed in front of a ``data_layer["class"]`` of your own,
    which must be a ``SqlalchemyDataLayer``).
    """

    def update_object(self, obj: Any, data: dict[str, Any], view_kwargs: dict[str, Any]) -> None:
        if obj is None:
            self._not_found(view_kwargs)
        self.before_update_object(obj, data, view_kwargs)
        columns, later, expire = self._split(obj, data)
        condition = current_condition()
        try:
            condition.write(columns)
            if expire:
                self.session.expire(obj, expire)
            self._apply(obj, later)
            self.before_commit(obj)
            self.session.commit()
        except Exception:
            self.session.rollback()
            raise
        self.after_update_object(obj, data, view_kwargs)

    def delete_object(self, obj: Any, view_kwargs: dict[str, Any]) -> None:
        if obj is None:
            self._not_found(view_kwargs)
        self.before_delete_object(obj, view_kwargs)
        condition = current_condition()
        try:
            # The guarded statement claims the row (it is locked until the commit and its
            # version moves, so any writer holding the old tag loses); the session deletes it
            # with the ORM's cascades.
            condition.write({})
            self.session.delete(obj)
            self.session.commit()
        except Exception:
            self.session.rollback()
            raise
        condition.served = None
        self.after_delete_object(obj, view_kwargs)

    def _not_found(self, view_kwargs: dict[str, Any]) -> None:
        url_field = getattr(self, "url_field", "id")
        raise ObjectNotFound(
            f"{self.model.__name__}: {view_kwargs[url_field]} not found",
            source={"parameter": url_field},
        )

    def _split(
        self, obj: Any, data: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """The values the guarded statement sets (the row's own columns, by attribute), what
        the session writes after it, and the relationship attributes to expire."""
        mapper = sa_inspect(type(obj))
        table = mapper.local_table
        managed = self._managed_columns()
        schema = self.resource.schema
        relationships = set(get_relationships(schema, model_field=True))
        nested = set(get_nested_fields(schema, model_field=True))
        columns: dict[str, Any] = {}
        later: dict[str, Any] = {}
        expire: list[str] = []
        for key, value in data.items():
            prop = mapper.attrs.get(key)
            if key in relationships:
                keys = self._foreign_keys(mapper, table, prop, key, value)
                if keys is None:
                    later[key] = value
                else:
                    columns.update(keys)
                    expire.append(key)
            elif isinstance(prop, ColumnProperty) and all(c.table is table for c in prop.columns):
                if key not in managed:
                    columns[key] = value
            elif key in nested or hasattr(obj, key):
                later[key] = value
        return columns, later, expire

    def _foreign_keys(
        self, mapper: Any, table: Any, prop: Any, key: str, value: Any
    ) -> dict[str, Any] | None:
        """The local foreign-key columns a to-one relationship sets, or ``None`` for one the
        session must write (to-many, or keys outside the row)."""
        if not isinstance(prop, RelationshipProperty) or prop.direction is not MANYTOONE:
            return None
        if isinstance(value, list):
            return None
        pairs = list(prop.local_remote_pairs or ())
        if not pairs or any(local.table is not table for local, _ in pairs):
            return None
        related = None
        if value is not None:
            schema_field = get_schema_field(self.resource.schema, key)
            id_field = self.resource.schema._declared_fields[schema_field].id_field
            related = self.get_related_object(prop.mapper.class_, id_field, {"id": value})
        values = {}
        for local, remote in pairs:
            local_key = mapper.get_property_by_column(local).key
            remote_key = prop.mapper.get_property_by_column(remote).key
            values[local_key] = None if related is None else getattr(related, remote_key)
        return values

    def _apply(self, obj: Any, later: dict[str, Any]) -> None:
        if not later:
            return
        self.apply_relationships(later, obj)
        self.apply_nested_fields(later, obj)
        schema = self.resource.schema
        joined = set(get_relationships(schema, model_field=True))
        joined |= set(get_nested_fields(schema, model_field=True))
        for key, value in later.items():
            if key not in joined:
                setattr(obj, key, value)  # e.g. a hybrid property's setter, as the library does

    def _managed_columns(self) -> set[str]:
        store = getattr(self.resource, "_ifmatch_sa_store", None)
        if store is None:
            return set()
        spec = store.spec
        # The key names the row (a JSON:API "id" the schema loads); version and Last-Modified
        # are the store's to set.
        managed = {spec.key, spec.version, spec.last_modified}
        return {name for name, column in spec.columns.items() if column in managed}


def _guarded_class(chosen: type) -> type:
    if issubclass(chosen, ConditionalDataLayer):
        return chosen
    if not issubclass(chosen, SqlalchemyDataLayer):
        raise ConfigurationError(
            f"{chosen.__name__} is not a SqlalchemyDataLayer: ifmatch guards the writes of the "
            "SQLAlchemy data layer only"
        )
    for name in ("update_object", "delete_object"):
        if getattr(chosen, name) is not getattr(SqlalchemyDataLayer, name):
            # Mixed in front, ifmatch's write would silently replace the class's own.
            raise ConfigurationError(
                f"{chosen.__name__} overrides {name}: derive it from "
                "ifmatch.integrations.flask_rest_jsonapi.ConditionalDataLayer instead (and call "
                "super()), so that its write is the guarded one"
            )
    return type(f"Conditional{chosen.__name__}", (ConditionalDataLayer, chosen), {})


def _store_for(resource: type) -> SQLAlchemyStore[Any]:
    layer = resource._data_layer  # type: ignore[attr-defined]
    return SQLAlchemyStore(
        layer.model,
        layer.session,
        version_column=resource.ifmatch_version_column,  # type: ignore[attr-defined]
        last_modified_column=resource.ifmatch_last_modified_column,  # type: ignore[attr-defined]
        key_column=getattr(layer, "id_field", None),
    )


def _key_function(resource: type, store: SQLAlchemyStore[Any]) -> Callable[..., Hashable]:
    """The store key of the resource a URL names: the data layer's ``url_field`` as the key
    column's Python type. A value the column cannot hold raises (404, never 500)."""
    layer = resource._data_layer  # type: ignore[attr-defined]
    url_field = getattr(layer, "url_field", "id")
    column = store.spec.key
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = str

    def key(**kwargs: Any) -> Hashable:
        raw = kwargs[url_field]
        if python_type is not int:
            return str(raw)
        value = raw if type(raw) is int else int(str(raw))  # ValueError: no such resource
        limit = max_version(column, layer.session.get_bind().dialect)
        if not -limit - 1 <= value <= limit:
            raise OverflowError(f"{value} does not fit the key column")
        return value

    return key


def _tag_resources(document: Any, tags: Sequence[str], name: str | None) -> None:
    """Put each resource object's tag in its ``meta``, in the order the objects were dumped."""
    if name is None or not isinstance(document, dict):
        return
    data = document.get("data")
    items = data if isinstance(data, list) else [data]
    if len(items) != len(tags):
        return
    for item, tag in zip(items, tags, strict=True):
        if isinstance(item, dict):
            meta = item.setdefault("meta", {})
            if isinstance(meta, dict):
                meta[name] = tag


def _document_of(result: Any) -> Any:
    """The JSON:API document in what a resource method returns (a dict, or a tuple)."""
    return result[0] if isinstance(result, tuple) and result else result


class _Conditional:
    """What both resource classes share: configuration and the view wrapper."""

    #: The compare-and-set store (default: ``SQLAlchemyStore`` over the data layer's model and
    #: session; give one with ``idempotency=`` to honour ``Idempotency-Key``).
    ifmatch_store: ClassVar[VersionStore[Any] | None] = None
    ifmatch_version_column: ClassVar[str] = "version"
    ifmatch_last_modified_column: ClassVar[str | None] = "last_modified"
    #: The ``meta`` member of each resource object that carries its tag (``None``: none).
    ifmatch_meta_name: ClassVar[str | None] = META_NAME
    #: Methods needing a precondition (default ``IFMATCH_REQUIRE_PRECONDITION``).
    ifmatch_require: ClassVar[Iterable[str] | None] = None
    #: Answer a false precondition before the resource runs (only without access hooks).
    ifmatch_answer_before_view: ClassVar[bool] = False
    ifmatch_idempotency: ClassVar[bool | Idempotency | None] = None
    ifmatch_idempotency_scope: ClassVar[Callable[[], str] | None] = None

    _data_layer: Any
    _ifmatch_sa_store: ClassVar[SQLAlchemyStore[Any] | None] = None

    @classmethod
    def _ifmatch_route(cls) -> _JSONAPIRoute:
        route = cls.__dict__.get("_ifmatch_built_route")
        if route is None:
            if getattr(cls, "_data_layer", None) is None:
                raise ConfigurationError(f"{cls.__name__} has no data_layer")
            sa_store = _store_for(cls)
            cls._ifmatch_sa_store = sa_store
            store = cls.ifmatch_store if cls.ifmatch_store is not None else sa_store
            require = cls.ifmatch_require
            route = _JSONAPIRoute(
                store,
                _key_function(cls, sa_store),
                False,
                None,
                None if require is None else frozenset(m.upper() for m in require),
                None,
                None,
                None,
                cls.ifmatch_answer_before_view,
                cls.ifmatch_idempotency,
                cls.ifmatch_idempotency_scope,
            )
            cls._ifmatch_built_route = route  # type: ignore[attr-defined]
        return route

    def _ifmatch_tag(self, obj: Any) -> str:
        store = type(self)._ifmatch_sa_store
        assert store is not None
        return str(store.snapshot(obj).etag())

    @classmethod
    def _ifmatch_options(cls) -> Options:
        return cls._ifmatch_route().options(current_app.config)


def _answering(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a waiting answer, and a database that went away, into the response."""

    @functools.wraps(view)
    def answered(**kwargs: Any) -> Any:
        try:
            return view(**kwargs)
        except ConditionalError as error:
            return error.get_response()

    return answered


class ResourceDetail(_Conditional, _ResourceDetail):  # type: ignore[misc]
    """``flask_rest_jsonapi_next.ResourceDetail`` with version ETags, 304, and guarded
    ``PATCH`` / ``DELETE`` (412 / 428) through the SQLAlchemy store."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Copied first: the library's constructor pops "class" and "methods" from the dict.
        declared = cls.__dict__.get("data_layer")
        original = None if declared is None else dict(declared)
        super().__init_subclass__(**kwargs)
        if original is not None:
            settings = original
            guarded = _guarded_class(settings.get("class", SqlalchemyDataLayer))
            settings["class"] = guarded
            cls._data_layer = guarded(settings)
            cls._data_layer.resource = cls
            cls._ifmatch_built_route = None

    @classmethod
    def as_view(cls, name: str, *args: Any, **kwargs: Any) -> Any:
        view = super().as_view(name, *args, **kwargs)
        route = cls._ifmatch_route()

        @functools.wraps(view)
        def protected(**view_kwargs: Any) -> Any:
            return route.dispatch(view, **view_kwargs)

        return _answering(protected)

    def get_object(self, kwargs: dict[str, Any], qs: Any) -> Any:
        obj = super().get_object(kwargs, qs)
        condition = current_condition()
        if condition.refusal is not None and request.method in ("GET", "HEAD"):
            # The object is loaded and every access hook up to here has run: a 304 (or the
            # 412 of an If-Match on a GET) is answered before the document is built.
            raise ConditionalError(condition.refusal)
        if obj is not None:
            condition.serve(type(self)._ifmatch_sa_store.snapshot(obj))  # type: ignore[union-attr]
        self._ifmatch_obj = obj
        return obj

    def update_object(self, data: Any, qs: Any, kwargs: dict[str, Any]) -> Any:
        obj = super().update_object(data, qs, kwargs)
        self._ifmatch_obj = obj
        return obj

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._tagged(super().get(*args, **kwargs))

    def patch(self, *args: Any, **kwargs: Any) -> Any:
        result = super().patch(*args, **kwargs)
        obj = getattr(self, "_ifmatch_obj", None)
        if obj is not None:
            # The document was built from the row as read after the commit: send its tag.
            current_condition().serve(type(self)._ifmatch_sa_store.snapshot(obj))  # type: ignore[union-attr]
        return self._tagged(result)

    def _tagged(self, result: Any) -> Any:
        obj = getattr(self, "_ifmatch_obj", None)
        if obj is not None:
            _tag_resources(_document_of(result), [self._ifmatch_tag(obj)], self.ifmatch_meta_name)
        return result


class ResourceList(_Conditional, _ResourceList):  # type: ignore[misc]
    """``flask_rest_jsonapi_next.ResourceList`` with a collection ETag (304), per-item tags in
    each resource object's ``meta``, and ``POST`` answering 201 with ``Location`` and
    ``ETag``."""

    @classmethod
    def as_view(cls, name: str, *args: Any, **kwargs: Any) -> Any:
        view = super().as_view(name, *args, **kwargs)
        cls._ifmatch_route()

        @functools.wraps(view)
        def listed(**view_kwargs: Any) -> Any:
            g._ifmatch_fields = []
            try:
                response: Response = current_app.make_response(view(**view_kwargs))
            except Exception as error:
                if not is_unavailable(error):
                    raise
                failure = unavailable_error(request.method, cls._ifmatch_options(), request.path)
                raise ConditionalError(failure) from error
            if 200 <= response.status_code < 300:
                for field, value in g._ifmatch_fields:
                    response.headers[field] = value
            return response

        return _answering(listed)

    def _enabled(self) -> bool:
        return bool(current_app.config.get("IFMATCH_ENABLED", True))

    def collection_etag(self, count: int, objects: Sequence[Any]) -> str:
        """The tag of one page of the collection as this request's URL names it (filters,
        sorting, page, includes): the total count and each listed item's key and version,
        keyed with the app's ``SECRET_KEY``. Any write to a listed item, and any insert or
        delete in the filtered rows, changes it."""
        store = type(self)._ifmatch_sa_store
        assert store is not None
        spec = store.spec
        key_name = next(n for n, c in spec.columns.items() if c is spec.key)
        rows = [(str(getattr(obj, key_name)), store.snapshot(obj)) for obj in objects]
        material = repr(
            (
                count,
                [(key, snap.version, snap.last_modified) for key, snap in rows],
                request.full_path.rstrip("?"),
                request.headers.get("Accept", ""),
            )
        )
        secret = current_app.secret_key
        key = (secret.encode() if isinstance(secret, str) else secret or b"")[:64]
        return str(content_etag(material.encode(), key=key))

    def get_collection(
        self, qs: Any, kwargs: dict[str, Any], filters: Any = None, as_query: bool = True
    ) -> tuple[int, list[Any]]:
        count, collection = super().get_collection(qs, kwargs, filters=filters, as_query=as_query)
        objects = list(collection)
        self._ifmatch_objects = objects
        if self._enabled() and request.method in ("GET", "HEAD"):
            tag = self.collection_etag(count, objects)
            self._refuse_unless(request.method, tag)
            g._ifmatch_fields.append(("ETag", tag))
        return count, objects

    def _refuse_unless(self, method: str, tag: str) -> None:
        """Evaluate the request's preconditions against the collection's tag; raise the answer
        (304, 400, 412) if one is false."""
        from ..core import parse_etag

        options = self._ifmatch_options()
        state = ResourceState(parse_etag(tag))
        decision = evaluate(method, request.headers, state, options.policy)
        if not isinstance(decision, Proceed):
            raise ConditionalError(decision_error(decision, options, request.path))
        log_warnings(logger, decision, method, request.path)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        result = super().get(*args, **kwargs)
        objects = getattr(self, "_ifmatch_objects", None)
        if objects is not None:
            tags = [self._ifmatch_tag(obj) for obj in objects]
            _tag_resources(_document_of(result), tags, self.ifmatch_meta_name)
        return result

    def create_object(self, data: Any, kwargs: dict[str, Any]) -> Any:
        # After before_post and the schema: the view's own checks have run. A false
        # precondition refuses the insert here, before anything is written.
        if self._enabled() and self._preconditioned():
            qs = _query_string(request.args, self.schema)
            parent = self._get_parent_filter(request.url, kwargs)
            count, objects = self.get_collection(qs, kwargs, filters=parent)
            self._refuse_unless("POST", self.collection_etag(count, objects))
        obj = super().create_object(data, kwargs)
        self._ifmatch_created = obj
        return obj

    def _preconditioned(self) -> bool:
        options = self._ifmatch_options()
        fields = ("If-Match", "If-None-Match", "If-Unmodified-Since", "If-Modified-Since")
        return "POST" in options.policy.require_precondition or any(
            name in request.headers for name in fields
        )

    def post(self, *args: Any, **kwargs: Any) -> Any:
        result = super().post(*args, **kwargs)
        obj = getattr(self, "_ifmatch_created", None)
        if obj is None:
            return result
        tag = self._ifmatch_tag(obj)
        document = _document_of(result)
        _tag_resources(document, [tag], self.ifmatch_meta_name)
        if self._enabled():
            g._ifmatch_fields.append(("ETag", tag))
        if not (isinstance(result, tuple) and len(result) == 3 and "Location" in result[2]):
            g._ifmatch_fields.append(("Location", self._created_location(document, obj)))
        return result

    def _created_location(self, document: Any, obj: Any) -> str:
        store = type(self)._ifmatch_sa_store
        assert store is not None
        data = document.get("data") if isinstance(document, dict) else None
        ident = data.get("id") if isinstance(data, dict) else None
        if ident is None:
            spec = store.spec
            ident = getattr(obj, next(n for n, c in spec.columns.items() if c is spec.key))
        path = request.path.rstrip("/")
        return location(f"{path}/{quote(str(ident), safe='')}")


def _query_string(args: Any, schema: Any) -> Any:
    from flask_rest_jsonapi_next.querystring import QueryStringManager

    return QueryStringManager(args, schema)
