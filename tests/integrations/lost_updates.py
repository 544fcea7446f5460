"""The multi-process lost-update harness: concurrent writers through a real server.

Each writer appends unique tokens to one document: GET (text + ETag) -> PUT with If-Match (or
with the tag in the body) -> on 412 (or 409 for a body tag) re-read and retry. A token is
*acknowledged* when its PUT got a 2xx. At the end every acknowledged token must be in the
document; a missing one is a lost update.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

MAX_ATTEMPTS = 60
TIME_LIMIT = 60.0


@dataclass
class Tally:
    acknowledged: list[str] = field(default_factory=list)
    conflicts: int = 0
    refusals: Counter[int] = field(default_factory=Counter)  # refused writes by status
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _writer(
    base: str,
    path: str,
    name: str,
    tokens: int,
    tally: Tally,
    deadline: float,
    body_etag: str | None = None,
) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        for index in range(tokens):
            token = f"{name}-{index}"
            for _ in range(MAX_ATTEMPTS):
                if time.monotonic() > deadline:
                    return
                read = client.get(path)
                etag = read.headers.get("ETag", "")
                text = read.json()["text"]
                if body_etag is None:
                    sent = {"json": {"text": f"{text} {token}"}, "headers": {"If-Match": etag}}
                else:
                    # The tag travels only in the body (AIP-154), as the representation had it.
                    sent = {"json": {"text": f"{text} {token}", body_etag: read.json()[body_etag]}}
                put = client.put(path, **sent)
                if put.status_code < 300:
                    with tally.lock:
                        tally.acknowledged.append(token)
                    break
                if put.status_code not in ((412,) if body_etag is None else (412, 409)):
                    with tally.lock:
                        tally.errors.append(f"{put.status_code} {put.text[:200]}")
                    return
                with tally.lock:
                    tally.conflicts += 1
                    tally.refusals[put.status_code] += 1


def race(
    base: str, path: str, *, writers: int, tokens: int, body_etag: str | None = None
) -> tuple[Tally, list[str]]:
    """Run the writers against ``base + path`` (which must exist); return the tally and the
    acknowledged tokens missing from the final document. With ``body_etag`` the writers send
    no If-Match: they send back the tag the body member of that name carried."""
    tally = Tally()
    deadline = time.monotonic() + TIME_LIMIT
    threads = [
        threading.Thread(
            target=_writer, args=(base, path, f"w{n}", tokens, tally, deadline, body_etag)
        )
        for n in range(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = set(httpx.get(base + path, timeout=30).json()["text"].split())
    return tally, [token for token in tally.acknowledged if token not in final]


def serialization_failure() -> Exception:
    """What ``session.commit()`` raises when PostgreSQL refuses a SERIALIZABLE transaction at
    its COMMIT (SQLSTATE 40001), as SQLAlchemy wraps it."""
    import psycopg
    from sqlalchemy.exc import OperationalError

    cause = psycopg.errors.SerializationFailure("could not serialize access")
    return OperationalError("COMMIT", {}, cause)
