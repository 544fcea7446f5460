"""The lost-update race for JSON:API resources: concurrent writers through a real server.

Each writer appends unique tokens to one resource's ``text`` attribute: GET (document + ETag)
-> PATCH of a JSON:API resource object with ``If-Match`` -> on 412 read again and retry. A token
is *acknowledged* when its PATCH got a 2xx; at the end every acknowledged token must be in the
resource. A missing one is a lost update.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx

JSONAPI = "application/vnd.api+json"
MAX_ATTEMPTS = 80
TIME_LIMIT = 90.0


@dataclass
class Tally:
    acknowledged: list[str] = field(default_factory=list)
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _writer(base: str, path: str, name: str, tokens: int, tally: Tally, deadline: float) -> None:
    headers = {"Accept": JSONAPI, "Content-Type": JSONAPI}
    with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
        for index in range(tokens):
            token = f"{name}-{index}"
            for _ in range(MAX_ATTEMPTS):
                if time.monotonic() > deadline:
                    return
                read = client.get(path)
                data = read.json()["data"]
                text = data["attributes"]["text"]
                change = {
                    "data": {
                        "type": data["type"],
                        "id": data["id"],
                        "attributes": {"text": f"{text} {token}"},
                    }
                }
                tag = read.headers.get("ETag", "")
                answer = client.patch(path, json=change, headers={"If-Match": tag})
                if answer.status_code < 300:
                    with tally.lock:
                        tally.acknowledged.append(token)
                    break
                with tally.lock:
                    if answer.status_code != 412:
                        tally.errors.append(f"{answer.status_code} {answer.text[:200]}")
                        return
                    tally.conflicts += 1


def race(base: str, path: str, *, writers: int, tokens: int) -> tuple[Tally, list[str]]:
    """Run the writers against ``base + path`` (which must exist); return the tally and the
    acknowledged tokens missing from the resource at the end."""
    tally = Tally()
    deadline = time.monotonic() + TIME_LIMIT
    threads = [
        threading.Thread(target=_writer, args=(base, path, f"w{n}", tokens, tally, deadline))
        for n in range(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = httpx.get(base + path, headers={"Accept": JSONAPI}, timeout=30).json()
    words = set(final["data"]["attributes"]["text"].split())
    return tally, [token for token in tally.acknowledged if token not in words]
