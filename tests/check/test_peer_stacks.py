"""The checker against the check-then-write stacks people build (``tests/peers``), each set up
as its own documentation shows, on PostgreSQL behind four worker processes: the write probes
find the write each one accepts, the race probe runs on every one and calls it unsafe, naming
the race, and the resource is put back field for field.

The race is caught by chance: a round races when two writers both pass the tag check before
either writes. Measured per round, at 8 writers: 92-100 % on an idle two-CPU machine, 70-92 %
with every process pinned to one CPU that a busy loop also uses. ``ROUNDS`` rounds all miss
with probability (1 - p)^30, below 10^-15 at p = 0.7 and below 10^-9 at p = 0.5.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest

from check.peer_servers import DJANGO, FASTAPI, FLASK, STACKS, Server, Stack, resource, serve
from ifmatch.check import Options, Status, Verdict, check
from ifmatch.check.lint import httplint_linter
from ifmatch.check.report import verdict_line
from peers.tables import read_row
from services import Database

pytestmark = [pytest.mark.slow, pytest.mark.services]

ROUNDS = 30
TEXT = "Guido and Ada's shared notes"

#: The way each stack takes a write: method, media type, body, members left out.
WAYS = {
    "django-condition": ("PUT", "application/json", "document", []),
    "drf-extensions": ("PUT", "application/json", "document", []),
    # marshmallow refuses the dump_only id with 422.
    "flask-smorest": ("PUT", "application/json", "document", ["id"]),
    # PATCH only: PUT gets 405.
    "werkzeug": ("PATCH", "application/merge-patch+json", "member", []),
    # extra="forbid" refuses id and revision with 422; the OpenAPI document names them.
    "fastapi-etag": ("PUT", "application/json", "document", ["id", "revision"]),
}


@pytest.fixture(scope="module")
def servers(postgres_db: Database) -> Iterator[dict[Server, str]]:
    with contextlib.ExitStack() as started:
        yield {
            server: started.enter_context(serve(server, postgres_db))
            for server in (DJANGO, FLASK, FASTAPI)
        }


@pytest.mark.parametrize("stack", STACKS, ids=[stack.name for stack in STACKS])
def test_the_race_probe_calls_each_check_then_write_stack_unsafe(
    stack: Stack, servers: dict[Server, str], postgres_db: Database
) -> None:
    url, doc_id = resource(stack, postgres_db, servers[stack.server], TEXT)
    title, text, _ = read_row(postgres_db.sqlalchemy_url(), doc_id)
    limits = httpx.Limits(max_connections=12)
    with httpx.Client(timeout=30, limits=limits) as client:
        report = check(client, url, Options(write=True, rounds=ROUNDS), linter=httplint_linter(url))
    details = {result.id: result.detail for result in report.results}
    write, race = report.result("write"), report.result("race")
    assert write.status is not Status.ERROR, details
    way = write.data["way"]
    assert [way["method"], way["content_type"], way["body"], way["omitted"]] == list(
        WAYS[stack.name]
    )
    assert race.status is Status.FAIL, details
    assert race.data["raced_rounds"] >= 1 and race.data["lost_updates"] >= 1
    assert "checks the precondition and then writes" in race.detail
    assert report.verdict is Verdict.UNSAFE and report.exit_code == 1
    assert "race" in verdict_line(report)
    assert report.result("restore").status is Status.PASS, details
    assert read_row(postgres_db.sqlalchemy_url(), doc_id)[:2] == (title, text)
