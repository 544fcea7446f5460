"""The demo's save and its history row are one transaction: both commit or neither does. And a
retried save (its reply lost) is recognised by its Idempotency-Key: one version, one history
row, the first answer again."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services import free_port, running_server, subprocess_env

from .conftest import demo_argv


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("demo-tx")
    port = free_port()
    with running_server(demo_argv(port, data), port, env=subprocess_env()):
        yield f"http://127.0.0.1:{port}", data / "demo.sqlite3"


def test_a_failing_history_insert_leaves_the_document_unchanged(
    demo: tuple[str, Path],
) -> None:
    url, database = demo
    with httpx.Client(base_url=url, timeout=20) as http:
        created = http.post("/api/documents/", json={"title": "t", "text": "one\n"})
        assert created.status_code == 201
        doc = created.json()["id"]
        # The history table already holds a row for the next version: its insert will fail.
        with sqlite3.connect(database) as db:
            db.execute(
                "INSERT INTO ifmatch_demo_revision (document_id, version, author, title, text) "
                "VALUES (?, 2, 'intruder', 't', 'x')",
                (doc,),
            )
        saved = http.put(
            f"/api/documents/{doc}/",
            json={"title": "t", "text": "two\n"},
            headers={"If-Match": '"v1"', "X-User": "Ada"},
        )
        assert not saved.is_success
        after = http.get(f"/api/documents/{doc}/")
        assert after.headers["ETag"] == '"v1"' and after.json()["text"] == "one\n"


def test_a_retried_save_is_applied_once_with_one_history_row(demo: tuple[str, Path]) -> None:
    url, _ = demo
    with httpx.Client(base_url=url, timeout=20) as http:
        doc = http.post("/api/documents/", json={"title": "t", "text": "one\n"}).json()["id"]
        headers = {"If-Match": '"v1"', "X-User": "Ada", "Idempotency-Key": f'"{uuid.uuid4()}"'}
        body = {"title": "t", "text": "two\n"}
        first = http.put(f"/api/documents/{doc}/", json=body, headers=headers)
        again = http.put(f"/api/documents/{doc}/", json=body, headers=headers)
        assert first.status_code == again.status_code == 200
        assert first.headers["ETag"] == again.headers["ETag"] == '"v2"'
        assert again.headers["Idempotent-Replayed"] == "true"
        history = http.get(f"/api/documents/{doc}/history/").json()
        assert [entry["version"] for entry in history] == [2, 1]
