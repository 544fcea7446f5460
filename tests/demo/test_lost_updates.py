"""No lost update: many writers against ``ifmatch demo --workers 4`` on PostgreSQL.

Each writer appends its own numbered line to one shared document: GET (remember the ETag),
PUT with ``If-Match``, and on 412 start over. A line whose PUT was answered 2xx is an
acknowledged write; at the end every acknowledged line must be in the document. The same
harness run with ``If-Match: *`` (a client that skips the check) shows that it does catch lost
updates.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from services import POSTGRES_URL, free_port, running_server, scratch_database, subprocess_env

from .conftest import demo_argv

pytestmark = [pytest.mark.slow, pytest.mark.services]

WRITERS = 8
WRITES_PER_WRITER = 8
MAX_ATTEMPTS = 80  # per writer, so a broken server cannot loop forever
DEADLINE_SECONDS = 60
THINK_SECONDS = 0.005  # between reading and writing, as a person (or a busy client) would


@dataclass
class Outcome:
    acknowledged: list[str] = field(default_factory=list)
    refused: int = 0
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def demo_on_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A database of its own: the demo migrates it (other tests' tables live in the shared one).
    with scratch_database(POSTGRES_URL, "PostgreSQL") as db:
        port = free_port()
        argv = demo_argv(
            port,
            tmp_path_factory.mktemp("demo-pg"),
            "--database-url",
            db.url,
            "--workers",
            "4",
        )
        with running_server(argv, port, env=subprocess_env(), ready_timeout=60):
            yield f"http://127.0.0.1:{port}"


def writer(
    url: str, name: str, if_match: str | None, outcome: Outcome, lock: threading.Lock
) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    written = attempts = 0
    with httpx.Client(timeout=20, headers={"X-User": name}) as client:
        while written < WRITES_PER_WRITER and attempts < MAX_ATTEMPTS:
            if time.monotonic() > deadline:
                break
            attempts += 1
            current = client.get(url)
            line = f"{name} line {written}"
            body = {"title": "Race", "text": current.json()["text"] + line + "\n"}
            time.sleep(THINK_SECONDS)
            response = client.put(
                url, json=body, headers={"If-Match": if_match or current.headers["ETag"]}
            )
            with lock:
                if response.status_code == 200:
                    outcome.acknowledged.append(line)
                    written += 1
                elif response.status_code == 412:
                    outcome.refused += 1
                else:
                    outcome.errors.append(f"{response.status_code} {response.text[:200]}")


def race(base_url: str, if_match: str | None) -> tuple[Outcome, str, list[dict[str, object]]]:
    with httpx.Client(timeout=20) as client:
        created = client.post(f"{base_url}/api/documents/", json={"title": "Race", "text": ""})
        assert created.status_code == 201
        url = created.json()["_links"]["self"]["href"]
        outcome, lock = Outcome(), threading.Lock()
        threads = [
            threading.Thread(target=writer, args=(url, f"writer{i}", if_match, outcome, lock))
            for i in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        final = client.get(url).json()["text"]
        history = client.get(created.json()["_links"]["history"]["href"]).json()
    return outcome, final, history


def lost(outcome: Outcome, final: str) -> list[str]:
    present = set(final.splitlines())
    return [line for line in outcome.acknowledged if line not in present]


def test_no_acknowledged_write_is_lost(demo_on_postgres: str) -> None:
    outcome, final, history = race(demo_on_postgres, if_match=None)
    assert outcome.errors == []
    assert len(outcome.acknowledged) == WRITERS * WRITES_PER_WRITER
    assert outcome.refused > 0  # the writers did collide: the 412s are what saved them
    assert lost(outcome, final) == []
    assert len(final.splitlines()) == len(outcome.acknowledged)
    # One history entry per acknowledged write, versions without gaps or repeats.
    versions = sorted(int(str(entry["version"])) for entry in history)
    assert versions == list(range(1, len(outcome.acknowledged) + 2))


def test_the_harness_catches_lost_updates_when_the_check_is_skipped(demo_on_postgres: str) -> None:
    """``If-Match: *`` matches any version: every write is acknowledged, and some are lost."""
    outcome, final, _ = race(demo_on_postgres, if_match="*")
    assert outcome.errors == []
    assert outcome.refused == 0
    assert len(lost(outcome, final)) > 0
