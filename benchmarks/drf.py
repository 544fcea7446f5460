"""Django REST framework integration: what conditional requests cost and save.

Real gunicorn workers, persistent database connections (CONN_MAX_AGE), PostgreSQL when it is
reachable (SQLite otherwise). A/B arms interleaved in one run, several repetitions; prints
absolute throughput (median and spread) and the RATIO of medians. Never asserts on time.

    python benchmarks/drf.py [--quick]

Pairs measured:
  GET overhead        ifmatch GET 200 / the same view without ifmatch           (target ≥ 0.95)
  304 / 200           ifmatch, drf-extensions APIETAGMixin, Django ``condition``:
                        1 KB document, ≈100 KB folder of 1,000 nested items
                        (ModelSerializer), 1 MB text field
  PUT                 conditional PUT (If-Match) / unconditional PUT             (target ≥ 0.9)
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

import djangoproject  # noqa: E402
from services import POSTGRES_URL, port_open, scratch_database  # noqa: E402

CLIENTS = 4


@contextlib.contextmanager
def database() -> Iterator[str | None]:
    from services import Database

    admin = Database.from_url(POSTGRES_URL)
    if not port_open(admin.host, admin.port):
        print("PostgreSQL not reachable: using SQLite")
        yield None
        return
    with scratch_database(POSTGRES_URL, "PostgreSQL") as db:
        djangoproject.add_database("bench", db.django_settings())
        yield db.url


def seed(alias: str) -> dict[str, int]:
    from djangoproject.docs.models import Document, Folder, Item

    small = Document(title="small", text="x" * 900)
    small.save(using=alias)
    big = Document(title="big", text="y" * 1_000_000)
    big.save(using=alias)
    writable = Document(title="w", text="z" * 900)
    writable.save(using=alias)
    folder = Folder(name="folder")
    folder.save(using=alias)
    Item.objects.using(alias).bulk_create(
        Item(folder=folder, label=f"item-{i:06d}-" + "l" * 30, position=i, done=i % 2 == 0)
        for i in range(1000)
    )
    return {"small": small.pk, "big": big.pk, "folder": folder.pk, "w": writable.pk}


def burst(
    port: int, requests: int, make: Callable[[int], tuple[str, str, dict[str, str], bytes]]
) -> float:
    """Send ``requests`` requests from CLIENTS threads; return requests per second."""
    import http.client

    counter = iter(range(requests))
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            method, path, headers, body = make(n)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status >= 400:
                failures.append(f"{method} {path} -> {response.status}")

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"benchmark request failed: {failures[:3]}")
    return requests / elapsed


def current_etag(port: int, path: str) -> str:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.getheader("ETag") or ""


def get(
    path: str, etag: str | None = None
) -> Callable[[int], tuple[str, str, dict[str, str], bytes]]:
    headers = {} if etag is None else {"If-None-Match": etag}
    return lambda n: ("GET", path, headers, b"")


def report(
    name: str, a_label: str, a: list[float], b_label: str, b: list[float], target: str
) -> None:
    ma, mb = statistics.median(a), statistics.median(b)
    print(
        f"{name:<34} {a_label:>10} {ma:8.0f}/s [{min(a):.0f}-{max(a):.0f}]   "
        f"{b_label:>10} {mb:8.0f}/s [{min(b):.0f}-{max(b):.0f}]   ratio {ma / mb:6.2f}  {target}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and repetitions")
    args = parser.parse_args()
    reps, n = (2, 40) if args.quick else (5, 200)
    big_n = max(10, n // 8)
    djangoproject.setup()
    from djangoproject.harness import gunicorn

    with database() as url:
        alias = "bench" if url else "default"
        if url is None:
            from django.conf import settings

            url = "sqlite://" + str(settings.DATABASES["default"]["NAME"])
        keys = seed(alias)
        with gunicorn(url, workers=2) as port:
            paths = {
                "1 KB document": (
                    "/api/documents/{small}/",
                    "/ext/documents/{small}/",
                    "/condition/documents/{small}/",
                    n,
                ),
                "≈100 KB folder (1,000 items)": (
                    "/api/folders/{folder}/",
                    "/ext/folders/{folder}/",
                    "/condition/folders/{folder}/",
                    big_n,
                ),
                "1 MB text field": (
                    "/api/documents/{big}/",
                    "/ext/documents/{big}/",
                    "/condition/documents/{big}/",
                    big_n,
                ),
            }
            arms: dict[str, tuple[Callable[..., tuple[str, str, dict[str, str], bytes]], int]] = {}
            raw_small = f"/raw/documents/{keys['small']}/"
            ours_small = f"/api/documents/{keys['small']}/"
            arms["GET ifmatch"] = (get(ours_small), n)
            arms["GET plain DRF"] = (get(raw_small), n)
            for label, (ours, ext, cond, count) in paths.items():
                for impl, template in (
                    ("ifmatch", ours),
                    ("drf-extensions", ext),
                    ("condition", cond),
                ):
                    path = template.format(**keys)
                    tag = current_etag(port, path)
                    arms[f"{impl} {label} 304"] = (get(path, tag), count)
                    arms[f"{impl} {label} 200"] = (get(path), count)
            w_path = f"/api/documents/{keys['w']}/"
            raw_w = f"/raw/documents/{keys['w']}/"
            body = b'{"title": "w", "text": "' + b"z" * 900 + b'"}'

            results: dict[str, list[float]] = {name: [] for name in arms}
            results["PUT conditional"] = []
            results["PUT unconditional"] = []
            for _ in range(reps):
                for name, (make, count) in arms.items():
                    results[name].append(burst(port, count, make))
                # Conditional PUTs from one client in sequence, so each If-Match is current.
                results["PUT conditional"].append(sequential_puts(port, w_path, body, n // 2, True))
                results["PUT unconditional"].append(
                    sequential_puts(port, raw_w, body, n // 2, False)
                )
    print(
        f"\nrequests/s, median [min-max] of {reps} interleaved runs; {CLIENTS} client threads, "
        "2 gunicorn sync workers\n"
    )
    report(
        "GET overhead",
        "ifmatch",
        results["GET ifmatch"],
        "plain DRF",
        results["GET plain DRF"],
        "target ≥ 0.95",
    )
    for label in paths:
        for impl in ("ifmatch", "drf-extensions", "condition"):
            report(
                f"{impl}: {label}",
                "304",
                results[f"{impl} {label} 304"],
                "200",
                results[f"{impl} {label} 200"],
                "(304/200)",
            )
    report(
        "PUT (1 client, sequential)",
        "If-Match",
        results["PUT conditional"],
        "plain",
        results["PUT unconditional"],
        "target ≥ 0.9",
    )
    return 0


def sequential_puts(port: int, path: str, body: bytes, count: int, conditional: bool) -> float:
    """One client doing GET-free PUT chains: each conditional PUT sends the ETag the previous
    PUT returned (as an editor saving repeatedly does)."""
    import http.client

    etag = current_etag(port, path) if conditional else ""
    headers = {"Content-Type": "application/json"}
    start = time.perf_counter()
    for _ in range(count):
        if conditional:
            headers["If-Match"] = etag
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("PUT", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        if response.status != 200:
            raise SystemExit(f"PUT {path} -> {response.status}")
        etag = response.getheader("ETag") or ""
    return count / (time.perf_counter() - start)


if __name__ == "__main__":
    raise SystemExit(main())
