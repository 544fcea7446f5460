"""The Django ORM compare-and-set store.

Every guarded write is one conditional statement checked by its matched-row count::

    UPDATE doc SET …, version = version + 1,
                      last_modified = <db clock: the whole second for the first write of a
                                       second, else its microsecond, after the previous value>
     WHERE id = %s AND version IN (%s, …)            -- RETURNING version, last_modified

so two writers holding the same entity-tag can never both win: the database re-checks the
precondition under the row lock of the write itself. PostgreSQL and SQLite return the new
version in the same statement; MariaDB/MySQL read it back inside the same transaction, while the
row is still locked by the write. Deletes first claim the row with the same guarded ``UPDATE``
(a no-op assignment that takes the row lock), then delete it in the same transaction, so
cascades and signals still run. Create-only writes (``If-None-Match: *``) are an ``INSERT`` in a
savepoint that loses on ``IntegrityError``.

Models opt in by inheriting :class:`VersionedModel` (or :class:`ConditionalSaveMixin` for an
existing version column). An ordinary ``instance.save()`` (so a DRF ``serializer.save()``) is
made conditional by attaching an :class:`~ifmatch.stores.Expectation` to the instance
(``instance.save(expect=...)`` or :func:`expect_on`); the overridden ``_do_update`` consumes it
in the ``UPDATE``'s ``WHERE`` clause, so there is no gap between the check and the write.
"""

from __future__ import annotations

import contextlib
import contextvars
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TypeAlias, TypeVar

from django.db import DatabaseError, IntegrityError, connections, models, router, transaction
from django.db.models import F, Field, QuerySet

from ..core.errors import ConfigurationError, PreconditionFailedError
from ..core.idempotency import DEFAULT_IN_FLIGHT, DEFAULT_RETENTION, IdempotencyRecord
from ._django_ledger import DjangoLedger
from ._django_sql import (
    DatabaseNow,
    check_connection,
    column_whole_seconds,
    expectation_filter,
    is_transient,
    max_version,
    next_last_modified_expression,
    snapshot_from_row,
    update_returning,
)
from .base import CASResult, Expectation, Outcome, Snapshot, in_caller_order, lock_order
from .idempotency import Claim, Completion
from .replicas import needs_primary, seen_version

__all__ = [
    "ConditionalSaveMixin",
    "DatabaseNow",
    "DjangoStore",
    "Refusal",
    "VersionedModel",
    "WriteLost",
    "expect_on",
    "is_transient",
    "next_last_modified_expression",
    "refuse_inserts",
    "snapshot_of",
    "version_fields",
]

T = TypeVar("T")
_EXPECT_ATTR = "_ifmatch_expect"
if TYPE_CHECKING:
    UpdateValues: TypeAlias = list[tuple[Field[Any, Any], Any, Any]]


class WriteLost(PreconditionFailedError):
    """A guarded write did not apply: the stored row did not satisfy the expectation.

    Attributes:
        result: ``LOST`` with the current snapshot, or ``NOT_FOUND``.
    """

    def __init__(
        self,
        result: CASResult,
        message: str = "",
        *,
        model: type[models.Model] | None = None,
        key: Any = None,
        using: str | None = None,
    ) -> None:
        super().__init__(message or f"conditional write {result.outcome.value}")
        self.result = result
        self.model = model
        self.key = key
        self.using = using

    def reread(self) -> CASResult:
        """The row's state read now: call it after the failed transaction has ended, so the
        412 body carries the committed version rather than the failed snapshot's."""
        if self.model is None:
            return self.result
        base = self.model._base_manager.using(self.using)
        return _missing_or_lost(base, self.key, _spec(self.model))


@dataclass(frozen=True, slots=True)
class _Spec:
    version: Field[Any, Any]
    last_modified: Field[Any, Any] | None
    table: str = ""
    # The largest storable version, per database vendor (the version field's range there).
    max_versions: dict[str, int] = field(default_factory=dict, compare=False)
    # Whether the Last-Modified column keeps whole seconds only, per database alias.
    whole_seconds: dict[str, bool] = field(default_factory=dict, compare=False)

    def keeps_whole_seconds(self, alias: str) -> bool:
        """Whether the Last-Modified column on ``alias`` keeps whole seconds only (asked of the
        database once; taken to be so, and asked again, while it cannot tell)."""
        found = self.whole_seconds.get(alias)
        if found is None and self.last_modified is not None:
            found = column_whole_seconds(alias, self.table, str(self.last_modified.column))
            if found is None:
                return True
            self.whole_seconds[alias] = found
        return bool(found)

    def max_version(self, alias: str) -> int:
        vendor = connections[alias].vendor
        limit = self.max_versions.get(vendor)
        if limit is None:
            limit = self.max_versions[vendor] = max_version(self.version, alias)
        return limit


def version_fields(model: type[models.Model]) -> tuple[str, str | None]:
    """The names of ``model``'s version and Last-Modified fields.

    Raises:
        ConfigurationError: the model has no integer version column.
    """
    spec = _spec(model)
    return spec.version.name, None if spec.last_modified is None else spec.last_modified.name


# Each model's version columns, resolved once (weakly held: test models come and go).
_SPECS: weakref.WeakKeyDictionary[type[models.Model], _Spec] = weakref.WeakKeyDictionary()


def _spec(model: type[models.Model]) -> _Spec:
    found = _SPECS.get(model)
    if found is None:
        found = _SPECS[model] = _read_spec(model)
    return found


def _read_spec(model: type[models.Model]) -> _Spec:
    version_name = getattr(model, "ifmatch_version_field", "version")
    lm_name = getattr(model, "ifmatch_last_modified_field", "last_modified")
    try:
        version = model._meta.get_field(version_name)
    except Exception as error:
        raise ConfigurationError(
            f"{model.__name__} has no version field {version_name!r}: inherit "
            "ifmatch.stores.django.VersionedModel or set ifmatch_version_field"
        ) from error
    if not isinstance(version, models.IntegerField | models.BigIntegerField):
        raise ConfigurationError(f"{model.__name__}.{version_name} must be an integer field")
    last_modified: Field[Any, Any] | None = None
    if lm_name is not None:
        field = model._meta.get_field(lm_name)
        if not isinstance(field, models.DateTimeField):
            raise ConfigurationError(f"{model.__name__}.{lm_name} must be a DateTimeField")
        last_modified = field
    return _Spec(version, last_modified, model._meta.db_table)


def _columns(spec: _Spec) -> list[Field[Any, Any]]:
    return [spec.version] if spec.last_modified is None else [spec.version, spec.last_modified]


def _names(spec: _Spec) -> list[str]:
    return [field.attname for field in _columns(spec)]


def _bump_values(spec: _Spec, alias: str) -> UpdateValues:
    values: UpdateValues = [(spec.version, None, F(spec.version.attname) + 1)]
    if spec.last_modified is not None:
        lm = spec.last_modified
        whole = spec.keeps_whole_seconds(alias)
        values.append((lm, None, next_last_modified_expression(lm.attname, whole_seconds=whole)))
    return values


def _read(queryset: QuerySet[Any], pk: Any, spec: _Spec) -> Snapshot | None:
    row = queryset.filter(pk=pk).values_list(*_names(spec)).first()
    return None if row is None else snapshot_from_row(row)


def _guarded_update(
    base: QuerySet[Any], pk: Any, expect: Expectation | None, values: UpdateValues, spec: _Spec
) -> Snapshot | None:
    """The compare-and-set itself: one conditional ``UPDATE``. ``None`` when no row matched."""
    guarded = base.filter(pk=pk)
    if expect is not None:
        lm_name = None if spec.last_modified is None else spec.last_modified.attname
        condition = expectation_filter(
            expect, spec.version.attname, lm_name, max_version=spec.max_version(base.db)
        )
        if condition is None:
            return None
        guarded = guarded.filter(condition)
    rows = update_returning(guarded, values, _columns(spec))
    if rows is not None:
        return snapshot_from_row(rows[0]) if rows else None
    # MariaDB/MySQL have no UPDATE … RETURNING: read back in the same transaction, while the
    # UPDATE's row lock keeps every other writer out.
    with transaction.atomic(using=base.db):
        if guarded._update(values) == 0:  # type: ignore[attr-defined]
            return None
        return _read(base, pk, spec)


def _missing_or_lost(base: QuerySet[Any], pk: Any, spec: _Spec) -> CASResult:
    current = _read(base, pk, spec)
    return CASResult(Outcome.LOST if current is not None else Outcome.NOT_FOUND, current)


class Refusal:
    """A write that must not happen: attached instead of an :class:`Expectation`.

    The integrations evaluate a request's preconditions before the view runs, but answer a
    false one (412, 428, 400, 409) only after every access decision of the view: the view may
    still refuse with 401, 403 or 404. Until then the failing answer waits on the instance (or,
    for creates, in :func:`refuse_inserts`), and the first ``save()`` / ``delete()`` raises it
    without writing anything.

    Args:
        error: builds the exception to raise (called once per write attempt, so a body that
            carries the current representation is serialised only if it is sent).
    """

    __slots__ = ("error",)

    def __init__(self, error: Callable[[], BaseException]) -> None:
        self.error = error

    def refuse(self) -> NoReturn:
        """Raise the waiting answer."""
        raise self.error()


def expect_on(instance: models.Model, expect: Expectation | Refusal | None) -> None:
    """Make the next ``instance.save()`` / ``instance.delete()`` conditional on ``expect``.

    The expectation is consumed by that write; a write that does not apply raises
    :class:`WriteLost`. A :class:`Refusal` is not consumed: every write raises it.
    """
    setattr(instance, _EXPECT_ATTR, expect)


def pending_expectation(instance: models.Model) -> Expectation | Refusal | None:
    """The expectation (or refusal) attached to ``instance`` and not consumed yet."""
    return getattr(instance, _EXPECT_ATTR, None)


_REFUSED_INSERTS: contextvars.ContextVar[tuple[type[models.Model], Refusal] | None] = (
    contextvars.ContextVar("ifmatch_refused_inserts", default=None)
)


@contextlib.contextmanager
def refuse_inserts(model: type[models.Model], refusal: Refusal) -> Iterator[None]:
    """Within the block, inserting a ``model`` instance through ``save()`` raises ``refusal``.

    For a create whose preconditions were false (``POST`` with a stale ``If-Match``, ``PUT``
    creating without a precondition): the view's own access checks run first, and the insert,
    wherever the view makes it (``perform_create``, ``serializer.save()``), writes nothing.
    """
    token = _REFUSED_INSERTS.set((model, refusal))
    try:
        yield
    finally:
        _REFUSED_INSERTS.reset(token)


def _refuse_insert(instance: models.Model) -> None:
    refused = _REFUSED_INSERTS.get()
    if refused is not None and isinstance(instance, refused[0]) and instance._state.adding:
        refused[1].refuse()


def snapshot_of(instance: models.Model) -> Snapshot:
    """The validators held by a loaded instance."""
    spec = _spec(type(instance))
    last_modified = (
        None if spec.last_modified is None else getattr(instance, spec.last_modified.attname)
    )
    if last_modified is not None and not hasattr(last_modified, "tzinfo"):
        last_modified = None  # an unevaluated expression
    return snapshot_from_row((getattr(instance, spec.version.attname), last_modified))


def _read_your_writes(model: Any, db: str, instance: Any) -> Any:
    """The instance read again on the primary when it came from another database (a replica)
    at a version older than the one the request names (``ifmatch.stores.replicas``), else
    ``None``."""
    if not needs_primary(instance._ifmatch_loaded_version, seen_version()):
        return None
    primary = router.db_for_write(model)
    if primary == db:
        return None
    return model._base_manager.using(primary).filter(pk=instance.pk).first()


class ConditionalSaveMixin:
    """Make ``save()`` and ``delete()`` of a model guarded compare-and-set writes.

    Mix into a concrete model that already has a version column (``ifmatch_version_field``,
    default ``"version"``) and optionally a Last-Modified column
    (``ifmatch_last_modified_field``, default ``"last_modified"``, ``None`` for none).
    Every update bumps the version and sets Last-Modified from the database clock, guarded or
    not. With ``ifmatch_check_loaded_version = True`` an unguarded ``save()`` is guarded by the
    version loaded into the instance (django-concurrency style).
    """

    ifmatch_version_field: ClassVar[str] = "version"
    ifmatch_last_modified_field: ClassVar[str | None] = "last_modified"
    ifmatch_check_loaded_version: ClassVar[bool] = False

    def save(self, *args: Any, expect: Expectation | None = None, **kwargs: Any) -> None:
        """Save; with ``expect`` (or an attached expectation) only if the row allows it.

        Raises:
            WriteLost: the expectation was false (``LOST``) or the row is gone (``NOT_FOUND``).
        """
        if expect is not None:
            expect_on(self, expect)  # type: ignore[arg-type]
        pending = pending_expectation(self)  # type: ignore[arg-type]
        if isinstance(pending, Refusal):
            pending.refuse()
        _refuse_insert(self)  # type: ignore[arg-type]
        model: type[models.Model] = type(self)  # type: ignore[assignment]
        using = kwargs.get("using") or router.db_for_write(model, instance=self)
        if pending is not None and pending.exists is False:
            self._ifmatch_create(using, args, kwargs)
            return
        if not connections[using].features.can_return_columns_from_insert:
            # An INSERT's version and Last-Modified are read back inside its transaction.
            with transaction.atomic(using=using):
                super().save(*args, **kwargs)  # type: ignore[misc]
        else:
            super().save(*args, **kwargs)  # type: ignore[misc]

    def _ifmatch_create(self, using: str, args: Any, kwargs: dict[str, Any]) -> None:
        expect_on(self, None)  # type: ignore[arg-type]
        kwargs = {**kwargs, "force_insert": True}
        try:
            with transaction.atomic(using=using):
                super().save(*args, **kwargs)  # type: ignore[misc]
        except IntegrityError as error:
            model: type[models.Model] = type(self)  # type: ignore[assignment]
            spec = _spec(model)
            pk = self.pk  # type: ignore[attr-defined]
            result = _missing_or_lost(model._base_manager.using(using), pk, spec)
            if result.outcome is Outcome.NOT_FOUND:
                raise  # not a duplicate key: some other constraint failed
            raise WriteLost(
                result, "the resource exists", model=model, key=pk, using=using
            ) from error

    def _do_insert(
        self,
        manager: models.Manager[Any],
        using: str,
        fields: Sequence[Field[Any, Any]],
        returning_fields: Sequence[Field[Any, Any]],
        raw: bool,
    ) -> Any:
        spec = _spec(manager.model)
        if raw or spec.version not in fields:
            return super()._do_insert(manager, using, fields, returning_fields, raw)  # type: ignore[misc]
        setattr(self, spec.version.attname, 1)
        if spec.last_modified is not None:
            setattr(self, spec.last_modified.attname, DatabaseNow())
        extra = [field for field in _columns(spec) if field not in returning_fields]
        can_return = connections[using].features.can_return_columns_from_insert
        wanted = [*returning_fields, *extra] if can_return else list(returning_fields)
        results = super()._do_insert(manager, using, fields, wanted, raw)  # type: ignore[misc]
        if can_return and results:
            row = dict(zip(wanted, results[0], strict=True))
            for field in _columns(spec):
                setattr(self, field.attname, row[field])
        else:
            # Inside save()'s transaction: the inserted row is ours until COMMIT.
            pk = results[0][0] if results else self.pk  # type: ignore[attr-defined]
            snapshot = _read(manager.using(using), pk, spec)
            if snapshot is not None:
                self._ifmatch_apply(snapshot, spec)
        return results

    def _do_update(
        self,
        base_qs: QuerySet[Any],
        using: str,
        pk_val: Any,
        values: UpdateValues,
        update_fields: Any,
        forced_update: Any,
        *rest: Any,
        **extra: Any,
    ) -> Any:
        # ``rest``/``extra`` carry Django 6's ``returning_fields``.
        spec = _spec(type(self))  # type: ignore[arg-type]
        if spec.version not in base_qs.model._meta.local_concrete_fields:
            return super()._do_update(  # type: ignore[misc]
                base_qs, using, pk_val, values, update_fields, forced_update, *rest, **extra
            )
        expect = self._ifmatch_take_expectation(spec)
        own = set(_columns(spec))
        values = [item for item in values if item[0] not in own] + _bump_values(spec, base_qs.db)
        snapshot = _guarded_update(base_qs, pk_val, expect, values, spec)
        if snapshot is None:
            if expect is None:
                return [] if rest or extra else False  # no row: save() inserts
            raise WriteLost(
                _missing_or_lost(base_qs, pk_val, spec),
                model=base_qs.model,
                key=pk_val,
                using=base_qs.db,
            )
        self._ifmatch_apply(snapshot, spec)
        returning = rest[0] if rest else extra.get("returning_fields")
        if returning is None and not (rest or extra):
            return True
        return [tuple(getattr(self, field.attname) for field in returning or ())]

    def _ifmatch_take_expectation(self, spec: _Spec) -> Expectation | None:
        expect = pending_expectation(self)  # type: ignore[arg-type]
        if isinstance(expect, Refusal):
            expect.refuse()
        expect_on(self, None)  # type: ignore[arg-type]
        if expect is None and self.ifmatch_check_loaded_version:
            loaded = getattr(self, "_ifmatch_loaded_version", None)
            if loaded is not None:
                expect = Expectation.version(loaded)
        return expect

    def _ifmatch_apply(self, snapshot: Snapshot, spec: _Spec) -> None:
        setattr(self, spec.version.attname, snapshot.version)
        self._ifmatch_loaded_version = snapshot.version
        if spec.last_modified is not None:
            setattr(self, spec.last_modified.attname, snapshot.last_modified)

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any, *args: Any, **kwargs: Any) -> Any:
        instance = super().from_db(db, field_names, values, *args, **kwargs)  # type: ignore[misc]
        name = cls.ifmatch_version_field
        if name in field_names:
            instance._ifmatch_loaded_version = values[list(field_names).index(name)]
            fresher = _read_your_writes(cls, db, instance)
            if fresher is not None:
                return fresher
        return instance

    def delete(
        self,
        using: str | None = None,
        keep_parents: bool = False,
        *,
        expect: Expectation | None = None,
    ) -> tuple[int, dict[str, int]]:
        """Delete; with ``expect`` (or an attached expectation) only if the row allows it.

        Raises:
            WriteLost: the expectation was false, or the row is already gone.
        """
        if expect is not None:
            expect_on(self, expect)  # type: ignore[arg-type]
        model: type[models.Model] = type(self)  # type: ignore[assignment]
        spec = _spec(model)
        expect = self._ifmatch_take_expectation(spec)
        using = using or router.db_for_write(model, instance=self)
        if expect is None:
            return super().delete(using=using, keep_parents=keep_parents)  # type: ignore[misc, no-any-return]
        base = model._base_manager.using(using)
        pk = self.pk  # type: ignore[attr-defined]
        with transaction.atomic(using=using):
            # Claim the row with the guarded UPDATE (a no-op assignment that takes the row
            # lock), then delete it in the same transaction so cascades and signals run.
            claim: UpdateValues = [(spec.version, None, F(spec.version.attname))]
            if _guarded_update(base, pk, expect, claim, spec) is None:
                result = _missing_or_lost(base, pk, spec)
                raise WriteLost(result, model=model, key=pk, using=using)
            return super().delete(using=using, keep_parents=keep_parents)  # type: ignore[misc, no-any-return]


class VersionedModel(ConditionalSaveMixin, models.Model):  # type: ignore[misc]
    """An abstract model with a version column and a database-clock Last-Modified column."""

    version: models.PositiveBigIntegerField[int, int] = models.PositiveBigIntegerField(
        default=1, editable=False
    )
    last_modified: models.DateTimeField[Any, Any] = models.DateTimeField(
        null=True, blank=True, editable=False
    )

    class Meta:
        abstract = True


class _Superseded(Exception):
    """Another attempt holds the idempotency record: roll the write back."""


class DjangoStore:
    """A :class:`~ifmatch.stores.VersionStore` over one Django model, keyed by primary key.

    Args:
        model: a model with a version column (see :class:`VersionedModel`).
        using: the database alias (default: the router's choice for writes).
        retries: how many times a serialization failure or deadlock is retried when this store
            owns the transaction; after that the write is reported ``LOST``.

    Raises:
        ConfigurationError: the model has no version column, or the database backend cannot
            give safe compare-and-set.
    """

    def __init__(
        self, model: type[models.Model], *, using: str | None = None, retries: int = 3
    ) -> None:
        self.model = model
        self.using = using or router.db_for_write(model)
        self.retries = retries
        self._spec = _spec(model)
        check_connection(self.using)
        self._ledger: DjangoLedger | None = None

    # -- idempotency records (see ifmatch.stores.idempotency) ------------------------------

    @property
    def ledger(self) -> DjangoLedger:
        """The idempotency records on this store's database (needs the
        ``ifmatch.integrations.djangoapp`` app)."""
        if self._ledger is None:
            self._ledger = DjangoLedger(self.using)
        return self._ledger

    def claim(
        self,
        id: str,
        fingerprint: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        in_flight: timedelta = DEFAULT_IN_FLIGHT,
    ) -> Claim:
        """Claim record ``id`` for this attempt, or say why not."""
        return self.ledger.claim(id, fingerprint, retention=retention, in_flight=in_flight)

    def lookup(self, id: str) -> IdempotencyRecord | None:
        """The record ``id``, or ``None``."""
        return self.ledger.lookup(id)

    def release(self, id: str, attempt: str) -> None:
        """Forget ``attempt``'s pending claim of ``id`` (its write did not happen)."""
        self.ledger.release(id, attempt)

    def _completing(
        self,
        operation: Callable[[], CASResult],
        key: Any,
        completion: Completion | None,
        *,
        deleting: bool = False,
    ) -> Callable[[], CASResult]:
        """``operation`` and the completion of its idempotency record, in one transaction."""
        if completion is None:
            return operation

        def run() -> CASResult:
            try:
                with transaction.atomic(using=self.using):
                    result = operation()
                    if result.won:
                        snapshot = result.snapshot
                        version = None if deleting or snapshot is None else snapshot.version
                        if not self.ledger.complete(completion, version):
                            raise _Superseded
                    return result
            except _Superseded:
                return _missing_or_lost(self._base, key, self._spec)

        return run

    @property
    def _base(self) -> QuerySet[Any]:
        return self.model._base_manager.using(self.using)

    def read(self, key: Any) -> Snapshot | None:
        """Current validators of ``key`` (the version column, not the body)."""
        return _read(self._base, key, self._spec)

    def get(self, key: Any) -> models.Model | None:
        """The instance with primary key ``key``, or ``None``."""
        return self._base.filter(pk=key).first()

    def compare_and_set(
        self,
        key: Any,
        expect: Expectation,
        values: Mapping[str, Any],
        *,
        completion: Completion | None = None,
    ) -> CASResult:
        """Apply ``values`` (field name → value) iff ``expect`` allows the stored row; with
        ``completion``, mark that idempotency record done in the same transaction.

        Raises:
            ValueError: ``values`` names the key, version or Last-Modified field (the store
                manages them), or a field that is not a concrete column.
        """
        update: UpdateValues = [(field, None, value) for field, value in self._fields(values)]
        if expect.exists is False:
            create = self._completing(lambda: self._create(key, values), key, completion)
            return self._run(create, key)
        update += _bump_values(self._spec, self.using)
        write = self._completing(lambda: self._update(key, expect, update), key, completion)
        return self._run(write, key)

    def _fields(self, values: Mapping[str, Any]) -> list[tuple[Field[Any, Any], Any]]:
        managed = {*_columns(self._spec), self.model._meta.pk}
        fields = []
        for name, value in values.items():
            field = self.model._meta.get_field(name)
            if not isinstance(field, Field) or not field.concrete:
                raise ValueError(f"{self.model.__name__}.{name} is not a concrete field")
            if field in managed:
                raise ValueError(f"{name!r} is managed by the store and cannot be set")
            fields.append((field, value))
        return fields

    def compare_and_delete(
        self, key: Any, expect: Expectation, *, completion: Completion | None = None
    ) -> CASResult:
        """Delete ``key`` iff ``expect`` allows the stored row (cascades run as usual)."""

        def delete() -> CASResult:
            instance = self._base.filter(pk=key).first()
            if instance is None:
                return CASResult(Outcome.NOT_FOUND)
            snapshot = snapshot_of(instance)
            try:
                instance.delete(using=self.using, expect=expect)
            except WriteLost as lost:
                return lost.result
            return CASResult(Outcome.WON, snapshot)

        return self._run(self._completing(delete, key, completion, deleting=True), key)

    def compare_and_set_many(
        self,
        items: Iterable[tuple[Any, Expectation, Mapping[str, Any]]],
        *,
        all_or_nothing: bool = False,
    ) -> list[CASResult]:
        """Guarded bulk write: one compare-and-set per item, one result per item, in order.

        A lost or missing item does not stop the others, unless ``all_or_nothing``: then the
        items run in one transaction and, if any is not ``WON``, it is rolled back; the items
        whose expectation held are reported ``ABORTED`` (see ``BulkVersionStore``). A batch
        that keeps failing on serialization errors after ``retries`` reports every item
        ``ABORTED``, as the SQLAlchemy store does.

        Args:
            items: ``(key, expectation, values)`` triples.
            all_or_nothing: apply all in one transaction, or none.

        Returns:
            The results, with each snapshot read after the batch's transaction ended.
        """
        given = list(items)
        order = lock_order([key for key, _, _ in given])
        batch = [given[position] for position in order]  # row locks in key order: no deadlock
        return in_caller_order(order, self._many(batch, all_or_nothing))

    def _many(
        self, batch: list[tuple[Any, Expectation, Mapping[str, Any]]], all_or_nothing: bool
    ) -> list[CASResult]:
        if not all_or_nothing:
            return [self.compare_and_set(key, expect, values) for key, expect, values in batch]
        nested = connections[self.using].in_atomic_block
        for attempt in range(self.retries + 1):
            try:
                return self._all_or_nothing(batch)
            except DatabaseError as error:
                if not is_transient(error):
                    raise
                if nested or attempt == self.retries:
                    break
        return [CASResult(Outcome.ABORTED, self.read(key)) for key, _, _ in batch]

    def _all_or_nothing(
        self, batch: list[tuple[Any, Expectation, Mapping[str, Any]]]
    ) -> list[CASResult]:
        with transaction.atomic(using=self.using):
            results = [self.compare_and_set(key, expect, values) for key, expect, values in batch]
            if all(result.won for result in results):
                return results
            transaction.set_rollback(True, using=self.using)
        return [
            CASResult(Outcome.ABORTED if result.won else result.outcome, self.read(key))
            for (key, _, _), result in zip(batch, results, strict=True)
        ]

    def _update(self, key: Any, expect: Expectation, values: UpdateValues) -> CASResult:
        snapshot = _guarded_update(self._base, key, expect, values, self._spec)
        if snapshot is None:
            return _missing_or_lost(self._base, key, self._spec)
        return CASResult(Outcome.WON, snapshot)

    def _create(self, key: Any, values: Mapping[str, Any]) -> CASResult:
        instance = self.model(pk=key, **values)
        try:
            instance.save(using=self.using, expect=Expectation(exists=False))  # type: ignore[call-arg]
        except WriteLost as lost:
            return lost.result
        return CASResult(Outcome.WON, snapshot_of(instance))

    def _run(self, operation: Callable[[], CASResult], key: Any) -> CASResult:
        """Run one compare-and-set; serialization failures become a bounded retry, then LOST.

        Inside a caller's transaction the attempt runs in a savepoint and is not retried (the
        caller's snapshot would repeat the failure); the LOST result is then read inside the
        caller's transaction.
        """
        nested = connections[self.using].in_atomic_block
        for attempt in range(self.retries + 1):
            try:
                if nested:
                    with transaction.atomic(using=self.using):
                        return operation()
                return operation()
            except DatabaseError as error:
                if not is_transient(error):
                    raise
                if nested or attempt == self.retries:
                    break
        # Read after the failed transaction ended, so the snapshot is the committed state.
        return _missing_or_lost(self._base, key, self._spec)
