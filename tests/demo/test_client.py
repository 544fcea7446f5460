"""ifmatch's client against ifmatch's DRF integration (the demo's HAL API), over a real socket:
tags learned from a list are used for writes without another GET, conflicts are typed, and the
merge strategy keeps both people's changes."""

from __future__ import annotations

import uuid

import httpx
import pytest

from ifmatch.client import Client
from ifmatch.client.errors import PreconditionFailed, PreconditionRequired


def new_document(http: httpx.Client, demo_url: str) -> str:
    """Create a document of our own; return its URL (from the 201's Location)."""
    response = http.post(
        f"{demo_url}/api/documents/",
        json={"title": f"client test {uuid.uuid4().hex[:8]}", "text": "one\ntwo\n"},
        headers={"X-User": "Guido"},
    )
    assert response.status_code == 201, response.text
    return str(httpx.URL(demo_url).join(response.headers["Location"]))


def test_write_an_item_learned_from_the_list_without_another_get(
    http: httpx.Client, demo_url: str
) -> None:
    url = new_document(http, demo_url)
    with Client(demo_url, timeout=20) as client:
        listing = client.get("/api/documents/")
        assert listing.status_code == 200
        item = next(i for i in listing.json() if i["_links"]["self"]["href"] in url)
        sent: list[httpx.Request] = []
        client.http.event_hooks["request"].append(sent.append)
        response = client.put(url, json={"title": item["title"], "text": "edited from the list\n"})
    assert response.status_code == 200, response.text
    assert [request.method for request in sent] == ["PUT"]  # no GET before the write
    assert sent[0].headers["If-Match"] == item["etag"]
    assert response.headers["ETag"] != item["etag"]


def test_stale_write_is_a_typed_error_with_the_current_state(
    http: httpx.Client, demo_url: str
) -> None:
    url = new_document(http, demo_url)
    with Client(demo_url, timeout=20) as ada, Client(demo_url, timeout=20) as guido:
        ada_doc = ada.read(url)
        guido_doc = guido.read(url)
        guido.save(guido_doc, {**guido_doc.data, "text": "Guido was here\n"})
        with pytest.raises(PreconditionFailed) as caught:
            ada.save(ada_doc, {**ada_doc.data, "text": "Ada was here\n"})
    current = http.get(url).headers["ETag"]
    assert str(caught.value.current_etag) == current
    assert http.get(url).json()["text"] == "Guido was here\n"


def test_merge_strategy_keeps_both_changes(http: httpx.Client, demo_url: str) -> None:
    url = new_document(http, demo_url)
    with Client(demo_url, timeout=20) as ada, Client(demo_url, timeout=20) as guido:
        ada_doc = ada.read(url)
        guido_doc = guido.read(url)
        guido.save(guido_doc, {**guido_doc.data, "text": "one\ntwo\nthree (Guido)\n"})
        saved = ada.save(ada_doc, {**ada_doc.data, "title": "Renamed by Ada"}, on_conflict="merge")
    final = http.get(url).json()
    assert (final["title"], final["text"]) == ("Renamed by Ada", "one\ntwo\nthree (Guido)\n")
    assert saved.etag is not None and str(saved.etag) == http.get(url).headers["ETag"]


def test_write_without_a_known_tag_is_refused_with_428(http: httpx.Client, demo_url: str) -> None:
    url = new_document(http, demo_url)
    before = http.get(url).json()
    with Client(demo_url, timeout=20) as client, pytest.raises(PreconditionRequired) as caught:
        client.put(url, json={"title": "t", "text": "x\n"})  # this client never read it
    assert caught.value.status == 428 and caught.value.method == "PUT"
    assert http.get(url).json() == before


def test_create_only_put(http: httpx.Client, demo_url: str) -> None:
    url = f"{demo_url}/api/documents/{900_000 + uuid.uuid4().int % 99_999}/"
    with Client(demo_url, timeout=20) as client:
        created = client.put(url, json={"title": "made by PUT", "text": "x\n"}, create=True)
        assert created.status_code == 201
        with pytest.raises(PreconditionFailed):
            client.put(url, json={"title": "again", "text": "y\n"}, create=True)
    assert http.get(url).json()["title"] == "made by PUT"
