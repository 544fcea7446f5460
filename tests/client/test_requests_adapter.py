"""The requests adapter against the real server: the same flow behind ``requests.Session``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from ifmatch.client import PreconditionFailed, ResponseCache, ValidatorStore
from ifmatch.client.requests_adapter import IfMatchAdapter, session
from ifmatch.core import ETag


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with session() as s:
        yield s


def create(server_url: str, path: str, body: object) -> None:
    with requests.put(
        server_url + path, json=body, headers={"If-None-Match": "*"}, timeout=10
    ) as response:
        assert response.status_code == 201


def test_get_then_put_sends_if_match(server_url: str, http: requests.Session) -> None:
    path = f"/hal/docs/{uuid.uuid4().hex[:10]}"
    create(server_url, path, {"n": 0})
    http.get(server_url + path, timeout=10)
    response = http.put(server_url + path, json={"n": 1}, timeout=10)
    assert response.status_code == 200
    assert response.request.headers["If-Match"] == '"v1"'
    again = http.put(server_url + path, json={"n": 2}, timeout=10)
    assert again.request.headers["If-Match"] == '"v2"'


def test_without_a_read_the_server_asks_for_a_precondition(
    server_url: str, http: requests.Session
) -> None:
    path = f"/hal/docs/{uuid.uuid4().hex[:10]}"
    create(server_url, path, {"n": 0})
    response = http.delete(server_url + path, timeout=10)
    assert response.status_code == 428
    assert response.headers["Content-Type"] == "application/problem+json"


def test_raise_errors_and_the_current_tag(server_url: str) -> None:
    path = f"/hal/docs/{uuid.uuid4().hex[:10]}"
    create(server_url, path, {"n": 0})
    with session(raise_errors=True) as http, session() as other:
        http.get(server_url + path, timeout=10)
        other.get(server_url + path, timeout=10)
        other.put(server_url + path, json={"n": "theirs"}, timeout=10)
        with pytest.raises(PreconditionFailed) as caught:
            http.put(server_url + path, json={"n": "mine"}, timeout=10)
    assert caught.value.current_etag == ETag("v2")


def test_list_items_and_delete(server_url: str) -> None:
    doc_id = uuid.uuid4().hex[:10]
    create(server_url, f"/eve/docs/{doc_id}", {"n": 0})
    store = ValidatorStore()
    with session(store=store) as http:
        http.get(server_url + "/eve/docs", timeout=10)
        url = f"{server_url}/eve/docs/{doc_id}"
        assert url in store
        assert http.delete(url, timeout=10).status_code == 204
        assert url not in store


def test_weak_tags_are_reread(server_url: str, http: requests.Session) -> None:
    path = f"/weak/docs/{uuid.uuid4().hex[:10]}"
    create(server_url, path, {"n": 0})
    http.get(server_url + path, timeout=10)
    response = http.put(server_url + path, json={"n": 1}, timeout=10)
    assert (response.status_code, response.request.headers["If-Match"]) == (200, '"v1"')


def test_cache_turns_304_into_the_representation(server_url: str) -> None:
    path = f"/hal/docs/{uuid.uuid4().hex[:10]}"
    create(server_url, path, {"n": 0})
    adapter = IfMatchAdapter(cache=ResponseCache())
    with requests.Session() as http:
        http.mount("http://", adapter)
        first = http.get(server_url + path, timeout=10)
        second = http.get(server_url + path, timeout=10)
        assert second.request.headers["If-None-Match"] == '"v1"'
    assert second.status_code == 200
    assert second.json() == first.json()
    assert adapter.store.get(server_url + path) is not None


def test_streamed_responses_still_stream(server_url: str, http: requests.Session) -> None:
    path = f"/hal/docs/{uuid.uuid4().hex[:10]}"
    create(server_url, path, {"n": 0})
    with http.get(server_url + path, stream=True, timeout=10) as response:
        assert b"".join(response.iter_content(8)).startswith(b"{")
