"""``Client.update`` with its conflict limiter, against real servers on PostgreSQL, loses
nothing.

gunicorn with several workers serves the DRF test project on PostgreSQL. Two groups of
writer threads, each group sharing one limiter (two processes, as the limiter sees them),
append unique tokens to one document: every call must succeed, every acknowledged token must
be in the final text exactly once, and the limiters must have seen conflicts (else the test
proved nothing). Once against a view whose 412 carries the current representation (the retry
starts from it) and once against one whose 412 does not (the retry re-reads).
"""

from __future__ import annotations

import threading
import time

import pytest

import djangoproject
from ifmatch.client import Backoff, Client, ConflictLimiter
from services import Database

djangoproject.setup()

from djangoproject.docs.models import Document  # noqa: E402
from djangoproject.harness import gunicorn  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.services]

GROUPS = 2
WRITERS_PER_GROUP = 8
TOKENS_EACH = 4
DEADLINE_SECONDS = 120.0


class CountingLimiter(ConflictLimiter):
    """A limiter that counts the conflicts it was told about."""

    def __init__(self) -> None:
        super().__init__()
        self.conflicts = 0
        self.lowest = self.limits.initial

    def record(self, url: str, *, conflict: bool) -> None:
        super().record(url, conflict=conflict)
        with self._changed:
            self.conflicts += conflict
            self.lowest = min(self.lowest, self.limits.limit(url))


def _document(db: Database) -> int:
    djangoproject.add_database("postgresql", db.django_settings())
    doc = Document(title="goodput", text="tokens:")
    doc.save(using="postgresql")
    return int(doc.pk)


@pytest.mark.parametrize("view", ["optional", "api"])
def test_limited_updates_lose_nothing(postgres_db: Database, view: str) -> None:
    pk = _document(postgres_db)
    path = f"/{view}/documents/{pk}/"
    limiters = [CountingLimiter() for _ in range(GROUPS)]
    acknowledged: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    deadline = time.monotonic() + DEADLINE_SECONDS
    with gunicorn(postgres_db.url, workers=4) as port:
        base = f"http://127.0.0.1:{port}"
        start = threading.Barrier(GROUPS * WRITERS_PER_GROUP)

        def writer(group: int, number: int) -> None:
            backoff = Backoff(base=0.002, cap=0.1)
            with Client(base, backoff=backoff, limiter=limiters[group]) as client:
                start.wait()
                for n in range(TOKENS_EACH):
                    if time.monotonic() > deadline:
                        return
                    token = f"<g{group}w{number}t{n}>"

                    def append(doc: dict[str, str], token: str = token) -> dict[str, str]:
                        return {"title": doc["title"], "text": f"{doc['text']} {token}"}

                    try:
                        client.update(path, append, retries=200)
                    except Exception as error:
                        with lock:
                            errors.append(error)
                    else:
                        with lock:
                            acknowledged.append(token)

        threads = [
            threading.Thread(target=writer, args=(g, n))
            for g in range(GROUPS)
            for n in range(WRITERS_PER_GROUP)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE_SECONDS + 30)
        with Client(base) as client:
            final = client.read(path).data["text"].split()
    assert errors == []
    assert len(acknowledged) == GROUPS * WRITERS_PER_GROUP * TOKENS_EACH
    assert final[0] == "tokens:"
    assert sorted(final[1:]) == sorted(acknowledged)  # none lost, none applied twice
    assert sum(limiter.conflicts for limiter in limiters) > 0, "no contention: proved nothing"
    assert min(limiter.lowest for limiter in limiters) < limiters[0].limits.initial
    assert all(limiter.limits.in_flight(base + path) == 0 for limiter in limiters)
