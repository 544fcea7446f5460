"""Per-call cost of ``ifmatch.evaluate`` vs Django's ``get_conditional_response``.

Same inputs for both, A/B interleaved in one run, several repetitions; prints the median and
spread per scenario and the ratio (Django time / ifmatch time, so > 1 means ifmatch is faster).

    python benchmarks/core.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ifmatch.core import ResourceState, evaluate, format_http_date, version_etag

LAST_MODIFIED = datetime(2026, 11, 22, 10, 30, 15, tzinfo=UTC)
ETAG = version_etag(42)
LM = format_http_date(LAST_MODIFIED)
EARLIER = format_http_date(LAST_MODIFIED.replace(second=0))

SCENARIOS: list[tuple[str, str, dict[str, str]]] = [
    ("GET, no precondition", "GET", {}),
    ("GET If-None-Match match (304)", "GET", {"If-None-Match": str(ETAG)}),
    ("GET If-None-Match list, no match", "GET", {"If-None-Match": '"a", "b", W/"c"'}),
    ("GET If-Modified-Since (304)", "GET", {"If-Modified-Since": LM}),
    ("PUT If-Match match", "PUT", {"If-Match": str(ETAG)}),
    ("PUT If-Match stale (412)", "PUT", {"If-Match": '"v41"'}),
    ("PUT If-Unmodified-Since stale (412)", "PUT", {"If-Unmodified-Since": EARLIER}),
]


def _django_callable(method: str, headers: dict[str, str]) -> Callable[[], object]:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(ALLOWED_HOSTS=["*"], USE_TZ=True, LOGGING_CONFIG=None)
        django.setup()
    import logging

    from django.test import RequestFactory
    from django.utils.cache import get_conditional_response

    logging.getLogger("django.request").disabled = True  # 412s are logged as warnings
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    request = RequestFactory().generic(method, "/doc/1", **meta)
    etag = str(ETAG)
    last_modified = int(LAST_MODIFIED.timestamp())
    return lambda: get_conditional_response(request, etag=etag, last_modified=last_modified)


def _ifmatch_callable(method: str, headers: dict[str, str]) -> Callable[[], object]:
    state = ResourceState(etag=ETAG, last_modified=LAST_MODIFIED)
    return lambda: evaluate(method, headers, state)


def _per_call_ns(function: Callable[[], object], number: int) -> float:
    return timeit.timeit(function, number=number) / number * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke test)")
    args = parser.parse_args()
    repeats, number = (3, 2_000) if args.quick else (9, 20_000)

    print(f"{'scenario':40} {'ifmatch ns':>11} {'django ns':>10} {'ratio':>6}  spread")
    ratios: list[float] = []
    for label, method, headers in SCENARIOS:
        ours, theirs = _ifmatch_callable(method, headers), _django_callable(method, headers)
        ours_ns: list[float] = []
        theirs_ns: list[float] = []
        for _ in range(repeats):  # interleaved A B A B
            ours_ns.append(_per_call_ns(ours, number))
            theirs_ns.append(_per_call_ns(theirs, number))
        per_round = [t / o for o, t in zip(ours_ns, theirs_ns, strict=True)]
        ratio = statistics.median(per_round)
        ratios.append(ratio)
        print(
            f"{label:40} {statistics.median(ours_ns):11.0f} {statistics.median(theirs_ns):10.0f}"
            f" {ratio:6.2f}x  {min(per_round):.2f}–{max(per_round):.2f}"
        )
    print(f"\nmedian ratio over scenarios: {statistics.median(ratios):.2f}x (target ≥ 2x)")


if __name__ == "__main__":
    main()
