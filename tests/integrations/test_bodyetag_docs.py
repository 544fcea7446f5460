"""docs/body-etags.md: its quick starts run as written, and say what the page says they do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anyio.from_thread import BlockingPortal

from ifmatch.integrations._bodyetag import BodyETag
from integrations.http_conformance import AsgiClient

PAGE = Path(__file__).resolve().parents[2] / "docs" / "body-etags.md"


def block(name: str) -> str:
    import re

    text = PAGE.read_text()
    pattern = rf"<!-- quickstart: {re.escape(name)}[^>]*-->\n```python\n(.*?)\n```"
    match = re.search(pattern, text, re.S)
    assert match is not None, name
    return match[1] + "\n"


def test_flask_quick_start() -> None:
    namespace: dict[str, Any] = {"__name__": "body_etags_flask"}
    exec(block("body-etags/flask"), namespace)
    client = namespace["app"].test_client()
    created = client.put("/documents/7", json={"text": "draft"}, headers={"If-None-Match": "*"})
    assert created.status_code == 201 and created.headers["ETag"] == '"v1"'
    read = client.get("/documents/7")
    assert read.json["etag"] == read.headers["ETag"] == '"v1"'
    put = client.put("/documents/7", json={"text": "final", "etag": '"v1"'})
    assert put.status_code == 200 and put.json == {"id": "7", "text": "final", "etag": '"v2"'}
    stale = client.put("/documents/7", json={"text": "stale", "etag": '"v1"'})
    assert stale.status_code == 412 and stale.json["field"] == "etag"
    assert client.delete("/documents/7", json={"etag": '"v2"'}).status_code == 204
    assert client.get("/documents/7").status_code == 404


def test_fastapi_quick_start(portal: BlockingPortal) -> None:
    namespace: dict[str, Any] = {}
    exec(block("body-etags/fastapi"), namespace)
    client = AsgiClient(namespace["app"], portal)
    created = client.request(
        "PUT", "/documents/7", json={"text": "draft"}, headers={"If-None-Match": "*"}
    )
    assert created.status_code == 200 and created.headers["ETag"] == '"v1"'
    read = client.request("GET", "/documents/7")
    assert read.json()["etag"] == read.headers["ETag"] == '"v1"'
    put = client.request("PUT", "/documents/7", json={"text": "final", "etag": '"v1"'})
    assert put.status_code == 200 and put.json()["etag"] == '"v2"'
    stale = client.request("PUT", "/documents/7", json={"text": "stale", "etag": '"v1"'})
    assert stale.status_code == 409 and stale.json()["field"] == "etag"
    assert client.request("GET", "/documents/7").json()["text"] == "final"


def test_django_settings() -> None:
    namespace: dict[str, Any] = {}
    exec(block("body-etags/django-settings"), namespace)
    assert namespace["MIDDLEWARE"][0].endswith("BodyETagMiddleware")
    config = BodyETag(**namespace["IFMATCH_BODY_ETAG"])
    assert [(spec.name, spec.quoted) for spec in config.specs] == [("etag", True), ("_etag", False)]
    assert config.mismatch_status == 409
