"""The compare-and-set protocol every store implements, sync and async.

A store keeps, per resource, an integer ``version`` (bumped by every successful write) and a
``last_modified`` instant taken from the store's own clock (see :func:`next_last_modified`).
``compare_and_set`` applies a change only if the stored state satisfies an
:class:`Expectation`, checked in the same atomic step as the write (one conditional ``UPDATE``,
one Lua script, one locked critical section): two writers holding the same entity-tag can
never both win.

Outcomes::

    WON        the change was applied; ``snapshot`` is the new state
    LOST       the resource exists but the expectation was false; ``snapshot`` is its current
               state, read after the failed write (outside its snapshot), for the 412 body
    NOT_FOUND  there is no such resource (and the write was not a create)
    ABORTED    (bulk, all-or-nothing only) this item's expectation held, but another item's
               did not, so nothing was applied; ``snapshot`` is its current, unchanged state
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol, TypeVar

from ..core.dates import modified_after, to_http_precision
from ..core.decisions import WriteCondition
from ..core.etag import ETag, Star
from ..core.tags import version_etag, version_number

__all__ = [
    "AsyncBulkVersionStore",
    "AsyncVersionStore",
    "BulkItem",
    "BulkVersionStore",
    "CASResult",
    "Expectation",
    "Outcome",
    "Snapshot",
    "VersionStore",
    "last_modified_for",
    "next_last_modified",
    "unmodified_since_limit",
]

KeyT = TypeVar("KeyT", contravariant=True)
K = TypeVar("K")

BulkItem = tuple[K, "Expectation", Mapping[str, Any]]
"""One item of a guarded bulk write: ``(key, expectation, values)``."""


class Outcome(enum.Enum):
    WON = "won"
    LOST = "lost"
    NOT_FOUND = "not-found"
    ABORTED = "aborted"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A resource's validators as stored: its version and Last-Modified."""

    version: int
    last_modified: datetime | None = None

    def etag(self, *, variant: str | None = None) -> ETag:
        """The strong entity-tag for this version (see ``ifmatch.core.version_etag``)."""
        return version_etag(self.version, variant=variant)

    def last_modified_for(self, date: datetime) -> datetime | None:
        """The Last-Modified to send in a response whose Date is ``date``, or ``None``.

        See :func:`last_modified_for`, the one rule every integration applies.

        Args:
            date: the response's Date (aware).

        Returns:
            ``last_modified`` to the second, but never later than ``date``; ``None`` only
            when the store keeps no Last-Modified.
        """
        return last_modified_for(self.last_modified, date)


def last_modified_for(last_modified: datetime | None, date: datetime) -> datetime | None:
    """The Last-Modified to send in a response whose Date is ``date``, or ``None``.

    The stored date, truncated to the second (an HTTP-date's precision). The stores take it
    from the database's clock and never move it ahead (see :func:`next_last_modified`), but
    an application server's clock may lag the database's. RFC 9110 §8.8.2.1: "An origin
    server with a clock ... MUST NOT generate a Last-Modified date that is later than the
    server's time of message origination (Date). If the last modification time is derived
    from implementation-specific metadata that evaluates to some time in the future,
    according to the origin server's clock, then the origin server MUST replace that value
    with the message origination date." So such a date is replaced by ``date``. That is
    safe: the stored date is later than the value sent, so an If-Unmodified-Since carrying
    it fails (412) and an If-Modified-Since carrying it is true (200), never a 304 or a
    write against a change the client has not seen.

    Args:
        last_modified: the stored Last-Modified (``None``: the store keeps none).
        date: the response's Date (aware).

    Returns:
        ``min(last_modified, date)`` to the second, or ``None`` without a Last-Modified.
    """
    if last_modified is None:
        return None
    return min(to_http_precision(last_modified), to_http_precision(date))


@dataclass(frozen=True, slots=True)
class CASResult:
    """What a compare-and-set did."""

    outcome: Outcome
    snapshot: Snapshot | None = None

    @property
    def won(self) -> bool:
        return self.outcome is Outcome.WON


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the stored state must be for a write to apply.

    Attributes:
        exists: ``True`` the resource must exist, ``False`` it must not (create-only),
            ``None`` either.
        versions: the stored version must be one of these (``None``: any). An empty set can
            never match: the request named only tags that are not ours.
        not_versions: the stored version must not be one of these.
        unmodified_since: the stored Last-Modified must be at or before this instant,
            compared at full precision (``ifmatch.core.modified_after``): a write at
            12:00:00.700 fails ``unmodified_since=12:00:00``.

    Versions are non-negative integers. A version a store's column cannot hold is not sent to
    the database: each store first applies :meth:`bounded`, which leaves the verdict of
    :meth:`allows` unchanged for every state the store can hold.
    """

    exists: bool | None = None
    versions: frozenset[int] | None = None
    not_versions: frozenset[int] = frozenset()
    unmodified_since: datetime | None = None

    @classmethod
    def from_condition(
        cls, condition: WriteCondition, *, variant: str | None = None
    ) -> Expectation:
        """Translate the core's ``WriteCondition`` into stored-version terms.

        A tag names a version only as :func:`ifmatch.core.version_number` reads it (exactly
        ``"v<N>"``), so the store's verdict is the header check's: ``"v03"`` names nothing. Weak
        tags in ``if_match`` name nothing either (strong comparison, RFC 9110 §13.1.1; the core
        has already made the weak echoes its policy accepts strong); ``if_none_match`` compares
        weakly, so its weak tags count.
        """
        exists: bool | None = None
        versions: frozenset[int] | None = None
        not_versions: frozenset[int] = frozenset()
        if isinstance(condition.if_match, Star):
            exists = True
        elif condition.if_match is not None:
            exists = True
            versions = _versions(condition.if_match, variant, strong=True)
        if isinstance(condition.if_none_match, Star):
            exists = False
        elif condition.if_none_match is not None:
            not_versions = _versions(condition.if_none_match, variant, strong=False)
        return cls(exists, versions, not_versions, condition.if_unmodified_since)

    @classmethod
    def version(cls, version: int) -> Expectation:
        """Expect exactly ``version`` (the body-carried version scheme, 409 on failure)."""
        return cls(exists=True, versions=frozenset({version}))

    def bounded(self, max_version: int | None = None) -> Expectation:
        """The same expectation for a store whose versions lie in ``0 … max_version``
        (``None``: no upper bound).

        Versions outside that range cannot be stored, and neither can anything that is not an
        ``int`` (a ``True`` or ``1.0`` from a JSON body), so they are left out: an ``If-Match``
        (or a body version) naming only such versions becomes the empty set, which never
        matches (LOST); in ``not_versions`` they constrain nothing. For an expectation of ints
        and every state the store can hold, :meth:`allows` gives the same verdict before and
        after. Returns ``self`` when nothing is left out (the usual case, and cheap).
        """
        # The usual case (a version or two, all storable) returns at once: a plain loop, no
        # calls, since every guarded write on every SQL store and Redis passes through here.
        top = _UNBOUNDED if max_version is None else max_version
        versions = self.versions
        if versions is not None:
            for version in versions:
                if type(version) is not int or not 0 <= version <= top:
                    return self._without_unstorable(top)
        for version in self.not_versions:
            if type(version) is not int or not 0 <= version <= top:
                return self._without_unstorable(top)
        return self

    def _without_unstorable(self, top: float) -> Expectation:
        def storable(version: object) -> bool:
            return type(version) is int and 0 <= version <= top

        versions = self.versions
        if versions is not None:
            versions = frozenset(v for v in versions if storable(v))
        not_versions = frozenset(v for v in self.not_versions if storable(v))
        return Expectation(self.exists, versions, not_versions, self.unmodified_since)

    def allows(self, current: Snapshot | None) -> bool:
        """The reference semantics; SQL and Lua implementations must agree with this."""
        if current is None:
            # Only a create-only write (If-None-Match: *) may create; anything else on a
            # missing resource is NOT_FOUND.
            return self.exists is False
        if self.exists is False:
            return False
        if self.versions is not None and current.version not in self.versions:
            return False
        if current.version in self.not_versions:
            return False
        return not (
            self.unmodified_since is not None
            and current.last_modified is not None
            and modified_after(current.last_modified, self.unmodified_since)
        )


def _versions(tags: Sequence[ETag], variant: str | None, *, strong: bool) -> frozenset[int]:
    found: set[int] = set()
    for tag in tags:
        if strong and tag.weak:
            continue
        number = version_number(tag, variant=variant)
        if number is not None:
            found.add(number)
    return frozenset(found)


_UNBOUNDED: Final = float("inf")


_ONE_SECOND: Final = timedelta(seconds=1)
_ONE_MICROSECOND: Final = timedelta(microseconds=1)


def unmodified_since_limit(since: datetime) -> datetime | None:
    """The bound a guarded statement checks for If-Unmodified-Since ``since``, in UTC.

    :meth:`Expectation.allows` passes a stored Last-Modified ``lm`` when ``lm <= since`` at
    full precision, so the statement's condition is ``lm IS NULL OR lm <= bound``. Returns
    ``None`` when every representable instant passes (a ``since`` past the end of the
    calendar in UTC), and the first representable instant when none but it does (a ``since``
    before the calendar's start in UTC).
    """
    if since.tzinfo is None:
        return since.replace(tzinfo=UTC)
    try:
        return since.astimezone(UTC)
    except OverflowError:  # a non-UTC offset at the very ends of the calendar
        return None if since.year > 1 else datetime.min.replace(tzinfo=UTC)


def next_last_modified(
    now: datetime, previous: datetime | None, *, whole_seconds: bool = False
) -> datetime:
    """The Last-Modified rule of every store, on the store's own clock ``now``.

    - The first write of a second (for this resource) is recorded at that whole second.
    - A later write in the same second is recorded at the clock's full precision, and at
      least one microsecond after the previous value (should the clock stand still or step
      back).

    So the date is never ahead of the clock (but for a clock that steps back), each write's
    date is later than the one before, and a date with a fraction of a second marks a second
    with more than one write. A client echoing the Last-Modified it was sent (the stored date
    to the second) then gets exactly what RFC 9110 asks for with a comparison at full
    precision (``ifmatch.core.modified_after``): ``If-Unmodified-Since`` passes and
    ``If-Modified-Since`` gives a 304 if no write followed the one it saw, and after a later
    write in the same second both see the change (412, 200), the only answers that can never
    hide it, since the field's whole seconds cannot tell the two writes apart.

    Args:
        now: the store's clock.
        previous: the resource's current Last-Modified (``None``: it is being created).
        whole_seconds: the column holds whole seconds only (a MariaDB/MySQL ``DATETIME``
            without fractional digits): the rule such columns keep, at least one whole
            second after the previous value, which runs ahead of the clock when writes come
            faster than one a second (the response then sends its Date instead, see
            :func:`last_modified_for`).
    """
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    second = now.replace(microsecond=0)
    if previous is None:
        return second
    previous = previous.astimezone(UTC) if previous.tzinfo else previous.replace(tzinfo=UTC)
    if whole_seconds:
        return max(second, to_http_precision(previous) + _ONE_SECOND)
    if second > previous:
        return second
    return max(now, previous + _ONE_MICROSECOND)


class VersionStore(Protocol[KeyT]):
    """A synchronous compare-and-set store."""

    def read(self, key: KeyT) -> Snapshot | None:
        """Current validators of ``key``, or ``None`` if it does not exist."""

    def compare_and_set(
        self, key: KeyT, expect: Expectation, values: Mapping[str, Any]
    ) -> CASResult:
        """Apply ``values`` and bump the version iff ``expect`` allows the stored state.

        With ``expect.exists is False`` this creates the resource (version 1) iff it is absent.
        """

    def compare_and_delete(self, key: KeyT, expect: Expectation) -> CASResult:
        """Delete ``key`` iff ``expect`` allows the stored state."""


class AsyncVersionStore(Protocol[KeyT]):
    """An asynchronous compare-and-set store."""

    async def read(self, key: KeyT) -> Snapshot | None: ...

    async def compare_and_set(
        self, key: KeyT, expect: Expectation, values: Mapping[str, Any]
    ) -> CASResult: ...

    async def compare_and_delete(self, key: KeyT, expect: Expectation) -> CASResult: ...


class BulkVersionStore(VersionStore[KeyT], Protocol[KeyT]):
    """A synchronous store that also applies guarded bulk writes."""

    def compare_and_set_many(
        self, items: Iterable[BulkItem[KeyT]], *, all_or_nothing: bool = False
    ) -> list[CASResult]:
        """Apply each item as :meth:`VersionStore.compare_and_set` would, in one call.

        Returns one result per item, in order. A lost or missing item does not stop the others,
        unless ``all_or_nothing``: then, if any item is not WON, nothing is applied and the items
        whose expectation held are reported ``ABORTED``.
        """


class AsyncBulkVersionStore(AsyncVersionStore[KeyT], Protocol[KeyT]):
    """An asynchronous store that also applies guarded bulk writes."""

    async def compare_and_set_many(
        self, items: Iterable[BulkItem[KeyT]], *, all_or_nothing: bool = False
    ) -> list[CASResult]: ...


_R = TypeVar("_R")


def lock_order(keys: Sequence[Any]) -> list[int]:
    """The positions of a batch's items in the order its writes should run: by key.

    Two transactions that update the same rows in different orders can deadlock; batches that
    all take their row locks in one global order (by key) cannot. Keys of one type are
    compared as they are; mixed or unorderable keys are ordered by type name and ``repr``.
    """
    order = list(range(len(keys)))
    try:
        order.sort(key=lambda i: (type(keys[i]).__name__, keys[i]))
    except TypeError:
        order.sort(key=lambda i: (type(keys[i]).__name__, repr(keys[i])))
    return order


def in_caller_order(order: Sequence[int], results: Sequence[_R]) -> list[_R]:
    """Undo :func:`lock_order`: ``results[n]`` belongs to the item at ``order[n]``."""
    by_position = dict(zip(order, results, strict=True))
    return [by_position[position] for position in range(len(order))]
