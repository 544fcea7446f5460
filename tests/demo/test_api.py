"""The demo's REST API over real HTTP, against a running demo server.

Shape (list items, links, history), the status codes of the README, the OpenAPI schema and its
docs page, and the shared RFC 9110 conformance table, sent byte for byte over a socket so no
client library tidies the headers first.
"""

from __future__ import annotations

import itertools
import json
import socket
from datetime import datetime
from urllib.parse import urlsplit

import httpx
import pytest

from conformance import HTTP_CASES, Case, render_headers
from ifmatch.core import PROBLEM_MEDIA_TYPE, ETag, parse_etag, parse_http_date

JSON_BODY = {"title": "Conformance", "text": "line\n"}
# Ids for PUT-create, counting down: a created id moves SQLite's next automatic id above it, so
# POSTed documents (counting up from there) never take one of these.
_ids = itertools.count(1_000_000_000, -1)


def create(
    http: httpx.Client, demo_url: str, title: str = "A document", text: str = "one\ntwo\n"
) -> httpx.Response:
    response = http.post(f"{demo_url}/api/documents/", json={"title": title, "text": text})
    assert response.status_code == 201, response.text
    return response


# --- shape ---------------------------------------------------------------------------------


def test_list_items_carry_id_title_text_etags_and_self_link(
    http: httpx.Client, demo_url: str
) -> None:
    created = create(http, demo_url, "Listed", "hello\n")
    items = http.get(f"{demo_url}/api/documents/").json()
    item = next(item for item in items if item["id"] == created.json()["id"])
    assert {"id", "title", "text", "etag", "_etag", "_links"} <= item.keys()
    assert (item["title"], item["text"]) == ("Listed", "hello\n")
    detail = http.get(item["_links"]["self"]["href"])
    assert detail.status_code == 200
    # etag is the ETag header exactly; _etag is its bare token (Eve/HAL style).
    assert item["etag"] == detail.headers["ETag"] == '"v1"'
    assert item["_etag"] == "v1"
    assert urlsplit(item["_links"]["self"]["href"]).path == f"/api/documents/{item['id']}/"


def test_post_answers_201_with_location_and_etag(http: httpx.Client, demo_url: str) -> None:
    created = create(http, demo_url)
    assert created.headers["ETag"] == '"v1"'
    assert parse_http_date(created.headers["Last-Modified"]) is not None
    location = http.get(f"{demo_url}{created.headers['Location']}")
    assert location.status_code == 200
    assert location.json()["id"] == created.json()["id"]


def test_bare_etag_member_works_as_if_match(http: httpx.Client, demo_url: str) -> None:
    """A HAL client reads ``_etag`` from the item and sends it back as ``If-Match``."""
    item = create(http, demo_url).json()
    url = item["_links"]["self"]["href"]
    saved = http.patch(url, json={"text": "patched\n"}, headers={"If-Match": item["_etag"]})
    assert saved.status_code == 200
    assert saved.headers["ETag"] == '"v2"' == saved.json()["etag"]


def test_unconditional_write_gets_428_problem_with_current_etag(
    http: httpx.Client, demo_url: str
) -> None:
    url = create(http, demo_url).json()["_links"]["self"]["href"]
    response = http.put(url, json=JSON_BODY)
    assert response.status_code == 428
    assert response.headers["Content-Type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["ETag"] == '"v1"'
    assert response.json()["current_etag"] == '"v1"'


def test_stale_write_gets_412_with_the_current_document(http: httpx.Client, demo_url: str) -> None:
    url = create(http, demo_url).json()["_links"]["self"]["href"]
    guido = http.put(url, json={"title": "T", "text": "Guido\n"}, headers={"If-Match": '"v1"'})
    assert guido.status_code == 200
    ada = http.put(url, json={"title": "T", "text": "Ada\n"}, headers={"If-Match": '"v1"'})
    assert ada.status_code == 412
    assert ada.headers["Content-Type"] == PROBLEM_MEDIA_TYPE
    assert ada.headers["ETag"] == '"v2"'
    problem = ada.json()
    assert problem["status"] == 412 and problem["current_etag"] == '"v2"'
    assert problem["current"]["text"] == "Guido\n"  # enough to merge without another GET
    assert http.get(url).json()["text"] == "Guido\n"


def test_get_with_current_etag_is_304(http: httpx.Client, demo_url: str) -> None:
    url = create(http, demo_url).json()["_links"]["self"]["href"]
    response = http.get(url, headers={"If-None-Match": '"v1"'})
    assert response.status_code == 304
    assert response.headers["ETag"] == '"v1"'
    assert response.content == b""


def test_history_records_who_saved_each_version(http: httpx.Client, demo_url: str) -> None:
    item = http.post(
        f"{demo_url}/api/documents/", json={"title": "H", "text": ""}, headers={"X-User": "Guido"}
    ).json()
    url = item["_links"]["self"]["href"]
    body = {"title": "H", "text": "by Ada\n", "author": "Ada"}
    assert http.put(url, json=body, headers={"If-Match": '"v1"'}).status_code == 200
    refused = http.put(url, json={**body, "author": "Lost"}, headers={"If-Match": '"v1"'})
    assert refused.status_code == 412
    history = http.get(item["_links"]["history"]["href"]).json()
    assert [(entry["version"], entry["etag"], entry["author"]) for entry in history] == [
        (2, '"v2"', "Ada"),
        (1, '"v1"', "Guido"),
    ]
    assert history[0]["text"] == "by Ada\n"
    assert http.get(url).json()["saved_by"] == "Ada"


def test_history_of_a_missing_document_is_404(http: httpx.Client, demo_url: str) -> None:
    assert http.get(f"{demo_url}/api/documents/999999999/history/").status_code == 404


def test_delete_needs_the_current_etag(http: httpx.Client, demo_url: str) -> None:
    url = create(http, demo_url).json()["_links"]["self"]["href"]
    assert http.delete(url).status_code == 428
    assert http.delete(url, headers={"If-Match": '"v9"'}).status_code == 412
    assert http.delete(url, headers={"If-Match": '"v1"'}).status_code == 204
    assert http.get(url).status_code == 404


def test_put_creates_only_with_if_none_match_star(http: httpx.Client, demo_url: str) -> None:
    url = f"{demo_url}/api/documents/{next(_ids)}/"
    first = http.put(url, json=JSON_BODY, headers={"If-None-Match": "*"})
    assert first.status_code == 201 and first.headers["ETag"] == '"v1"'
    again = http.put(url, json=JSON_BODY, headers={"If-None-Match": "*"})
    assert again.status_code == 412 and again.headers["ETag"] == '"v1"'


# --- OpenAPI and the docs page --------------------------------------------------------------


def test_openapi_schema_documents_the_preconditions(http: httpx.Client, demo_url: str) -> None:
    response = http.get(f"{demo_url}/api/schema/", headers={"Accept": "application/json"})
    assert response.status_code == 200
    schema = response.json()
    item = schema["paths"]["/api/documents/{id}/"]
    put_parameters = {p["name"]: p for p in item["put"]["parameters"] if p["in"] == "header"}
    # A PUT may create the document with If-None-Match: * alone: If-Match is not required.
    assert not put_parameters["If-Match"].get("required")
    assert "If-None-Match" in put_parameters
    patch = {p["name"]: p for p in item["patch"]["parameters"] if p["in"] == "header"}
    assert patch["If-Match"]["required"] is True
    assert "X-User" in put_parameters
    assert {"200", "412", "428"} <= item["put"]["responses"].keys()
    # The demo honours Idempotency-Key: documented on writes, with its 409, 422 and the 503.
    assert not put_parameters["Idempotency-Key"].get("required")
    assert {"409", "422", "503"} <= item["put"]["responses"].keys()
    assert "304" in item["get"]["responses"]
    assert PROBLEM_MEDIA_TYPE in item["put"]["responses"]["412"]["content"]
    assert "201" in schema["paths"]["/api/documents/"]["post"]["responses"]
    fields = schema["components"]["schemas"]["Document"]["properties"]
    assert {"id", "title", "text", "etag", "_etag", "_links"} <= fields.keys()
    assert fields["etag"]["example"] == '"v3"' and fields["_etag"]["example"] == "v3"
    assert set(fields["_links"]["properties"]) == {"self"}  # history: an additional link


def test_docs_page_loads_its_assets_from_this_server(http: httpx.Client, demo_url: str) -> None:
    page = http.get(f"{demo_url}/api/docs/")
    assert page.status_code == 200
    assets = [
        part.split('"')[1]
        for part in page.text.split()
        if part.startswith(('src="', 'href="')) and not part.startswith('href="#')
    ]
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by the demo itself"
        assert http.get(f"{demo_url}{asset}").status_code == 200


def test_page_and_scripts_are_served(http: httpx.Client, demo_url: str) -> None:
    page = http.get(f"{demo_url}/")
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    for name in ("app.mjs", "diff3.mjs", "style.css"):
        asset = http.get(f"{demo_url}/{name}")
        assert asset.status_code == 200, name
    assert http.get(f"{demo_url}/app.mjs").headers["Content-Type"].startswith("text/javascript")


# --- the conformance table ------------------------------------------------------------------


def raw_request(
    url: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 exchange over a plain socket, headers sent exactly as given."""
    parts = urlsplit(url)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, content = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    received = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        received[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), received, content


def _expected(case: Case, status: int) -> bool:
    if case.expect == "proceed":
        return 200 <= status < 300
    return status == int(case.expect)


@pytest.mark.parametrize("case", HTTP_CASES, ids=str)
def test_conformance(http: httpx.Client, demo_url: str, case: Case) -> None:
    created = create(http, demo_url, f"case {case.id}")
    etag = parse_etag(created.headers["ETag"])
    assert isinstance(etag, ETag)
    last_modified = parse_http_date(created.headers["Last-Modified"])
    assert isinstance(last_modified, datetime)
    doc_id = created.json()["id"] if case.exists else next(_ids)
    headers = render_headers(case, etag, last_modified)
    body = json.dumps(JSON_BODY).encode() if case.method in {"PUT", "PATCH"} else b""
    status, received, content = raw_request(
        demo_url, case.method, f"/api/documents/{doc_id}/", headers, body
    )
    assert _expected(case, status), f"{case.id} ({case.section}): got {status}: {content[:300]!r}"
    if status in {412, 428} and content:
        assert received["content-type"] == PROBLEM_MEDIA_TYPE
        if case.exists:
            assert received["etag"] == str(etag)
    if status == 304:
        assert received["etag"] == str(etag)
    if case.expect == "proceed" and case.method in {"PUT", "PATCH"}:
        version = 2 if case.exists else 1
        assert received["etag"] == f'"v{version}"'
