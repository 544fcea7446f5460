"""A minimal WSGI app over ``SQLAlchemyStore``, for tests that need real server processes.

``GET /docs/<key>`` answers the body with ``ETag`` and ``Last-Modified``; ``PUT /docs/<key>``
(JSON ``{"body": ...}``) evaluates the preconditions with ``ifmatch.core.evaluate``, writes
through the store in the request's session, and commits. Settings come from the environment:

- ``IFMATCH_TEST_DB_URL``: the database (required).
- ``IFMATCH_TEST_CLOCK_SKEW``: seconds added to this process's clock (``time.time``, hence
  gunicorn's ``Date`` header). The store must not use it: Last-Modified comes from the database.
- ``IFMATCH_TEST_HOOKS=1``: honour ``X-Test-Die: before-commit``, which SIGKILLs the worker
  after the conditional UPDATE and before the COMMIT.

Serve with ``gunicorn stores.cas_app:app``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ifmatch.core import PreconditionFailed, Proceed, ResourceState, evaluate, format_http_date
from ifmatch.stores import Expectation, Outcome, StoreUnavailable, last_modified_for
from ifmatch.stores.sqlalchemy import SQLAlchemyStore

from .sa_support import Doc, make_engine

SKEW = float(os.environ.get("IFMATCH_TEST_CLOCK_SKEW", "0"))
HOOKS = os.environ.get("IFMATCH_TEST_HOOKS") == "1"
StartResponse = Callable[[str, list[tuple[str, str]]], Any]

if SKEW:
    _real_time = time.time
    time.time = lambda: _real_time() + SKEW  # every time.time() caller in this process

_factory: sessionmaker[Session] | None = None


def factory() -> sessionmaker[Session]:
    """One engine per worker process, created after the fork."""
    global _factory
    if _factory is None:
        engine = make_engine(os.environ["IFMATCH_TEST_DB_URL"], pool_size=4, max_overflow=0)
        _factory = sessionmaker(engine)
    return _factory


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    key = environ["PATH_INFO"].removeprefix("/docs/")
    method = environ["REQUEST_METHOD"]
    try:
        with factory()() as session:
            if method == "GET":
                return get(session, key, start_response)
            return put(session, key, environ, start_response)
    except StoreUnavailable as exc:
        return respond(start_response, 503, {"detail": str(exc)})


def get(session: Session, key: str, start_response: StartResponse) -> Iterable[bytes]:
    record = SQLAlchemyStore(Doc, session).get(key)
    if record is None:
        return respond(start_response, 404, {})
    snapshot, values = record
    body = {"body": values["body"], "version": snapshot.version}
    return respond(start_response, 200, body, snapshot.etag(), snapshot.last_modified)


def put(
    session: Session, key: str, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    store = SQLAlchemyStore(Doc, session)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    new_body = json.loads(environ["wsgi.input"].read(length))["body"]
    current = store.read(key)
    state = ResourceState(
        current.etag() if current else None,
        current.last_modified if current else None,
        exists=current is not None,
    )
    headers = {k[5:].replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
    decision = evaluate("PUT", headers, state)
    if not isinstance(decision, Proceed):
        etag = decision.current_etag if isinstance(decision, PreconditionFailed) else None
        return respond(start_response, decision.status, {"code": "precondition"}, etag)
    result = store.compare_and_set(
        key, Expectation.from_condition(decision.condition), {"body": new_body}
    )
    if HOOKS and environ.get("HTTP_X_TEST_DIE") == "before-commit" and result.won:
        os.kill(os.getpid(), signal.SIGKILL)  # the UPDATE ran; the COMMIT never will
    session.commit()
    if result.outcome is Outcome.NOT_FOUND:
        return respond(start_response, 404, {})
    assert result.snapshot is not None
    status = 200 if result.won else 412
    return respond(
        start_response, status, {}, result.snapshot.etag(), result.snapshot.last_modified
    )


def respond(
    start_response: StartResponse,
    status: int,
    body: dict[str, Any],
    etag: Any = None,
    last_modified: datetime | None = None,
) -> list[bytes]:
    payload = json.dumps(body).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(payload))),
    ]  # gunicorn adds Date from time.time(), i.e. from the skewed clock
    if etag is not None:
        headers.append(("ETag", str(etag)))
    if last_modified is not None:
        # The Last-Modified rule of every integration, against this process's (skewed) clock,
        # which gunicorn's Date also reads.
        sent = last_modified_for(last_modified, datetime.fromtimestamp(time.time(), UTC))
        headers.append(("Last-Modified", format_http_date(sent)))  # type: ignore[arg-type]
    reason = {200: "OK", 404: "Not Found", 412: "Precondition Failed", 428: "Precondition Required"}
    start_response(f"{status} {reason.get(status, 'Error')}", headers)
    return [payload]
