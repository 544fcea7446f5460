"""The multi-process lost-update harness for bulk writes: concurrent batches overlapping on
items, through a real server.

Each writer, round after round, appends one unique token to three of the shared items in one
batch: GET each item (text + ETag) -> POST the batch with the three items, each with its
``ifMatch`` -> retry what failed after re-reading it. A token is *acknowledged* on an item
when that item's result was 200. At the end every acknowledged token must be in its item's
text (else a lost update), and, for atomic batches, every token found anywhere must be in all
three of its batch's items (else a batch was partially applied).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

MAX_ATTEMPTS = 80
TIME_LIMIT = 90.0
PER_BATCH = 3


@dataclass
class BulkTally:
    acknowledged: list[tuple[Any, str]] = field(default_factory=list)
    batches: dict[str, list[Any]] = field(default_factory=dict)
    conflicts: int = 0  # item results (or atomic batches) refused by a precondition
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class BulkRaceResult:
    tally: BulkTally
    lost: list[tuple[Any, str]]
    partial: list[str]  # tokens found in some but not all items of their atomic batch
    final: dict[Any, str]


def _read(client: httpx.Client, url: str) -> tuple[str, str]:
    response = client.get(url)
    response.raise_for_status()
    return response.json()["text"], response.headers["ETag"]


def _writer(
    base: str,
    batch_url: str,
    item_url: Callable[[Any], str],
    keys: list[Any],
    number: int,
    rounds: int,
    atomic: bool,
    tally: BulkTally,
    deadline: float,
) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        for round_ in range(rounds):
            token = f"w{number}r{round_}"
            chosen = [keys[(number + step) % len(keys)] for step in range(PER_BATCH)]
            with tally.lock:
                tally.batches[token] = chosen
            pending = list(chosen)
            for _ in range(MAX_ATTEMPTS):
                if not pending or time.monotonic() > deadline:
                    break
                items = []
                for key in pending:
                    text, etag = _read(client, item_url(key))
                    items.append({"id": key, "ifMatch": etag, "data": {"text": f"{text} {token}"}})
                response = client.post(batch_url, json={"items": items, "atomic": atomic})
                if atomic and response.status_code == 412:
                    with tally.lock:
                        tally.conflicts += 1
                    continue
                if response.status_code != 200:
                    with tally.lock:
                        tally.errors.append(f"{response.status_code} {response.text[:300]}")
                    return
                still = []
                for key, result in zip(pending, response.json()["items"], strict=True):
                    if result["status"] == 200:
                        with tally.lock:
                            tally.acknowledged.append((key, token))
                    elif result["status"] == 412:
                        still.append(key)
                        with tally.lock:
                            tally.conflicts += 1
                    else:
                        with tally.lock:
                            tally.errors.append(f"item {key}: {result}")
                        return
                pending = still


def bulk_race(
    base: str,
    batch_url: str,
    item_url: Callable[[Any], str],
    keys: list[Any],
    *,
    writers: int,
    rounds: int,
    atomic: bool,
) -> BulkRaceResult:
    """Run the writers against the bulk endpoint ``base + batch_url`` over ``keys`` (which
    must exist, each readable at ``base + item_url(key)``)."""
    tally = BulkTally()
    deadline = time.monotonic() + TIME_LIMIT
    threads = [
        threading.Thread(
            target=_writer,
            args=(base, batch_url, item_url, keys, n, rounds, atomic, tally, deadline),
        )
        for n in range(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with httpx.Client(base_url=base, timeout=60) as client:
        final = {key: _read(client, item_url(key))[0] for key in keys}
    words = {key: set(text.split()) for key, text in final.items()}
    lost = [(key, token) for key, token in tally.acknowledged if token not in words[key]]
    partial = []
    if atomic:
        for token, chosen in tally.batches.items():
            found = [key for key in chosen if token in words[key]]
            if found and len(found) != len(chosen):
                partial.append(token)
    return BulkRaceResult(tally, lost, partial, final)


def assert_clean(result: BulkRaceResult, *, writers: int, rounds: int) -> None:
    """No errors, every batch fully acknowledged, nothing lost, no partial batch, and the
    writers did collide (else the test proved nothing)."""
    tally = result.tally
    print(
        f"bulk race: {len(tally.acknowledged)} item writes acknowledged, {tally.conflicts} "
        f"refused by a precondition, {len(result.lost)} lost, {len(result.partial)} partial"
    )
    assert tally.errors == [], tally.errors[:3]
    assert len(tally.acknowledged) == writers * rounds * PER_BATCH
    assert result.lost == [], f"{len(result.lost)} acknowledged writes lost"
    assert result.partial == [], f"partially applied batches: {result.partial}"
    assert tally.conflicts > 0, "no contention happened: the test proved nothing"
