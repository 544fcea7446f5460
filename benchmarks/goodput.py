"""Goodput under contention: ifmatch's client against the naive read-write loop, side by side.

N writers (threads of this process, each with its own HTTP client and connection) append
unique tokens to the text of one document, in every stack the web benchmarks cover (Django
REST framework, Django, Flask, FastAPI; PostgreSQL, ``WORKERS`` server processes). Arms, run
interleaved at each writer count:

- **naive**: GET, then PUT ``If-Match`` with the tag it came with; on 412 start over at once;
- **update, no limiter**: ``Client.update(url, fn)`` with a limiter that never limits (backoff
  and the 412 body's current representation only);
- **update**: ``Client.update(url, fn)`` as shipped (the process-wide adaptive limiter too).

The value is committed writes per second (a 2xx to a PUT, within the window); when the window
closes, each writer gives its write up before its next attempt (a write never acknowledged
has no token to find). After each window every acknowledged token must be in the document
(``lost``) exactly once (``duplicated``). The target: the client's goodput at 16 and 64
writers is at least twice the naive loop's. The quick smoke test runs Django REST framework
only, at 16 writers, naive and update.

    python -m benchmarks --only goodput [--quick]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx

from ifmatch.client import Client, ConflictLimiter

from .apps import shapes
from .harness.cells import Cell, CpuMark, Options, Sample, interleave
from .harness.machine import Conditions
from .harness.records import Finding, Ratio, Result, Target
from .harness.servers import WORKERS, Server
from .web import APPS, running

WRITERS = (1, 4, 16, 64)
QUICK_WRITERS = (16,)
TARGET = Target(">=", 2)
TARGET_WRITERS = (16, 64)
#: The document every writer appends to (the race counter of the web benchmarks' seed).
DOC_ID = shapes.RACE_ID
ARMS = ("naive", "update-unlimited", "update")
#: The smoke test's arms (``update-unlimited`` is the same code with another limiter).
QUICK_ARMS = ("naive", "update")


@dataclass(frozen=True)
class Stack:
    app: str
    name: str  # the URL segment and the result's name
    title: str
    view: str  # the URL segment of the view the writers use
    current_representation: bool  # the 412 body carries the current representation


STACKS = (
    Stack("django", "drf", "Django REST framework", "current", True),
    Stack("django", "django", "Django", "ifmatch", False),
    Stack("flask", "flask", "Flask", "ifmatch", False),
    Stack("fastapi", "fastapi", "FastAPI", "ifmatch", False),
)
QUICK_STACKS = ("drf",)


#: The text a window starts from (not empty: DRF's serializer refuses a blank text).
START = "tokens:"


def appended(document: dict[str, Any], token: str) -> dict[str, Any]:
    """The PUT body that appends ``token`` to the document's text."""
    return {"title": document["title"], "text": f"{document['text']} {token}"}


def reset(url: str) -> None:
    """Set the document's text to ``START`` (a conditional write, as the views require)."""
    with httpx.Client() as http:
        while True:
            read = http.get(url)
            read.raise_for_status()
            body = {"title": read.json()["title"], "text": START}
            written = http.put(url, json=body, headers={"If-Match": read.headers["ETag"]})
            if written.is_success:
                return
            if written.status_code != 412:
                written.raise_for_status()


def final_tokens(url: str) -> list[str]:
    read = httpx.get(url)
    read.raise_for_status()
    words = str(read.json()["text"]).split()
    if words[:1] != [START]:
        raise RuntimeError(f"GET {url}: the text no longer starts with {START!r}")
    return words[1:]


class Abandoned(Exception):
    """A write given up after the window closed, before its next attempt was sent."""


class Counts:
    """Requests one writer sent within the window, by method (an httpx request hook)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.gets = 0
        self.puts = 0

    def hook(self, request: httpx.Request) -> None:
        if self.stop.is_set():
            return
        if request.method == "GET":
            self.gets += 1
        elif request.method == "PUT":
            self.puts += 1


Writer = tuple[Callable[[str], None], Callable[[], None]]


def naive_writer(url: str, counts: Counts, stop: threading.Event) -> Writer:
    http = httpx.Client(event_hooks={"request": [counts.hook]})

    def write(token: str) -> None:
        while True:
            if stop.is_set():
                raise Abandoned
            read = http.get(url)
            read.raise_for_status()
            body = appended(read.json(), token)
            written = http.put(url, json=body, headers={"If-Match": read.headers["ETag"]})
            if written.is_success:
                return
            if written.status_code != 412:
                written.raise_for_status()

    return write, http.close


def update_writer(
    url: str, counts: Counts, stop: threading.Event, limiter: ConflictLimiter
) -> Writer:
    client = Client(limiter=limiter, event_hooks={"request": [counts.hook]})

    def write(token: str) -> None:
        def apply(document: dict[str, Any]) -> dict[str, Any]:
            if stop.is_set():  # fn runs before each attempt: raising gives the write up
                raise Abandoned
            return appended(document, token)

        client.update(url, apply, retries=10_000)

    return write, client.close


def goodput_cell(name: str, server: Server, url: str, writers: int, arm: str) -> Cell:
    def measure(seconds: float) -> Sample:
        reset(url)
        # Each window starts with a limiter that has learnt nothing (the shared one of a real
        # process would have learnt from the previous window: that would flatter the client).
        limiter = ConflictLimiter() if arm == "update" else ConflictLimiter(maximum=None)
        stop = threading.Event()
        counts = [Counts(stop) for _ in range(writers)]
        pairs = [
            naive_writer(url, c, stop) if arm == "naive" else update_writer(url, c, stop, limiter)
            for c in counts
        ]
        acknowledged: list[list[str]] = [[] for _ in range(writers)]
        in_window = [0] * writers
        failures: list[BaseException] = []
        barrier = threading.Barrier(writers + 1)

        def writer(number: int) -> None:
            write = pairs[number][0]
            barrier.wait()
            sequence = 0
            while not stop.is_set():
                token = f"w{number}-{sequence}"
                sequence += 1
                try:
                    write(token)
                except Abandoned:
                    return
                except Exception as error:  # reported below: a failed write is not counted
                    failures.append(error)
                    return
                acknowledged[number].append(token)
                if not stop.is_set():
                    in_window[number] += 1

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
        for thread in threads:
            thread.start()
        before, cpu = CpuMark.of(server), time.process_time()
        barrier.wait()
        started = time.perf_counter()
        time.sleep(seconds)
        stop.set()
        elapsed = time.perf_counter() - started
        gets, puts = sum(c.gets for c in counts), sum(c.puts for c in counts)
        server_cpu = before.per_request_us(server, gets + puts)  # the window's, per request
        for thread in threads:
            thread.join()
        client_cpu = time.process_time() - cpu
        for _, close in pairs:
            close()
        if failures:
            raise RuntimeError(f"{name}: {len(failures)} writes failed: {failures[0]!r}")
        tokens = final_tokens(url)
        acked = [token for tokens_of in acknowledged for token in tokens_of]
        present = set(tokens)
        committed = sum(in_window)
        return Sample(
            committed / elapsed,
            {
                "acknowledged": float(len(acked)),
                "lost": float(sum(1 for token in acked if token not in present)),
                "duplicated": float(len(tokens) - len(present)),
                # Within the window: requests sent, over writes committed.
                "puts_per_write": puts / max(committed, 1),
                "gets_per_write": gets / max(committed, 1),
                "client_cpu_ms_per_write": client_cpu / max(len(acked), 1) * 1e3,
                **server_cpu,
            },
        )

    return Cell(name, measure, unit="writes/s")


def measure_stack(stack: Stack, server: Server, options: Options, result: Result) -> None:
    url = f"{server.base}/{stack.name}/{stack.view}/docs/{DOC_ID}"
    for writers in QUICK_WRITERS if options.quick else WRITERS:
        block = [
            goodput_cell(f"{stack.name} {arm} goodput {writers}", server, url, writers, arm)
            for arm in (QUICK_ARMS if options.quick else ARMS)
        ]
        result.series += interleave(block, options, f"{stack.name} goodput {writers}")
    analyse(stack, result)


def analyse(stack: Stack, result: Result) -> None:
    """Findings (nothing lost or doubled, in every arm) and ratios (each client arm over the
    naive loop) from the series of one stack."""
    present = {s.name for s in result.series}
    for writers in WRITERS:
        if f"{stack.name} naive goodput {writers}" not in present:
            continue
        arms = [arm for arm in ARMS if f"{stack.name} {arm} goodput {writers}" in present]
        for arm in arms:
            series = result.get(f"{stack.name} {arm} goodput {writers}")
            lost = sum(series.extra["lost"]) + sum(series.extra["duplicated"])
            result.findings.append(
                Finding(
                    f"{stack.name}.goodput_lost.{arm}.{writers}",
                    f"{stack.title}: {arm} lost or duplicated tokens, {writers} writers",
                    lost,
                    Target("==", 0),
                    f"{lost:.0f} of {sum(series.extra['acknowledged']):.0f} acknowledged",
                )
            )
        for arm in (a for a in ("update", "update-unlimited") if a in arms):
            result.ratios.append(
                Ratio.of(
                    f"{stack.name}.goodput.{arm}.{writers}",
                    f"{stack.title}: committed writes/s, {arm} / naive, {writers} writers",
                    result.get(f"{stack.name} {arm} goodput {writers}"),
                    result.get(f"{stack.name} naive goodput {writers}"),
                    TARGET if arm == "update" and writers in TARGET_WRITERS else None,
                )
            )


def run(options: Options) -> list[Result]:
    """One result per stack; each app's servers start once for its stacks."""
    conditions = Conditions()
    racing = replace(options, repetitions=min(options.repetitions, 3))
    results = []
    stacks = [s for s in STACKS if not options.quick or s.name in QUICK_STACKS]
    for app in dict.fromkeys(s.app for s in stacks):
        with running(APPS[app], options) as (_server, racer):
            for stack in (s for s in stacks if s.app == app):
                result = Result(
                    f"goodput-{stack.name}",
                    f"Goodput: {stack.title}, ifmatch's client vs the naive loop",
                    context={
                        "server": racer.description,
                        "workers": WORKERS,
                        "view": f"/{stack.name}/{stack.view}/docs/{DOC_ID}",
                        "current_representation": stack.current_representation,
                        "writers": "threads of one process, one connection each",
                    },
                )
                measure_stack(stack, racer, racing, result)
                results.append(result)
    for result in results:
        result.context["conditions"] = conditions.finish()
    return results
