"""The client against real JSON:API servers (flask-rest-jsonapi-next and
djangorestframework-jsonapi through ifmatch), in process over WSGI: ``update`` / ``save`` with
``patch="jsonapi"``, and tags learned from each list item's ``meta``."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ifmatch.client import Client, PreconditionFailed, jsonapi_patch

JSONAPI = "application/vnd.api+json"


@pytest.fixture
def flask_api() -> Iterator[tuple[Client, str]]:
    from integrations.jsonapi_flask_app import Article, create_app, db

    app = create_app("sqlite://")
    with app.app_context():
        db.session.add_all([Article(id=1, title="one", text="a"), Article(id=2, title="two")])
        db.session.commit()
    with Client("http://testserver", transport=httpx.WSGITransport(app=app)) as client:
        yield client, "/articles"
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def django_api() -> Iterator[tuple[Client, str]]:
    import djangoproject

    djangoproject.setup()
    from djangoproject.docs.models import Document
    from djangoproject.wsgi import application

    Document.objects.all().delete()
    first = Document(title="one", text="a")
    first.save()
    Document(title="two", text="b").save()
    with Client("http://testserver", transport=httpx.WSGITransport(app=application)) as client:
        yield client, "/jsonapi/documents/"


@pytest.fixture(params=["flask", "django"])
def api(request: pytest.FixtureRequest) -> tuple[Client, str]:
    chosen: tuple[Client, str] = request.getfixturevalue(f"{request.param}_api")
    return chosen


def first_item(client: Client, collection: str) -> str:
    listing = client.get(collection, headers={"Accept": JSONAPI})
    item = listing.json()["data"][0]
    return str(httpx.URL(listing.request.url).join(item["links"]["self"]))


def append(text: str) -> Any:
    def edit(document: Any) -> Any:
        document["data"]["attributes"]["text"] += text
        return document

    return edit


def test_update_patches_a_jsonapi_resource(api: tuple[Client, str]) -> None:
    client, collection = api
    url = first_item(client, collection)
    done = client.update(url, append("+mine"), patch="jsonapi")
    assert done.data["data"]["attributes"]["text"].endswith("+mine")
    assert done.etag is not None and str(done.etag) == '"v2"'
    assert client.read(url).data["data"]["attributes"]["text"].endswith("+mine")


def test_update_rereads_and_reapplies_after_a_412(api: tuple[Client, str]) -> None:
    client, collection = api
    url = first_item(client, collection)
    calls = []

    def edit(document: Any) -> Any:
        calls.append(document["data"]["attributes"]["text"])
        if len(calls) == 1:  # another writer gets there first
            theirs = client.read(url)
            client.save(theirs, append("+theirs")(copy.deepcopy(theirs.data)), patch="jsonapi")
        return append("+mine")(document)

    done = client.update(url, edit, patch="jsonapi")
    text = done.data["data"]["attributes"]["text"]
    assert text.endswith("+theirs+mine") and len(calls) == 2


def test_save_raises_on_a_stale_read(api: tuple[Client, str]) -> None:
    client, collection = api
    url = first_item(client, collection)
    base = client.read(url)
    client.save(base, append("+first")(client.read(url).data), patch="jsonapi")
    with pytest.raises(PreconditionFailed):
        client.save(base, append("+stale")(client.read(url).data), patch="jsonapi")


def test_list_items_teach_their_tags_from_meta(api: tuple[Client, str]) -> None:
    client, collection = api
    listing = client.get(collection, headers={"Accept": JSONAPI})
    items = listing.json()["data"]
    second = items[1]
    url = str(httpx.URL(listing.request.url).join(second["links"]["self"]))
    body = {"data": {"type": second["type"], "id": second["id"], "attributes": {"title": "new"}}}
    # No GET of the item: its If-Match comes from the tag in the list item's meta.
    written = client.patch(url, json=body, headers={"Content-Type": JSONAPI})
    assert written.status_code == 200
    assert written.request.headers["If-Match"] == second["meta"]["etag"]


def test_jsonapi_patch_sends_what_changed() -> None:
    before = {
        "data": {
            "type": "article",
            "id": "1",
            "attributes": {"title": "a", "text": "b", "count": 1},
            "relationships": {"author": {"data": {"type": "author", "id": "1"}, "links": {}}},
            "links": {"self": "/articles/1"},
            "meta": {"etag": '"v1"'},
        },
        "jsonapi": {"version": "1.0"},
    }
    after = {
        "data": {
            **before["data"],  # type: ignore[dict-item]
            "attributes": {"title": "a", "text": "c", "count": True},
            "relationships": {"author": {"data": {"type": "author", "id": "2"}}},
        }
    }
    assert jsonapi_patch(before, after) == {
        "data": {
            "type": "article",
            "id": "1",
            "attributes": {"text": "c", "count": True},
            "relationships": {"author": {"data": {"type": "author", "id": "2"}}},
        }
    }
    assert jsonapi_patch(before, before) == {"data": {"type": "article", "id": "1"}}
    dropped = {"data": {**before["data"], "attributes": {"title": "a"}}}  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="cannot remove"):
        jsonapi_patch(before, dropped)
    with pytest.raises(ValueError, match="one resource"):
        jsonapi_patch({"data": []}, {"data": []})
