"""Many writers, one document, a multi-process server: ``Client.update`` loses nothing.

16 clients append their tokens to one document through ``client.update`` at the same time.
Every call must succeed within its retry budget and every token must be in the final
document exactly once. The same harness with a naive read-then-overwrite client shows lost
updates, so the test is known to be able to fail.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from ifmatch.client import Backoff, Client

WRITERS = 16
UPDATES_PER_WRITER = 4
DEADLINE_SECONDS = 90.0


def append(token: str) -> Callable[[Any], Any]:
    def apply(document: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.002)  # think time: keeps reads and writes of different writers interleaved
        return {"tokens": [*document["tokens"], token]}

    return apply


def run_writers(
    server_url: str, path: str, write: Callable[[Client, str], None]
) -> tuple[list[str], list[BaseException]]:
    """Start WRITERS threads, each with its own client, each writing its tokens; return the
    tokens acknowledged and the errors raised."""
    acknowledged: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(WRITERS)
    deadline = time.monotonic() + DEADLINE_SECONDS

    def writer(index: int) -> None:
        with Client(server_url, backoff=Backoff(base=0.005, cap=0.25)) as client:
            start.wait()
            for n in range(UPDATES_PER_WRITER):
                if time.monotonic() > deadline:
                    return
                token = f"w{index}-{n}"
                try:
                    write(client, token)
                except Exception as error:
                    with lock:
                        errors.append(error)
                else:
                    with lock:
                        acknowledged.append(token)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_SECONDS + 30)
    return acknowledged, errors


def final_tokens(server_url: str, path: str) -> list[str]:
    with Client(server_url) as client:
        tokens: list[str] = client.read(path).data["tokens"]
        return tokens


def fresh_document(server_url: str) -> str:
    path = f"/hal/docs/contention-{uuid.uuid4().hex[:8]}"
    with Client(server_url) as client:
        client.put(path, json={"tokens": []}, create=True)
    return path


@pytest.mark.slow
def test_update_under_contention_loses_nothing(server_url: str) -> None:
    path = fresh_document(server_url)

    def write(client: Client, token: str) -> None:
        client.update(path, append(token), retries=60)

    acknowledged, errors = run_writers(server_url, path, write)
    assert errors == []
    assert len(acknowledged) == WRITERS * UPDATES_PER_WRITER
    tokens = final_tokens(server_url, path)
    lost = set(acknowledged) - set(tokens)
    assert lost == set()
    assert sorted(tokens) == sorted(acknowledged)  # each exactly once


@pytest.mark.slow
def test_the_same_harness_catches_a_naive_client(server_url: str) -> None:
    path = fresh_document(server_url)

    def write(client: Client, token: str) -> None:
        document = client.read(path)
        new = append(token)(document.data)
        client.save(document, new, on_conflict="overwrite")  # last writer wins

    acknowledged, errors = run_writers(server_url, path, write)
    assert errors == []
    lost = set(acknowledged) - set(final_tokens(server_url, path))
    assert lost, "the naive client lost nothing: the harness did not create contention"
