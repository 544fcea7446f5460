"""An adaptive limit on how many conflict-retrying writes to one URL run at once.

Writers that share one resource and retry on 412 make each other fail: with N of them, one
write commits per round and N - 1 were wasted, each costing a read, a re-apply and a refused
write on the server, which makes the next round slower still. Backoff spreads the retries out
in time; a limit on concurrency removes the collisions that start inside one process.

:class:`ConflictLimiter` keeps one number per URL, the *limit*, changed like TCP's congestion
window (additive increase, multiplicative decrease):

* a write answered 2xx raises it by ``increase / limit`` (about ``increase`` per round of
  ``limit`` writes), up to ``maximum``;
* a write refused with 412 or 409 multiplies it by ``decrease``, never below 1.

``Client.update`` (and ``Client.save`` with a retrying ``on_conflict``) holds one of the URL's
``floor(limit)`` slots from its read to its last write, except while it waits out a backoff (it
queues again when it wakes), so writers of one process that keep colliding take turns, while
writers of different URLs, or of one URL that does not conflict, are not held back. Writers
waiting for a URL get its slots in the order they asked (first come, first served: none waits
forever while others keep getting in). A URL whose limit is back at the start and has no write
in flight is forgotten, and at most ``max_urls`` URLs are remembered.

Nothing here decides whether a write is correct: the server's precondition does. The limiter
only changes when writes are sent.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import anyio

__all__ = ["AsyncConflictLimiter", "ConflictLimiter", "Limits"]


@dataclass(slots=True)
class _State:
    limit: float
    in_flight: int = 0


class Limits:
    """The per-URL arithmetic, with no waiting and no locking (the limiters add those).

    Args:
        initial: the limit of a URL seen for the first time.
        maximum: the highest limit; ``None`` means no limit at all (nothing is counted).
        increase: added to the limit, divided by the limit, for each committed write.
        decrease: the factor applied to the limit for each conflict (between 0 and 1).
        max_urls: how many URLs with a learnt limit are remembered.

    Raises:
        ValueError: a setting out of range.
    """

    def __init__(
        self,
        *,
        initial: float = 8.0,
        maximum: float | None = 64.0,
        increase: float = 1.0,
        decrease: float = 0.5,
        max_urls: int = 1024,
    ) -> None:
        if maximum is not None and not 1.0 <= initial <= maximum:
            raise ValueError("need 1 <= initial <= maximum")
        if not 0.0 < decrease < 1.0:
            raise ValueError("decrease must be between 0 and 1")
        if increase <= 0.0 or max_urls < 1:
            raise ValueError("increase and max_urls must be positive")
        self.initial, self.maximum = initial, maximum
        self.increase, self.decrease = increase, decrease
        self.max_urls = max_urls
        self._urls: OrderedDict[str, _State] = OrderedDict()
        self._queues: dict[str, deque[object]] = {}

    @property
    def enabled(self) -> bool:
        return self.maximum is not None

    def limit(self, url: str) -> float:
        """The URL's current limit (``inf`` when disabled)."""
        if not self.enabled:
            return math.inf
        state = self._urls.get(url)
        return self.initial if state is None else state.limit

    def in_flight(self, url: str) -> int:
        state = self._urls.get(url)
        return 0 if state is None else state.in_flight

    def enqueue(self, url: str) -> object:
        """Join the queue of writers waiting for ``url``; the ticket returned is passed to
        :meth:`try_enter` (and to :meth:`withdraw` by a writer that stops waiting)."""
        ticket = object()
        self._queues.setdefault(url, deque()).append(ticket)
        return ticket

    def withdraw(self, url: str, ticket: object) -> None:
        """Leave the queue without a slot (the waiting was cancelled)."""
        queue = self._queues.get(url)
        if queue is not None and ticket in queue:
            queue.remove(ticket)
            if not queue:
                del self._queues[url]

    def try_enter(self, url: str, ticket: object | None = None) -> bool:
        """Take a slot of ``url`` if one is free and no writer queued before this one (the
        ``ticket`` from :meth:`enqueue`; ``None`` for one that has not queued)."""
        if not self.enabled:
            return True
        queue = self._queues.get(url)
        if queue and queue[0] is not ticket:
            return False
        state = self._urls.get(url)
        if state is None:
            state = self._urls[url] = _State(self.initial)
            self._trim()
        if state.in_flight >= max(1, math.floor(state.limit)):
            return False
        state.in_flight += 1
        self._urls.move_to_end(url)
        if queue:
            queue.popleft()
            if not queue:
                del self._queues[url]
        return True

    def leave(self, url: str) -> None:
        """Give back a slot taken by :meth:`try_enter`."""
        state = self._urls.get(url)
        if state is None:
            return
        state.in_flight = max(0, state.in_flight - 1)
        if state.in_flight == 0 and state.limit >= self.initial:
            del self._urls[url]  # nothing learnt worth keeping

    def record(self, url: str, *, conflict: bool) -> None:
        """A write to ``url`` committed (``conflict=False``) or was refused with 412 / 409."""
        state = self._urls.get(url)
        if state is None or self.maximum is None:
            return
        if conflict:
            state.limit = max(1.0, state.limit * self.decrease)
        else:
            state.limit = min(self.maximum, state.limit + self.increase / state.limit)

    def _trim(self) -> None:
        # Forget the least recently entered idle URLs first; a URL with a write in flight
        # stays (its slot must be given back to it).
        while len(self._urls) > self.max_urls:
            for url, state in self._urls.items():
                if state.in_flight == 0:
                    del self._urls[url]
                    break
            else:
                return


class ConflictLimiter:
    """The limit shared by the threads of a process (see the module docstring).

    ``Client`` uses one process-wide instance unless given another; pass
    ``ConflictLimiter(maximum=None)`` to turn limiting off. The arguments are those of
    :class:`Limits`.
    """

    def __init__(
        self,
        *,
        initial: float = 8.0,
        maximum: float | None = 64.0,
        increase: float = 1.0,
        decrease: float = 0.5,
        max_urls: int = 1024,
    ) -> None:
        self.limits = Limits(
            initial=initial,
            maximum=maximum,
            increase=increase,
            decrease=decrease,
            max_urls=max_urls,
        )
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def slot(self, url: str) -> Iterator[None]:
        """Wait for a slot of ``url`` and hold it for the block."""
        if not self.limits.enabled:
            yield
            return
        with self._changed:
            if not self.limits.try_enter(url):
                ticket = self.limits.enqueue(url)
                try:
                    self._changed.wait_for(lambda: self.limits.try_enter(url, ticket))
                except BaseException:
                    self.limits.withdraw(url, ticket)
                    self._changed.notify_all()
                    raise
                self._changed.notify_all()  # the next in the queue may fit too
        try:
            yield
        finally:
            with self._changed:
                self.limits.leave(url)
                self._changed.notify_all()

    def record(self, url: str, *, conflict: bool) -> None:
        """See :meth:`Limits.record`; a raised limit lets waiting writers in."""
        if not self.limits.enabled:
            return
        with self._changed:
            self.limits.record(url, conflict=conflict)
            if not conflict:
                self._changed.notify_all()


class AsyncConflictLimiter:
    """The same limit for the tasks of one event loop (``AsyncClient`` makes one per client;
    give the clients of one loop the same instance to share it). Arguments as
    :class:`Limits`."""

    def __init__(
        self,
        *,
        initial: float = 8.0,
        maximum: float | None = 64.0,
        increase: float = 1.0,
        decrease: float = 0.5,
        max_urls: int = 1024,
    ) -> None:
        self.limits = Limits(
            initial=initial,
            maximum=maximum,
            increase=increase,
            decrease=decrease,
            max_urls=max_urls,
        )
        self._waiters: list[anyio.Event] = []

    @contextlib.asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        """Wait for a slot of ``url`` and hold it for the block."""
        if not self.limits.try_enter(url):
            ticket = self.limits.enqueue(url)
            try:
                while not self.limits.try_enter(url, ticket):
                    event = anyio.Event()
                    self._waiters.append(event)
                    await event.wait()
            except BaseException:
                self.limits.withdraw(url, ticket)
                self._wake()
                raise
            self._wake()  # the next in the queue may fit too
        try:
            yield
        finally:
            self.limits.leave(url)
            self._wake()

    def record(self, url: str, *, conflict: bool) -> None:
        """See :meth:`Limits.record`; a raised limit lets waiting writers in."""
        self.limits.record(url, conflict=conflict)
        if not conflict:
            self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for event in waiters:
            event.set()


#: The limiter ``Client`` uses unless given one: every client of the process shares it.
SHARED = ConflictLimiter()
