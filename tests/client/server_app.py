"""A small ifmatch-protected JSON document API (WSGI) for the client's end-to-end tests.

Preconditions are evaluated by ``ifmatch.core.evaluate`` against the stored version, and every
write is one conditional statement (``UPDATE ... WHERE id = ? AND version IN (?)``, the
decision's ``WriteCondition`` as an ``Expectation``) on an SQLite file shared by all server
processes, so several gunicorn workers never lose an update.

The first path segment picks how the API talks about versions, to exercise the client on each::

    /hal/docs/<id>     HAL: _links.self.href; strong ETag and Last-Modified headers
    /eve/docs/<id>     Eve: no validator headers; an unquoted _etag field and _id
    /plain/docs/<id>   ETag header; list items carry only id + etag
    /lm/docs/<id>      Last-Modified only, no entity-tag
    /weak/docs/<id>    as HAL behind a compressing proxy: ETag weakened (W/) unless the
                       request asks for Accept-Encoding: identity; no Last-Modified

Collections (``GET /<style>/docs``) list every document in that style's list format.
Run: ``IFMATCH_CLIENT_DB=/tmp/docs.sqlite gunicorn -w 4 client.server_app:app``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from ifmatch.client.patch import apply_json_patch, apply_merge_patch
from ifmatch.core import (
    PROBLEM_MEDIA_TYPE,
    NotModified,
    PreconditionFailed,
    Proceed,
    ResourceState,
    decision_problem,
    evaluate,
    format_http_date,
    problem,
    version_etag,
)
from ifmatch.stores import Expectation, next_last_modified

STYLES = frozenset({"hal", "eve", "plain", "lm", "weak"})
METADATA = frozenset({"_links", "_etag", "_id", "_embedded", "id", "etag", "_meta"})
Row = tuple[int, datetime, dict[str, Any]]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_local = threading.local()


def db() -> sqlite3.Connection:
    """This thread's connection (gunicorn forks worker processes, and threaded workers serve
    requests on several threads: one connection per process and thread)."""
    found: tuple[int, sqlite3.Connection] | None = getattr(_local, "connection", None)
    if found is None or found[0] != os.getpid():
        conn = sqlite3.connect(os.environ["IFMATCH_CLIENT_DB"], timeout=30, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 30000")
        found = (os.getpid(), conn)
        _local.connection = found
    return found[1]


def init_db(path: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, version INTEGER NOT NULL, "
        "modified TEXT NOT NULL, body TEXT NOT NULL)"
    )
    conn.close()


def read(doc_id: str) -> Row | None:
    row = (
        db().execute("SELECT version, modified, body FROM docs WHERE id = ?", (doc_id,)).fetchone()
    )
    if row is None:
        return None
    return row[0], datetime.fromisoformat(row[1]), json.loads(row[2])


def _now(previous: datetime | None) -> str:
    # One whole second per write, as a server without entity-tags must keep for its dates to
    # tell every version apart (ifmatch's own stores give the second write of a second its
    # fraction instead, which only an entity-tag can then name).
    return next_last_modified(datetime.now(UTC), previous, whole_seconds=True).isoformat()


def write(
    doc_id: str,
    row: Row | None,
    body: dict[str, Any],
    versions: frozenset[int] | None,
    unmodified_since: datetime | None = None,
) -> bool:
    """The atomic compare-and-set. Without a ``row`` insert iff absent; otherwise update iff
    the stored version is one of ``versions`` (any, for ``None``) and the stored
    Last-Modified is not after ``unmodified_since``: one statement, checked by SQLite."""
    text = json.dumps(body)
    if row is None:
        cursor = db().execute(
            "INSERT OR IGNORE INTO docs (id, version, modified, body) VALUES (?, 1, ?, ?)",
            (doc_id, _now(None), text),
        )
        return cursor.rowcount == 1
    where, params = _condition(versions, unmodified_since)
    cursor = db().execute(
        f"UPDATE docs SET version = version + 1, modified = ?, body = ? WHERE id = ?{where}",
        (_now(row[1]), text, doc_id, *params),
    )
    return cursor.rowcount == 1


def delete(doc_id: str, versions: frozenset[int] | None, unmodified_since: datetime | None) -> bool:
    where, params = _condition(versions, unmodified_since)
    cursor = db().execute(f"DELETE FROM docs WHERE id = ?{where}", (doc_id, *params))
    return cursor.rowcount == 1


def _condition(
    versions: frozenset[int] | None, unmodified_since: datetime | None
) -> tuple[str, list[Any]]:
    where, params = "", []
    if versions is not None:
        # An empty set can never match: the request named only tags that are not ours.
        where += f" AND version IN ({', '.join('?' * len(versions)) or 'NULL'})"
        params += sorted(versions)
    if unmodified_since is not None:
        where += " AND modified <= ?"
        params.append(unmodified_since.isoformat())
    return where, params


# -- representations --------------------------------------------------------------------------


def represent(style: str, doc_id: str, row: Row, *, item: bool = False) -> dict[str, Any]:
    version, _, body = row
    tag = version_etag(version)
    if style == "eve":
        return {
            **body,
            "_id": doc_id,
            "_etag": tag.opaque,
            "_links": {"self": {"href": f"docs/{doc_id}"}},
        }
    if style == "plain":
        return {**body, "id": doc_id, **({"etag": str(tag)} if item else {})}
    if style == "lm":
        return {**body, "_links": {"self": {"href": f"/lm/docs/{doc_id}"}}}
    links = {"self": {"href": f"/{style}/docs/{doc_id}"}}
    return {**body, "_links": links, **({"_etag": str(tag)} if item else {})}


def validator_headers(style: str, row: Row, identity: bool) -> list[tuple[str, str]]:
    version, modified, _ = row
    headers = []
    if style in ("hal", "plain", "weak"):
        tag = version_etag(version)
        headers.append(("ETag", str(tag.as_weak() if style == "weak" and not identity else tag)))
    if style not in ("eve", "weak"):
        headers.append(("Last-Modified", format_http_date(modified)))
    return headers


def state(style: str, row: Row | None) -> ResourceState:
    if row is None:
        return ResourceState(exists=False)
    version, modified, _ = row
    etag = None if style == "lm" else version_etag(version)
    return ResourceState(etag, modified if style != "eve" else None)


# -- WSGI -------------------------------------------------------------------------------------


class Reply:
    def __init__(self, status: str, body: Any = None, headers: Iterable[tuple[str, str]] = ()):
        self.status = status
        self.headers = list(headers)
        self.content = b"" if body is None else json.dumps(body).encode()
        if body is not None and not any(name == "Content-Type" for name, _ in self.headers):
            self.headers.append(("Content-Type", "application/json"))


def problem_reply(status: str, body: dict[str, Any], row: Row | None, style: str) -> Reply:
    headers = [("Content-Type", PROBLEM_MEDIA_TYPE)]
    if row is not None and style != "lm" and status[:3] in ("412", "428"):
        headers.append(("ETag", str(version_etag(row[0]))))
    return Reply(status, body, headers)


def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    try:
        reply = route(environ)
    except ValueError as error:
        reply = Reply("400 Bad Request", problem(400, str(error)), [])
    headers = [*reply.headers, ("Content-Length", str(len(reply.content)))]
    start_response(reply.status, headers)
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [reply.content]


def request_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (key[5:].replace("_", "-").title(), value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    ]


def route(environ: dict[str, Any]) -> Reply:
    parts = environ.get("PATH_INFO", "").strip("/").split("/")
    method = environ["REQUEST_METHOD"]
    if len(parts) < 2 or parts[0] not in STYLES or parts[1] != "docs" or len(parts) > 3:
        return Reply("404 Not Found", problem(404, "no such resource"))
    style = parts[0]
    if len(parts) == 2:
        if method == "GET":
            return collection(style)
        if method == "POST":
            return create(style, environ)
        return Reply("405 Method Not Allowed", problem(405, "GET or POST"))
    return document(style, parts[2], method, environ)


def collection(style: str) -> Reply:
    rows = db().execute("SELECT id, version, modified, body FROM docs ORDER BY id").fetchall()
    items = [
        represent(style, doc_id, (v, datetime.fromisoformat(m), json.loads(b)), item=True)
        for doc_id, v, m, b in rows
    ]
    if style == "eve":
        return Reply("200 OK", {"_items": items, "_meta": {"total": len(items)}})
    if style == "plain":
        return Reply("200 OK", {"items": items})
    links = {"self": {"href": f"/{style}/docs"}}
    return Reply("200 OK", {"_links": links, "_embedded": {"docs": items}})


def read_body(environ: dict[str, Any]) -> Any:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        return json.loads(raw or b"null")
    except ValueError as error:
        raise ValueError(f"the body is not JSON: {error}") from error


def stored(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("a document is a JSON object")
    return {key: value for key, value in body.items() if key not in METADATA}


def create(style: str, environ: dict[str, Any]) -> Reply:
    doc_id = uuid.uuid4().hex[:12]
    write(doc_id, None, stored(read_body(environ)), None)
    return ok(style, doc_id, "201 Created", environ, location=True)


def ok(
    style: str, doc_id: str, status: str, environ: dict[str, Any], *, location: bool = False
) -> Reply:
    row = read(doc_id)
    assert row is not None
    identity = environ.get("HTTP_ACCEPT_ENCODING", "") == "identity"
    headers = validator_headers(style, row, identity)
    if location:
        headers.append(("Location", f"/{style}/docs/{doc_id}"))
    return Reply(status, represent(style, doc_id, row), headers)


def document(style: str, doc_id: str, method: str, environ: dict[str, Any]) -> Reply:
    row = read(doc_id)
    if row is None and method in ("GET", "HEAD", "PATCH", "DELETE"):
        # RFC 9110 §13.2.1: a response other than 2xx/412 makes preconditions irrelevant.
        return Reply("404 Not Found", problem(404, f"no document {doc_id}"))
    decision = evaluate(method, request_headers(environ), state(style, row))
    if isinstance(decision, NotModified):
        identity = environ.get("HTTP_ACCEPT_ENCODING", "") == "identity"
        assert row is not None
        return Reply("304 Not Modified", None, validator_headers(style, row, identity))
    if not isinstance(decision, Proceed):
        status = {400: "400 Bad Request", 412: "412 Precondition Failed"}.get(
            decision.status, "428 Precondition Required"
        )
        body = decision_problem(decision, instance=environ.get("PATH_INFO"))
        return problem_reply(status, body, row, style)
    if method in ("GET", "HEAD"):
        return ok(style, doc_id, "200 OK", environ)
    expect = Expectation.from_condition(decision.condition)
    if method == "DELETE":
        if delete(doc_id, expect.versions, expect.unmodified_since):
            return Reply("204 No Content")
        return lost(style, doc_id, environ)
    if method == "PUT":
        body = stored(read_body(environ))
        if write(doc_id, row, body, expect.versions, expect.unmodified_since):
            return ok(style, doc_id, "201 Created" if row is None else "200 OK", environ)
        return lost(style, doc_id, environ)
    if method == "PATCH":
        assert row is not None
        return patch(style, doc_id, row, environ)
    return Reply("405 Method Not Allowed", problem(405, "GET, PUT, PATCH or DELETE"))


def patch(style: str, doc_id: str, row: Row, environ: dict[str, Any]) -> Reply:
    media_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip()
    body = read_body(environ)
    if media_type == "application/merge-patch+json":
        new = apply_merge_patch(row[2], body)
    elif media_type == "application/json-patch+json":
        new = apply_json_patch(row[2], body)
    else:
        return Reply("415 Unsupported Media Type", problem(415, "send a merge or JSON patch"))
    # The patch was applied to this version's body, so only this version may be replaced.
    if write(doc_id, row, stored(new), frozenset({row[0]})):
        return ok(style, doc_id, "200 OK", environ)
    return lost(style, doc_id, environ)


def lost(style: str, doc_id: str, environ: dict[str, Any]) -> Reply:
    """The conditional write matched no row: another writer won since the precondition was
    evaluated. 412, with the current tag read afresh."""
    row = read(doc_id)
    current = None if row is None or style == "lm" else version_etag(row[0])
    decision = PreconditionFailed(
        "If-Match",
        "etag-mismatch",
        "The resource changed while this request was being processed; re-read and retry.",
        current_etag=current,
    )
    body = decision_problem(decision, instance=environ.get("PATH_INFO"))
    return problem_reply("412 Precondition Failed", body, row, style)
