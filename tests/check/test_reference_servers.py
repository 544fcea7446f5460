"""The proof that the checker can fail: each reference server, served over real sockets by a
threaded server, is flagged on exactly the probes its defect breaks, and the correct one passes
every probe. In every write dialect (strict schema, PATCH only, JSON:API, HAL) the write
probes find the way the server accepts, the race is caught on the check-then-write server, and
the representation is the same bytes after the run as before it.

To point the checker at another app (an integration's example app), add a ``Case`` whose
``serve`` yields the base URL of a running server (called with the values of the ``fixtures``
it names), and the probes it must fail. ifmatch's own integrations are cases too (see
``check.integration_servers``): against each one's example app, on PostgreSQL behind several
worker processes, every probe must pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from check import integration_servers
from check.servers import make_asgi_app, make_wsgi_app, serve_asgi, serve_wsgi
from ifmatch.check import Options, Status, Verdict, check
from ifmatch.check.lint import httplint_linter

Serve = Callable[..., contextlib.AbstractContextManager[str]]


@dataclass(frozen=True)
class Case:
    name: str
    serve: Serve
    path: str = "/doc"
    fails: frozenset[str] = field(default_factory=frozenset)
    warns: frozenset[str] = field(default_factory=frozenset)
    fixtures: tuple[str, ...] = ()
    marks: tuple[Any, ...] = ()
    #: The way the write probes must find: method, media type, body kind, members left out.
    way: tuple[str, str, str, tuple[str, ...]] | None = None
    #: Whether the representation must be the same bytes after the run (no server-managed
    #: members such as versions or timestamps in it).
    same_bytes: bool = True


def wsgi(defect: str, dialect: str = "plain") -> Serve:
    return lambda: serve_wsgi(make_wsgi_app(defect, dialect=dialect))


def asgi(defect: str, dialect: str = "plain") -> Serve:
    return lambda: serve_asgi(make_asgi_app(defect, dialect=dialect))


CASES = [
    Case("correct", wsgi("correct")),
    Case("correct-asgi", asgi("correct")),
    Case("check-then-write", wsgi("check-then-write"), fails=frozenset({"race"})),
    Case("check-then-write-asgi", asgi("check-then-write"), fails=frozenset({"race"})),
    Case(
        "ignores-if-match",
        wsgi("ignores-if-match"),
        # A server that never reads If-Match fails every probe that relies on it.
        fails=frozenset({"stale-if-match", "weak-if-match", "malformed-if-match", "race"}),
        warns=frozenset({"no-precondition"}),
    ),
    Case("star-412", wsgi("star-412"), fails=frozenset({"if-match-star"})),
    Case("unquoted-etag", wsgi("unquoted-etag"), fails=frozenset({"etag-syntax"})),
    Case("put-304", wsgi("put-304"), fails=frozenset({"if-none-match-write"})),
]

#: Each write dialect, correct and check-then-write: the way found, and the race caught.
DIALECT_WAYS = {
    "plain": ("PUT", "application/json", "document", ()),
    "strict": ("PUT", "application/json", "document", ("id", "words")),
    "patch-only": ("PATCH", "application/merge-patch+json", "member", ()),
    "json-api": ("PATCH", "application/vnd.api+json", "resource", ()),
    "hal": ("PUT", "application/json", "document", ("_links", "id")),
}
for dialect, way in DIALECT_WAYS.items():
    if dialect == "plain":
        continue
    CASES += [
        Case(dialect, wsgi("correct", dialect), way=way),
        Case(
            f"{dialect}-check-then-write",
            wsgi("check-then-write", dialect),
            fails=frozenset({"race"}),
            way=way,
        ),
    ]
CASES.append(
    Case(
        "patch-only-check-then-write-asgi",
        asgi("check-then-write", "patch-only"),
        fails=frozenset({"race"}),
        way=DIALECT_WAYS["patch-only"],
    )
)


def integration(name: str, serve: Serve) -> Case:
    """An integration's example app on PostgreSQL: ``serve`` yields the resource's URL."""
    marks = (pytest.mark.slow, pytest.mark.services)
    return Case(
        name,
        serve,
        path="",
        fixtures=("postgres_db",),
        marks=marks,
        way=DIALECT_WAYS["plain"],
        same_bytes=False,
    )


CASES += [
    integration(
        "drf-viewset",
        lambda db: integration_servers.django_resource(db, "/api/documents/{pk}/"),
    ),
    integration(
        "django-decorator",
        lambda db: integration_servers.django_resource(db, "/plain/documents/{pk}/"),
    ),
    integration("flask", integration_servers.flask_resource),
    integration("fastapi", integration_servers.fastapi_resource),
]


@pytest.fixture(params=[pytest.param(case, id=case.name, marks=case.marks) for case in CASES])
def case(request: pytest.FixtureRequest) -> Iterator[tuple[Case, str]]:
    chosen: Case = request.param
    values = [request.getfixturevalue(name) for name in chosen.fixtures]
    with chosen.serve(*values) as base:
        yield chosen, base + chosen.path


def test_the_checker_flags_exactly_the_expected_probes(case: tuple[Case, str]) -> None:
    chosen, url = case
    limits = httpx.Limits(max_connections=12)
    with httpx.Client(timeout=10, limits=limits) as client:
        before = client.get(url).content
        report = check(client, url, Options(write=True, rounds=8), linter=httplint_linter(url))
        after = client.get(url).content
    statuses = {result.id: result.status for result in report.results}
    details = {result.id: result.detail for result in report.results}
    assert {i for i, s in statuses.items() if s is Status.FAIL} == chosen.fails, details
    assert {i for i, s in statuses.items() if s is Status.WARN} == chosen.warns, details
    assert not {i for i, s in statuses.items() if s in (Status.SKIP, Status.ERROR)}, details
    assert report.verdict is (Verdict.UNSAFE if chosen.fails else Verdict.SAFE)
    lint = [line for result in report.results for e in result.evidence for line in e.lint]
    assert lint == []
    way = report.result("write").data["way"]
    found = (way["method"], way["content_type"], way["body"], tuple(way["omitted"]))
    assert chosen.way is None or found == chosen.way
    assert report.result("restore").status is Status.PASS
    if chosen.same_bytes:
        assert after == before
