"""Hostile precondition values against the running demo (Django REST framework, the Django store,
SQLite by default), sent byte for byte: the status the header check decides, never a 5xx, and
the document changes exactly when the request succeeded."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import pytest

from hostile_cases import CASES, WRITE, case_id, fill
from ifmatch.core import parse_etag, parse_http_date

from .test_api import create, raw_request

BODY = {"title": "Hostile", "text": "written\n"}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_put_with_hostile_preconditions(
    http: httpx.Client, demo_url: str, case: tuple[str, str, int]
) -> None:
    created = create(http, demo_url, "Hostile", "original\n")
    etag = parse_etag(created.headers["ETag"])
    last_modified = parse_http_date(created.headers["Last-Modified"])
    assert isinstance(last_modified, datetime)
    version = int(etag.opaque.removeprefix("v"))
    header, template, status = case
    value = fill(template, version, last_modified)
    path = f"/api/documents/{created.json()['id']}/"
    got, _, content = raw_request(
        demo_url, "PUT", path, [(header, value)], json.dumps(BODY).encode()
    )
    assert got < 500, (got, content[:300])
    assert got == (200 if status == WRITE else status), (got, content[:300])
    after = http.get(f"{demo_url}{path}")
    if got == 200:
        assert after.json()["text"] == BODY["text"]
        assert after.headers["ETag"] == f'"v{version + 1}"'
    else:
        assert after.json()["text"] == "original\n"
        assert after.headers["ETag"] == str(etag)
