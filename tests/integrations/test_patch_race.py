"""Concurrent merge-patch writers through several server processes on PostgreSQL: Flask, DRF
and plain Django under gunicorn, FastAPI under uvicorn, with If-Match and without. Every
acknowledged token must survive (0 lost)."""

from __future__ import annotations

import httpx
import pytest

from integrations.patch_apps import create_tables
from integrations.patch_race import SERVERS, flask_servers, patch_race
from services import Database, free_port

WRITERS, TOKENS = 12, 5


@pytest.fixture(scope="module")
def pg(postgres_db: Database) -> Database:
    create_tables(postgres_db.sqlalchemy_url())
    return postgres_db


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("conditional", [True, False], ids=["if-match", "unconditional"])
def test_no_lost_merge_patches(pg: Database, server: str, conditional: bool) -> None:
    prefix = "/documents/" if conditional else "/open/"
    path = f"{prefix}race-{server}-{free_port()}"
    with SERVERS[server](pg) as base:
        created = httpx.put(
            base + path,
            json={"title": "race", "tokens": {}},
            headers={"If-None-Match": "*"},
            timeout=60,
        )
        assert created.status_code == 201, created.text
        tally, lost = patch_race(
            base, path, writers=WRITERS, tokens=TOKENS, conditional=conditional
        )
    print(
        f"{server} {'If-Match' if conditional else 'unconditional'}: "
        f"{len(tally.acknowledged)} acknowledged, {tally.conflicts} conflicts, {len(lost)} lost"
    )
    assert not tally.errors, tally.errors[:3]
    assert len(tally.acknowledged) == WRITERS * TOKENS
    assert lost == [], f"{len(lost)} acknowledged patches lost"
    if conditional:
        assert tally.conflicts > 0  # the writers did collide


@pytest.mark.slow
@pytest.mark.services
def test_the_harness_catches_a_patch_written_without_a_condition(pg: Database) -> None:
    path = f"/naive/race-naive-{free_port()}"
    with flask_servers(pg) as base:
        created = httpx.put(
            base + path.replace("/naive/", "/open/"),
            json={"title": "race", "tokens": {}},
            headers={"If-None-Match": "*"},
            timeout=60,
        )
        assert created.status_code == 201, created.text
        tally, lost = patch_race(base, path, writers=WRITERS, tokens=TOKENS, conditional=False)
    print(f"naive: {len(tally.acknowledged)} acknowledged, {len(lost)} lost")
    assert not tally.errors, tally.errors[:3]
    assert lost, "the naive route lost nothing: the harness did not create contention"
