"""ifmatch's own client against the servers' PATCH support, end to end: ``Client.update(...,
patch="merge")`` and ``patch="json"`` through real server processes (Flask, DRF and plain
Django under gunicorn, FastAPI under uvicorn) on PostgreSQL, including a 412 the client
resolves by re-reading and re-applying its change."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ifmatch.client import Client
from integrations.patch_apps import create_tables
from integrations.patch_race import SERVERS
from services import Database, free_port

pytestmark = [pytest.mark.slow, pytest.mark.services]


@pytest.fixture(scope="module")
def pg(postgres_db: Database) -> Database:
    create_tables(postgres_db.sqlalchemy_url())
    return postgres_db


@pytest.mark.parametrize("server", SERVERS)
def test_client_patch_modes(pg: Database, server: str) -> None:
    with SERVERS[server](pg) as base, Client(timeout=60) as client:
        for mode in ("merge", "json"):
            url = f"{base}/documents/client-{mode}-{free_port()}"
            made = httpx.put(
                url,
                json={"title": "draft", "tokens": {"a": True}},
                headers={"If-None-Match": "*"},
                timeout=60,
            )
            assert made.status_code == 201, made.text

            def retitle(document: Any, mode: str = mode) -> Any:
                return {**document, "title": f"by {mode}", "tokens": {"b": True}}

            written = client.update(url, retitle, patch=mode)  # type: ignore[arg-type]
            assert written.data == {"title": f"by {mode}", "tokens": {"b": True}}
            assert str(written.etag) == '"v2"'

            # Another writer wins between the client's read and its PATCH: 412, then the
            # client reads v3 and applies its change to it; both changes are kept.
            interfered: list[int] = []

            def add_token(document: Any, url: str = url, interfered: list[int] = interfered) -> Any:
                if not interfered:
                    other = httpx.patch(
                        url,
                        content=b'{"tokens": {"theirs": true}}',
                        headers={
                            "Content-Type": "application/merge-patch+json",
                            "If-Match": '"v2"',
                        },
                    )
                    interfered.append(other.status_code)
                return {**document, "tokens": {**document["tokens"], "mine": True}}

            final = client.update(url, add_token, patch=mode)  # type: ignore[arg-type]
            assert interfered == [200]
            assert final.data == {
                "title": f"by {mode}",
                "tokens": {"b": True, "theirs": True, "mine": True},
            }
            assert str(final.etag) == '"v4"'
            stored = httpx.get(url, timeout=60)
            assert stored.json() == final.data and stored.headers["ETag"] == '"v4"'
