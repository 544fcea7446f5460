"""docs/patch.md: the Flask and FastAPI quick starts run as written (each block written to a
file untouched and imported), on SQLite, and answer what the page's status table says."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from test_quickstarts import marked

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
ACCEPT_PATCH = f"{MERGE}, {JSON_PATCH}"

#: request(method, path, headers, body) -> (status, headers with lower-case names, JSON or None)
Send = Callable[[str, str, dict[str, str], bytes | None], tuple[int, dict[str, str], Any]]


def check_patch_page(send: Send) -> None:
    """What docs/patch.md promises, against document 1 (``{"title": "Draft", "text": ""}``)."""
    status, headers, body = send("GET", "/documents/1", {}, None)
    assert status == 200 and body == {"title": "Draft", "text": ""}
    assert headers["etag"] == '"v1"' and headers["accept-patch"] == ACCEPT_PATCH

    def patch(content_type: str, document: Any, if_match: str | None = '"v1"') -> Any:
        sent = {"Content-Type": content_type}
        if if_match is not None:
            sent["If-Match"] = if_match
        raw = document if isinstance(document, bytes) else json.dumps(document).encode()
        return send("PATCH", "/documents/1", sent, raw)

    # The page's example: 200, the whole new document, ETag "v2".
    status, headers, body = patch(MERGE, {"title": "Final"})
    assert status == 200 and body == {"title": "Final", "text": ""}
    assert headers["etag"] == '"v2"'
    refusals = [
        (patch(MERGE, {"text": "x"}, None), 428, "precondition-required"),
        (patch(MERGE, {"text": "x"}, '"v1"'), 412, "etag-mismatch"),
        (patch("application/json", {"text": "x"}, '"v2"'), 415, "unsupported-patch-type"),
        (patch(MERGE, b"{text", '"v2"'), 400, "malformed-patch"),
        (patch(JSON_PATCH, [{"op": "move", "path": "/a"}], '"v2"'), 400, "malformed-patch"),
        (patch(MERGE, {"text": 3}, '"v2"'), 422, "unprocessable-patch"),
        (patch(MERGE, {"owner": "ada"}, '"v2"'), 422, "unprocessable-patch"),
        (
            patch(JSON_PATCH, [{"op": "test", "path": "/title", "value": "Draft"}], '"v2"'),
            409,
            "patch-conflict",
        ),
        (
            patch(JSON_PATCH, [{"op": "remove", "path": "/subtitle"}], '"v2"'),
            409,
            "patch-conflict",
        ),
    ]
    for (status, headers, body), expected, code in refusals:
        assert (status, body["code"]) == (expected, code), body
        assert headers["content-type"] == "application/problem+json"
        if expected == 415:
            assert headers["accept-patch"] == ACCEPT_PATCH
    ops = [
        {"op": "test", "path": "/title", "value": "Final"},
        {"op": "replace", "path": "/text", "value": "Hello"},
    ]
    status, headers, body = patch(JSON_PATCH, ops, '"v2"')
    assert status == 200 and body == {"title": "Final", "text": "Hello"}
    assert headers["etag"] == '"v3"'
    status, headers, body = send("GET", "/documents/1", {}, None)
    assert body == {"title": "Final", "text": "Hello"} and headers["etag"] == '"v3"'


@pytest.fixture
def portal() -> Iterator[Any]:
    """One event loop in a background thread, for driving the ASGI app."""
    from anyio.from_thread import start_blocking_portal

    with start_blocking_portal() as portal:
        yield portal


@pytest.fixture
def quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    names: list[str] = []

    def load(name: str, database_url: str) -> Any:
        (tmp_path / f"{name.replace('/', '_')}.py").write_text(marked("docs/patch.md")[name])
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setenv("DATABASE_URL", database_url)
        names.append(name.replace("/", "_"))
        return __import__(names[-1])

    yield load
    for name in names:
        sys.modules.pop(name, None)


def test_flask_quick_start(tmp_path: Path, quickstart: Callable[..., Any]) -> None:
    module = quickstart("patch/flask", f"sqlite:///{tmp_path / 'flask.db'}")
    # scaffolding: document 1
    with module.app.app_context():
        module.db.session.add(module.Document(id=1, title="Draft", text=""))
        module.db.session.commit()
    client = module.app.test_client()

    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> Any:
        response = client.open(path, method=method, headers=headers, data=body)
        fields = {name.lower(): value for name, value in response.headers.items()}
        return response.status_code, fields, response.get_json(silent=True)

    check_patch_page(send)
    options = client.options("/documents/1")
    assert options.status_code == 200 and options.headers["Accept-Patch"] == ACCEPT_PATCH
    with module.app.app_context():
        module.db.engine.dispose()


def test_fastapi_quick_start(tmp_path: Path, quickstart: Callable[..., Any], portal: Any) -> None:
    from integrations.http_conformance import AsgiClient

    database = tmp_path / "fastapi.db"
    module = quickstart("patch/fastapi", f"sqlite+aiosqlite:///{database}")
    # scaffolding: the table and document 1
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    sync = create_engine(f"sqlite:///{database}")
    module.Base.metadata.create_all(sync)
    with Session(sync) as session:
        session.add(module.Document(id=1, title="Draft", text=""))
        session.commit()
    sync.dispose()
    client = AsgiClient(module.app, portal)

    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> Any:
        response = client.request(method, path, headers=headers, content=body)
        fields = {name.lower(): value for name, value in response.headers.items()}
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        return response.status_code, fields, parsed

    try:
        check_patch_page(send)
        status, _, body = send(
            "PATCH", "/documents/1", {"If-Match": '"v3"', "Content-Type": MERGE}, b'{"text": 1}'
        )
        assert status == 422 and body["errors"][0]["loc"] == ["text"]  # pydantic's, listed
        _, _, schema = send("GET", "/openapi.json", {}, None)
        content = schema["paths"]["/documents/{doc_id}"]["patch"]["requestBody"]["content"]
        assert list(content) == [MERGE, JSON_PATCH]
    finally:
        portal.call(module.engine.dispose)
