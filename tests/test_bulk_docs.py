"""docs/bulk.md runs as written: the Flask quick start under gunicorn with its client, the
FastAPI app, and the request and answers the page shows.

The only code added around a block (the *scaffolding*, marked as such) is what a reader adds to
try it: a database, the rows, a server to run it in, and the requests."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from flask import Flask

from ifmatch.integrations.flask_bulk import BulkUpdate, bulk_view
from ifmatch.stores import Expectation
from ifmatch.stores.memory import MemoryStore
from services import PYTHON, free_port, running_server, subprocess_env

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "bulk.md").read_text()
MARKED = re.compile(
    r"<!-- quickstart: (?P<name>[\w./-]+)[^>]*-->\n```python\n(?P<code>.*?)\n```", re.S
)
BLOCKS = {m["name"]: m["code"] + "\n" for m in MARKED.finditer(PAGE)}


def test_the_page_marks_its_blocks() -> None:
    assert set(BLOCKS) == {"bulk-server", "bulk-client", "bulk-fastapi"}


@pytest.mark.slow
def test_quick_start_under_gunicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app.py").write_text(BLOCKS["bulk-server"])
    env = subprocess_env(DATABASE_URL=f"sqlite:///{tmp_path / 'documents.db'}")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    # scaffolding: the two documents, at version 1
    seed = textwrap.dedent(
        """
        from app import store
        from ifmatch.stores import Expectation
        for key in ("intro", "summary"):
            store.compare_and_set(key, Expectation(exists=False), {"text": key.title()})
        """
    )
    subprocess.run([PYTHON, "-c", seed], env=env, cwd=tmp_path, check=True)
    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "-w", "4", "-b", f"127.0.0.1:{port}", "app:app"]
    base = f"http://127.0.0.1:{port}"
    with running_server(argv, port, env=env, cwd=tmp_path):
        # scaffolding: the client block's base URL is this server's
        import ifmatch.client

        original = ifmatch.client.Client

        class LocalClient(original):  # type: ignore[misc, valid-type]
            def __init__(self, base_url: str, **kwargs: Any) -> None:
                assert base_url == "http://127.0.0.1:8000"
                super().__init__(base, **kwargs)

        monkeypatch.setattr(ifmatch.client, "Client", LocalClient)
        exec(BLOCKS["bulk-client"], {})
        assert capsys.readouterr().out.splitlines() == ['intro "v2"', 'summary "v2"']
        for key in ("intro", "summary"):
            read = httpx.get(f"{base}/documents/{key}")
            assert read.headers["ETag"] == '"v2"'
            assert read.json()["text"] == f"{key.title()}\nReviewed by Ada."
        # A stale item in a batch is refused, the other applied (per item), as the page says.
        body = {
            "atomic": False,
            "items": [
                {"id": "intro", "ifMatch": '"v2"', "data": {"text": "x"}},
                {"id": "summary", "ifMatch": '"v1"', "data": {"text": "y"}},
            ],
        }
        answer = httpx.post(f"{base}/documents:batchUpdate", json=body).json()
        assert [item["status"] for item in answer["items"]] == [200, 412]


def test_the_fastapi_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'documents.db'}")
    (tmp_path / "bulk_fastapi_app.py").write_text(BLOCKS["bulk-fastapi"])
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("bulk_fastapi_app")
    monkeypatch.delitem(sys.modules, "bulk_fastapi_app")
    app, store = module.app, module.store

    async def main() -> list[httpx.Response]:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(app.router.lifespan_context(app))
            # scaffolding: one document
            await store.compare_and_set("intro", Expectation(exists=False), {"text": "Intro"})
            transport = httpx.ASGITransport(app=app)
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://testserver")
            )
            answers = []
            for text in ("x" * 10_001, "Hello."):
                item = {"id": "intro", "ifMatch": '"v1"', "data": {"text": text}}
                answers.append(await client.post("/documents:batchUpdate", json={"items": [item]}))
            await module.engine.dispose()
            return answers

    refused, applied = anyio.run(main)
    operation = app.openapi()["paths"]["/documents:batchUpdate"]["post"]
    assert (
        operation["requestBody"]["content"]["application/json"]["schema"]["properties"]["items"][
            "maxItems"
        ]
        == 50
    )
    assert refused.status_code == 400
    problem = refused.json()["items"][0]["problem"]
    assert problem["pointer"] == "/items/0/data/text" and "10000" in problem["detail"]
    assert applied.status_code == 200 and applied.json()["items"][0]["etag"] == '"v2"'


def _json_blocks(heading: str) -> list[Any]:
    start = PAGE.index(f"\n{heading}\n")
    end = PAGE.index("\n## ", start + 1)
    return [
        json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", PAGE[start:end], re.S)
    ]


def test_the_request_and_answers_shown_are_what_the_server_says() -> None:
    request = PAGE[PAGE.index("POST /documents:batchUpdate HTTP/1.1") :]
    body = json.loads(request[request.index("\n\n") + 2 : request.index("\n```")])
    per_item, atomic = _json_blocks("## The answer")
    # scaffolding: "intro" at version 3, "summary" at version 5
    store = MemoryStore()
    for key, version in (("intro", 3), ("summary", 5)):
        store.compare_and_set(key, Expectation(exists=False), {"text": "..."})
        for _ in range(version - 1):
            store.compare_and_set(key, Expectation(exists=True), {"text": "..."})
    app = Flask(__name__)
    endpoint = BulkUpdate(store, fields={"text"})
    app.add_url_rule("/documents:batchUpdate", "batch", bulk_view(endpoint), methods=["POST"])
    client = app.test_client()
    shown_atomic = client.post("/documents:batchUpdate", json={**body, "atomic": True})
    assert shown_atomic.status_code == 412 and shown_atomic.json == atomic
    assert shown_atomic.headers["Content-Type"] == "application/problem+json"
    shown = client.post("/documents:batchUpdate", json=body)
    assert shown.status_code == 200 and shown.json == per_item


def test_the_page_is_in_the_navigation() -> None:
    assert "Bulk writes: bulk.md" in (ROOT / "mkdocs.yml").read_text()
