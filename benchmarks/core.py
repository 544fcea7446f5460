"""Per-call cost of ``ifmatch.core.evaluate`` vs Django's ``get_conditional_response``.

The same requests (method + precondition headers) against the same resource state, for both.
Each repetition times a batch of calls of one, then the other (the order alternates), in CPU
time of this thread: on a shared VM the wall clock also counts the time other processes held
the core, CPU time does not. The ratio is Django's time / ifmatch's (above 1: ifmatch is
faster); target >= 2.

    python -m benchmarks --only core
"""

from __future__ import annotations

import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime

from ifmatch.core import ResourceState, evaluate, format_http_date, version_etag

from .harness.cells import Options
from .harness.machine import Conditions
from .harness.records import Finding, Ratio, Result, Series, Target, median

LAST_MODIFIED = datetime(2026, 11, 22, 10, 30, 15, tzinfo=UTC)
ETAG = version_etag(42)
LM = format_http_date(LAST_MODIFIED)
EARLIER = format_http_date(LAST_MODIFIED.replace(second=0))
TARGET = Target(">=", 2)

SCENARIOS: list[tuple[str, str, str, dict[str, str]]] = [
    ("get-plain", "GET, no precondition", "GET", {}),
    ("get-inm-match", "GET If-None-Match match (304)", "GET", {"If-None-Match": str(ETAG)}),
    (
        "get-inm-list",
        "GET If-None-Match list, no match",
        "GET",
        {"If-None-Match": '"a", "b", W/"c"'},
    ),
    ("get-ims", "GET If-Modified-Since (304)", "GET", {"If-Modified-Since": LM}),
    ("put-im-match", "PUT If-Match match", "PUT", {"If-Match": str(ETAG)}),
    ("put-im-stale", "PUT If-Match stale (412)", "PUT", {"If-Match": '"v41"'}),
    (
        "put-ius-stale",
        "PUT If-Unmodified-Since stale (412)",
        "PUT",
        {"If-Unmodified-Since": EARLIER},
    ),
]


def django_call(method: str, headers: dict[str, str]) -> Callable[[], object]:
    import logging

    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(ALLOWED_HOSTS=["*"], USE_TZ=True, LOGGING_CONFIG=None)
        django.setup()
    from django.test import RequestFactory
    from django.utils.cache import get_conditional_response

    logging.getLogger("django.request").disabled = True  # 412s are logged as warnings
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    request = RequestFactory().generic(method, "/doc/1", **meta)
    etag = str(ETAG)
    last_modified = int(LAST_MODIFIED.timestamp())
    return lambda: get_conditional_response(request, etag=etag, last_modified=last_modified)


def ifmatch_call(method: str, headers: dict[str, str]) -> Callable[[], object]:
    state = ResourceState(etag=ETAG, last_modified=LAST_MODIFIED)
    return lambda: evaluate(method, headers, state)


def per_call_ns(function: Callable[[], object], number: int) -> float:
    return timeit.Timer(function, timer=time.thread_time).timeit(number) / number * 1e9


def measure(
    key: str, label: str, calls: tuple[Callable[[], object], Callable[[], object]], options: Options
) -> tuple[Series, Series]:
    ours = Series(f"core ifmatch {key}", "ns/call")
    theirs = Series(f"core django {key}", "ns/call")
    repetitions, number = (3, 2_000) if options.quick else (2 * options.repetitions, 10_000)
    pairs = [(ours, calls[0]), (theirs, calls[1])]
    for function in calls:  # warm up
        per_call_ns(function, number // 10)
    for rep in range(repetitions):
        for series, function in pairs if rep % 2 == 0 else pairs[::-1]:
            series.add(per_call_ns(function, number))
    return ours, theirs


def run(options: Options) -> list[Result]:
    conditions = Conditions()
    result = Result("core", "Core: evaluate() per call vs Django's get_conditional_response")
    for key, label, method, headers in SCENARIOS:
        calls = (ifmatch_call(method, headers), django_call(method, headers))
        ours, theirs = measure(key, label, calls, options)
        result.series += [ours, theirs]
        result.ratios.append(Ratio.of(f"core.{key}", label, theirs, ours, TARGET))
    overall = median([ratio.median for ratio in result.ratios])
    result.findings.append(
        Finding(
            "core.median",
            "Core: median over the scenarios of Django's time / ifmatch's",
            overall,
            TARGET,
        )
    )
    result.context = {"clock": "thread CPU time", "conditions": conditions.finish()}
    return [result]
