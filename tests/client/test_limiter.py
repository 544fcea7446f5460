"""The adaptive per-URL limit on conflicting writes (``ifmatch.client.limiter``): its
arithmetic, the waiting of threads and tasks, and how ``Client.update`` feeds it."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import anyio
import httpx
import pytest

from client.fake_api import FakeAPI
from ifmatch.client import (
    AsyncClient,
    AsyncConflictLimiter,
    Backoff,
    Client,
    ConflictLimiter,
    PreconditionFailed,
)
from ifmatch.client.limiter import SHARED, Limits

BASE = "http://api.test"
URL = f"{BASE}/docs/1"
FAST = Backoff(base=0.0001, cap=0.001)


def test_a_new_url_starts_at_the_initial_limit() -> None:
    limits = Limits(initial=2, maximum=8)
    assert limits.limit(URL) == 2
    assert limits.try_enter(URL) and limits.try_enter(URL)
    assert not limits.try_enter(URL)
    assert limits.in_flight(URL) == 2
    assert limits.try_enter(f"{BASE}/docs/2"), "another URL has slots of its own"


def test_conflicts_halve_the_limit_down_to_one() -> None:
    limits = Limits(initial=8, maximum=8)
    assert limits.try_enter(URL)
    for expected in (4.0, 2.0, 1.0, 1.0):
        limits.record(URL, conflict=True)
        assert limits.limit(URL) == expected
    assert not limits.try_enter(URL), "one write in flight is the floor"
    limits.leave(URL)
    assert limits.try_enter(URL), "but one always gets in"


def test_commits_raise_the_limit_additively_up_to_the_maximum() -> None:
    limits = Limits(initial=1, maximum=2, increase=1)
    assert limits.try_enter(URL)
    limits.record(URL, conflict=False)
    assert limits.limit(URL) == 2.0
    limits.record(URL, conflict=False)
    assert limits.limit(URL) == 2.0
    assert limits.try_enter(URL)


def test_a_url_with_nothing_learnt_is_forgotten_once_idle() -> None:
    limits = Limits(initial=4, maximum=4)
    assert limits.try_enter(URL)
    limits.leave(URL)
    assert URL not in limits._urls
    assert limits.try_enter(URL)
    limits.record(URL, conflict=True)
    limits.leave(URL)
    assert limits.limit(URL) == 2.0, "a lowered limit is remembered"


def test_at_most_max_urls_are_remembered_and_busy_ones_stay() -> None:
    limits = Limits(initial=2, maximum=2, max_urls=2)
    busy = f"{BASE}/busy"
    assert limits.try_enter(busy)
    for n in range(5):
        url = f"{BASE}/docs/{n}"
        assert limits.try_enter(url)
        limits.record(url, conflict=True)
        limits.leave(url)
    assert len(limits._urls) <= 2
    assert limits.in_flight(busy) == 1
    limits.leave(busy)
    assert limits.in_flight(busy) == 0


def test_a_disabled_limiter_never_limits() -> None:
    limits = Limits(maximum=None)
    assert not limits.enabled
    assert all(limits.try_enter(URL) for _ in range(1000))
    limits.record(URL, conflict=True)
    assert limits.limit(URL) == float("inf")


@pytest.mark.parametrize(
    "settings",
    [
        {"initial": 0.5},
        {"initial": 10, "maximum": 4},
        {"decrease": 1.0},
        {"decrease": 0.0},
        {"increase": 0.0},
        {"max_urls": 0},
    ],
)
def test_settings_out_of_range_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Limits(**settings)


def test_threads_wait_for_a_slot() -> None:
    limiter = ConflictLimiter(initial=1, maximum=1)
    inside = threading.Event()
    release = threading.Event()
    second_entered = threading.Event()

    def first() -> None:
        with limiter.slot(URL):
            inside.set()
            release.wait(10)

    def second() -> None:
        with limiter.slot(URL):
            second_entered.set()

    one = threading.Thread(target=first)
    one.start()
    assert inside.wait(10)
    two = threading.Thread(target=second)
    two.start()
    assert not second_entered.wait(0.05), "the second writer got in while the slot was held"
    release.set()
    assert second_entered.wait(10)
    one.join(10)
    two.join(10)
    assert limiter.limits.in_flight(URL) == 0


def test_threads_never_exceed_the_limit() -> None:
    limiter = ConflictLimiter(initial=2, maximum=2)
    lock = threading.Lock()
    inside, most = 0, 0

    def writer() -> None:
        nonlocal inside, most
        for _ in range(50):
            with limiter.slot(URL):
                with lock:
                    inside += 1
                    most = max(most, inside)
                with lock:
                    inside -= 1

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most <= 2
    assert limiter.limits.in_flight(URL) == 0


@pytest.mark.asyncio
async def test_tasks_wait_for_a_slot() -> None:
    limiter = AsyncConflictLimiter(initial=1, maximum=1)
    order: list[str] = []
    release = anyio.Event()

    async def first() -> None:
        async with limiter.slot(URL):
            order.append("first in")
            await release.wait()
            order.append("first out")

    async def second() -> None:
        async with limiter.slot(URL):
            order.append("second in")

    async with anyio.create_task_group() as group:
        group.start_soon(first)
        await anyio.sleep(0)
        group.start_soon(second)
        await anyio.sleep(0.01)
        assert order == ["first in"]
        release.set()
    assert order == ["first in", "first out", "second in"]
    assert limiter.limits.in_flight(URL) == 0


def test_update_reports_conflicts_and_commits_to_the_limiter() -> None:
    api = FakeAPI()
    api.put_doc("1", {"tokens": []})
    limiter = ConflictLimiter(initial=4, maximum=4)
    seen: list[float] = []
    calls = 0

    def append(document: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        seen.append(limiter.limits.limit(URL))
        if calls <= 2:  # someone else writes between each of our first two reads and writes
            api.put_doc("1", {"tokens": [*api.body("1")["tokens"], f"theirs{calls}"]})
        document["tokens"].append("mine")

    transport = httpx.MockTransport(api)
    with Client(BASE, transport=transport, backoff=FAST, limiter=limiter) as client:
        client.update("/docs/1", append)
    assert seen == [4.0, 2.0, 1.0]
    assert api.body("1") == {"tokens": ["theirs1", "theirs2", "mine"]}
    assert limiter.limits.limit(URL) == 2.0  # 1 + 1/1 after the commit
    assert limiter.limits.in_flight(URL) == 0


def test_the_slot_is_given_back_when_update_gives_up() -> None:
    api = FakeAPI()
    api.put_doc("1", {"n": 0})
    limiter = ConflictLimiter(initial=1, maximum=1)

    def always_raced(document: dict[str, Any]) -> dict[str, Any]:
        api.put_doc("1", {"n": api.body("1")["n"] + 1})
        return {"n": -1}

    transport = httpx.MockTransport(api)
    with Client(BASE, transport=transport, backoff=FAST, limiter=limiter) as client:
        with pytest.raises(PreconditionFailed):
            client.update("/docs/1", always_raced, retries=2)
        assert limiter.limits.in_flight(URL) == 0
        client.update("/docs/1", lambda d: {"n": 100})  # would wait forever if still held
    assert api.body("1") == {"n": 100}


class Longest(random.Random):
    """Jitter that always picks the longest wait."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_writer_waits_out_its_backoff_without_holding_the_slot(asynchronous: bool) -> None:
    # One slot. A loses its first write and backs off for 0.5 s; meanwhile B, which asked for
    # the slot while A held it, gets in and commits: A's wait keeps no one out.
    api = FakeAPI()
    api.put_doc("1", {"tokens": []})
    done: list[str] = []
    raced = threading.Event()

    def mine(document: dict[str, Any]) -> None:
        if not raced.is_set():
            api.put_doc("1", {"tokens": [*api.body("1")["tokens"], "theirs"]})
            raced.set()
        document["tokens"].append("A")

    def theirs(document: dict[str, Any]) -> None:
        document["tokens"].append("B")

    slow = Backoff(base=0.5, cap=0.5)
    transport = httpx.MockTransport(api)
    if asynchronous:
        alimiter = AsyncConflictLimiter(initial=1, maximum=1)

        async def both() -> None:
            async def a() -> None:
                async with AsyncClient(
                    BASE, transport=transport, backoff=slow, rng=Longest(), limiter=alimiter
                ) as client:
                    await client.update("/docs/1", mine)
                done.append("A")

            async def b() -> None:
                while not raced.is_set():
                    await anyio.sleep(0.001)
                async with AsyncClient(BASE, transport=transport, limiter=alimiter) as client:
                    await client.update("/docs/1", theirs)
                done.append("B")

            async with anyio.create_task_group() as group:
                group.start_soon(a)
                group.start_soon(b)

        anyio.run(both)
    else:
        limiter = ConflictLimiter(initial=1, maximum=1)

        def a() -> None:
            with Client(
                BASE, transport=transport, backoff=slow, rng=Longest(), limiter=limiter
            ) as client:
                client.update("/docs/1", mine)
            done.append("A")

        writer = threading.Thread(target=a)
        writer.start()
        assert raced.wait(10)
        with Client(BASE, transport=transport, limiter=limiter) as client:
            client.update("/docs/1", theirs)
        done.append("B")
        writer.join(10)
    assert done == ["B", "A"]
    assert api.body("1") == {"tokens": ["theirs", "B", "A"]}


def test_plain_writes_and_raising_saves_are_not_limited() -> None:
    api = FakeAPI()
    api.put_doc("1", {"n": 0})
    limiter = ConflictLimiter(initial=1, maximum=1)
    transport = httpx.MockTransport(api)
    client = Client(BASE, transport=transport, backoff=FAST, limiter=limiter)
    with client, limiter.slot(URL):  # another writer holds the only slot
        document = client.read("/docs/1")
        saved = client.save(document, {"n": 1})
        client.put("/docs/1", json={"n": 2})
    assert saved.data["n"] == 1
    assert api.body("1") == {"n": 2}


def test_clients_share_the_process_limiter_by_default() -> None:
    with Client(BASE) as one, Client(BASE) as two:
        assert one.limiter is SHARED and two.limiter is SHARED


@pytest.mark.asyncio
async def test_async_update_feeds_its_limiter() -> None:
    api = FakeAPI()
    api.put_doc("1", {"tokens": []})
    limiter = AsyncConflictLimiter(initial=4, maximum=4)
    calls = 0

    def append(document: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            api.put_doc("1", {"tokens": ["theirs"]})
        document["tokens"].append("mine")

    transport = httpx.MockTransport(api)
    async with AsyncClient(
        BASE, transport=transport, backoff=FAST, rng=random.Random(0), limiter=limiter
    ) as client:
        await client.update("/docs/1", append)
    assert api.body("1") == {"tokens": ["theirs", "mine"]}
    assert limiter.limits.limit(URL) == 2.5  # halved by the 412, then + 1/2 by the commit
    assert limiter.limits.in_flight(URL) == 0


def test_the_docs_example_runs_as_written() -> None:
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "client.md").read_text()
    found = re.search(r"<!-- quickstart: client-limiter -->\n```python\n(.*?)\n```", page, re.S)
    assert found is not None
    namespace: dict[str, Any] = {}
    exec(found.group(1), namespace)
    assert namespace["mine"].limiter.limits.initial == 2.0
    assert namespace["mine"].limiter is not SHARED
    assert not namespace["unlimited"].limiter.limits.enabled
    assert namespace["first"].limiter is namespace["second"].limiter is namespace["shared"]
    namespace["mine"].close()
    namespace["unlimited"].close()


def test_waiting_writers_get_in_first_come_first_served() -> None:
    limits = Limits(initial=1, maximum=1)
    assert limits.try_enter(URL)
    first, second = limits.enqueue(URL), limits.enqueue(URL)
    limits.leave(URL)
    assert not limits.try_enter(URL), "a newcomer does not jump the queue"
    assert not limits.try_enter(URL, second)
    assert limits.try_enter(URL, first)
    limits.leave(URL)
    limits.withdraw(URL, second)  # the second stopped waiting
    assert limits.try_enter(URL)
    assert limits._queues == {}


def test_threads_get_the_slot_in_the_order_they_asked() -> None:
    limiter = ConflictLimiter(initial=1, maximum=1)
    order: list[int] = []
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with limiter.slot(URL):
            held.set()
            release.wait(10)

    def waiter(number: int) -> None:
        with limiter.slot(URL):
            order.append(number)

    first = threading.Thread(target=holder)
    first.start()
    assert held.wait(10)
    waiters = []
    for number in range(5):
        thread = threading.Thread(target=waiter, args=(number,))
        thread.start()
        waiters.append(thread)
        while len(limiter.limits._queues.get(URL, ())) < number + 1:  # queued before the next
            time.sleep(0.001)
    release.set()
    for thread in [first, *waiters]:
        thread.join(10)
    assert order == [0, 1, 2, 3, 4]


@pytest.mark.asyncio
async def test_a_cancelled_task_leaves_the_queue() -> None:
    limiter = AsyncConflictLimiter(initial=1, maximum=1)
    async with limiter.slot(URL):
        with anyio.move_on_after(0.01):
            async with limiter.slot(URL):
                pytest.fail("got a slot that was held")
        assert limiter.limits._queues == {}
    async with limiter.slot(URL):
        assert limiter.limits.in_flight(URL) == 1
