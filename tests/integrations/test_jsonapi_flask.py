"""flask-rest-jsonapi-next through ``ifmatch.integrations.flask_rest_jsonapi``: real requests
through the framework (Flask's test client on SQLite, then gunicorn workers on PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from ifmatch.check import Options, Status, Verdict, check
from ifmatch.core.errors import ConfigurationError
from ifmatch.integrations.flask_rest_jsonapi import ConditionalDataLayer, ResourceDetail
from integrations.jsonapi_flask_app import (
    DATABASE_URL_ENV,
    Article,
    Author,
    Comment,
    create_app,
    db,
)
from integrations.jsonapi_race import race
from services import PYTHON, Database, free_port, running_server, subprocess_env

JSONAPI = "application/vnd.api+json"
SEND = {"Content-Type": JSONAPI}
ON_V1 = {**SEND, "If-Match": '"v1"'}
STALE = {**SEND, "If-Match": '"v9"'}


@pytest.fixture
def app() -> Iterator[Flask]:
    app = create_app("sqlite://")
    with app.app_context():
        db.session.add_all([Author(id=1, name="Ada"), Author(id=2, name="Guido")])
        db.session.add(Article(id=1, title="First", text="hello", author_id=1))
        db.session.add(Comment(id=1, body="nice"))
        db.session.commit()
    yield app
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def change(attributes: dict[str, Any], **relationships: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "article", "id": "1", "attributes": attributes}
    if relationships:
        data["relationships"] = {k: {"data": v} for k, v in relationships.items()}
    return {"data": data}


def stored(app: Flask, key: int = 1) -> Article | None:
    with app.app_context():
        found = db.session.get(Article, key)
        if found is not None:
            db.session.expunge(found)
        return found


def error_of(response: Any, status: int) -> dict[str, Any]:
    """The one JSON:API error object of an ifmatch answer."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == JSONAPI
    errors = response.get_json()["errors"]
    assert len(errors) == 1 and errors[0]["status"] == str(status)
    return errors[0]  # type: ignore[no-any-return]


def test_get_sends_the_version_tag_in_the_header_and_in_meta(client: FlaskClient) -> None:
    response = client.get("/articles/1")
    assert response.status_code == 200
    assert response.headers["ETag"] == '"v1"'
    assert "Last-Modified" in response.headers
    assert response.get_json()["data"]["meta"] == {"etag": '"v1"'}


def test_if_none_match_is_304_without_a_body(client: FlaskClient) -> None:
    response = client.get("/articles/1", headers={"If-None-Match": '"v1"'})
    assert response.status_code == 304
    assert response.headers["ETag"] == '"v1"' and response.get_data() == b""
    assert client.get("/articles/1", headers={"If-None-Match": '"v0"'}).status_code == 200


def test_patch_without_a_precondition_is_428_and_writes_nothing(
    app: Flask, client: FlaskClient
) -> None:
    error = error_of(client.patch("/articles/1", json=change({"title": "x"}), headers=SEND), 428)
    assert error["code"] == "precondition-required"
    assert error["meta"]["current_etag"] == '"v1"'
    found = stored(app)
    assert found is not None and (found.title, found.version) == ("First", 1)


def test_patch_with_the_current_tag_writes_once_and_answers_the_new_tag(
    app: Flask, client: FlaskClient
) -> None:
    response = client.patch(
        "/articles/1", json=change({"title": "Second"}), headers={**SEND, "If-Match": '"v1"'}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["ETag"] == '"v2"'
    data = response.get_json()["data"]
    assert data["attributes"]["title"] == "Second"
    assert data["meta"]["etag"] == '"v2"'
    found = stored(app)
    assert found is not None and (found.title, found.text, found.version) == ("Second", "hello", 2)


def test_a_stale_patch_is_412_with_the_current_tag_and_writes_nothing(
    app: Flask, client: FlaskClient
) -> None:
    first = client.patch(
        "/articles/1", json=change({"title": "A"}), headers={**SEND, "If-Match": '"v1"'}
    )
    assert first.status_code == 200
    stale = client.patch(
        "/articles/1", json=change({"title": "B"}), headers={**SEND, "If-Match": '"v1"'}
    )
    error = error_of(stale, 412)
    assert stale.headers["ETag"] == '"v2"'
    assert error["code"] == "etag-mismatch" and error["source"] == {"header": "If-Match"}
    assert error["meta"]["current_etag"] == '"v2"'
    found = stored(app)
    assert found is not None and (found.title, found.version) == ("A", 2)


def test_a_malformed_if_match_is_400(client: FlaskClient) -> None:
    response = client.patch(
        "/articles/1", json=change({"title": "x"}), headers={**SEND, "If-Match": '"v1'}
    )
    error = error_of(response, 400)
    assert error["code"] == "invalid-header" and error["source"] == {"header": "If-Match"}


def test_relationships_are_written_with_the_guarded_write(app: Flask, client: FlaskClient) -> None:
    response = client.patch(
        "/articles/1",
        json=change(
            {"text": "edited"},
            author={"type": "author", "id": "2"},
            comments=[{"type": "comment", "id": "1"}],
        ),
        headers={**SEND, "If-Match": '"v1"'},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["ETag"] == '"v2"'  # one write, one version
    with app.app_context():
        article = db.session.get(Article, 1)
        assert article is not None
        assert (article.text, article.author_id, article.version) == ("edited", 2, 2)
        assert [c.id for c in article.comments] == [1]
    missing = client.patch(
        "/articles/1",
        json=change({}, author={"type": "author", "id": "99"}),
        headers={**SEND, "If-Match": '"v2"'},
    )
    assert missing.status_code == 404
    found = stored(app)
    assert found is not None and (found.author_id, found.version) == (2, 2)


def test_delete_is_guarded_and_cascades_as_the_orm_does(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        comment = db.session.get(Comment, 1)
        assert comment is not None
        comment.article_id = 1
        db.session.commit()
    assert client.delete("/articles/1").status_code == 428
    error = error_of(client.delete("/articles/1", headers={"If-Match": '"v7"'}), 412)
    assert error["meta"]["current_etag"] == '"v1"'
    deleted = client.delete("/articles/1", headers={"If-Match": '"v1"'})
    assert deleted.status_code == 200
    assert "ETag" not in deleted.headers
    assert stored(app) is None
    with app.app_context():
        assert db.session.get(Comment, 1) is None  # delete-orphan, through the session
    error_of(client.get("/articles/1"), 404)
    error_of(client.delete("/articles/1", headers={"If-Match": '"v1"'}), 404)


@pytest.mark.parametrize("path", ["/articles/abc", "/articles/99999999999999999999999"])
def test_a_path_naming_no_row_is_404_never_500(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404
    assert client.patch(path, json=change({}), headers=ON_V1).status_code == 404


def test_list_items_carry_their_own_tags_and_the_list_a_collection_tag(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        db.session.add(Article(id=2, title="Two"))
        db.session.commit()
    assert (
        client.patch(
            "/articles/2",
            json={"data": {"type": "article", "id": "2", "attributes": {"text": "x"}}},
            headers={**SEND, "If-Match": '"v1"'},
        ).status_code
        == 200
    )
    listed = client.get("/articles")
    assert listed.status_code == 200
    items = listed.get_json()["data"]
    for item in items:
        own = client.get(f"/articles/{item['id']}")
        assert item["meta"]["etag"] == own.headers["ETag"]
    assert [item["meta"]["etag"] for item in items] == ['"v1"', '"v2"']
    tag = listed.headers["ETag"]
    not_modified = client.get("/articles", headers={"If-None-Match": tag})
    assert not_modified.status_code == 304 and not_modified.headers["ETag"] == tag
    # A write to a listed item changes the collection's tag.
    client.patch("/articles/1", json=change({"title": "z"}), headers=ON_V1)
    assert client.get("/articles", headers={"If-None-Match": tag}).status_code == 200
    # So does another view of the collection.
    assert client.get("/articles?include=author").headers["ETag"] != tag


def test_post_answers_201_with_location_and_etag(app: Flask, client: FlaskClient) -> None:
    created = client.post(
        "/articles",
        json={"data": {"type": "article", "attributes": {"title": "New", "text": ""}}},
        headers=SEND,
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.headers["ETag"] == '"v1"'
    data = created.get_json()["data"]
    assert created.headers["Location"].endswith(f"/articles/{data['id']}")
    assert data["meta"]["etag"] == '"v1"'
    assert client.get(created.headers["Location"]).headers["ETag"] == '"v1"'


@pytest.mark.parametrize(
    ("field", "value"), [("If-Match", '"c.stale"'), ("If-None-Match", "*")], ids=["stale", "star"]
)
def test_post_preconditions_name_the_collection(
    app: Flask, client: FlaskClient, field: str, value: str
) -> None:
    body = {"data": {"type": "article", "attributes": {"title": "New"}}}
    error = error_of(client.post("/articles", json=body, headers={**SEND, field: value}), 412)
    assert error["meta"]["current_etag"] == client.get("/articles").headers["ETag"]
    with app.app_context():
        assert db.session.query(Article).count() == 1
    current = client.get("/articles").headers["ETag"]
    fresh = client.post("/articles", json=body, headers={**SEND, "If-Match": current})
    assert fresh.status_code == 201


def test_answers_wait_for_the_resources_access_decisions(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        article = db.session.get(Article, 1)
        assert article is not None
        article.secret = True
        db.session.commit()
    current = '"v2"'  # the ORM's own write of the flag moved the version
    for response in (
        client.get("/articles/1", headers={"If-None-Match": current}),
        client.patch(
            "/articles/1", json=change({"title": "x"}), headers={**SEND, "If-Match": '"v9"'}
        ),
        client.patch("/articles/1", json=change({"title": "x"}), headers=SEND),
        client.delete("/articles/1", headers={"If-Match": '"v9"'}),
    ):
        assert response.status_code == 403
        assert "ETag" not in response.headers and "v2" not in response.get_data(as_text=True)
    owner = {"X-Owner": "yes"}
    assert client.get("/articles/1", headers={**owner, "If-None-Match": current}).status_code == 304
    stale = client.patch(
        "/articles/1", json=change({"title": "x"}), headers={**SEND, **owner, "If-Match": '"v9"'}
    )
    assert stale.status_code == 412
    found = stored(app)
    assert found is not None and (found.title, found.version) == ("First", 2)


def test_switched_off_it_sends_no_tags(client: FlaskClient, app: Flask) -> None:
    app.config["IFMATCH_ENABLED"] = False
    response = client.get("/articles/1", headers={"If-None-Match": '"v1"'})
    assert response.status_code == 200 and "ETag" not in response.headers
    assert "ETag" not in client.get("/articles").headers


def test_a_data_layer_whose_own_write_would_be_bypassed_is_refused() -> None:
    from flask_rest_jsonapi_next.data_layers.alchemy import SqlalchemyDataLayer
    from flask_rest_jsonapi_next.data_layers.base import BaseDataLayer

    from integrations.jsonapi_flask_app import ArticleSchema

    class OwnWrite(SqlalchemyDataLayer):  # type: ignore[misc]
        def update_object(self, obj: Any, data: Any, view_kwargs: Any) -> None:
            raise AssertionError("never reached")

    class NotSQL(BaseDataLayer):  # type: ignore[misc]
        pass

    for layer in (OwnWrite, NotSQL):
        with pytest.raises(ConfigurationError):
            type(
                "Refused",
                (ResourceDetail,),
                {
                    "schema": ArticleSchema,
                    "data_layer": {"session": db.session, "model": Article, "class": layer},
                },
            )

    class Guarded(ConditionalDataLayer):
        def update_object(self, obj: Any, data: Any, view_kwargs: Any) -> None:
            super().update_object(obj, data, view_kwargs)

    accepted = type(
        "Accepted",
        (ResourceDetail,),
        {
            "schema": ArticleSchema,
            "data_layer": {"session": db.session, "model": Article, "class": Guarded},
        },
    )
    assert isinstance(accepted._data_layer, Guarded)


# --- several server processes on PostgreSQL ----------------------------------------------------


@pytest.fixture(scope="module")
def served(postgres_db: Database) -> Iterator[str]:
    """The API under gunicorn, four workers sharing one PostgreSQL database."""
    url = postgres_db.sqlalchemy_url()
    tables = create_app(url)  # creates the tables once, before any worker starts
    with tables.app_context():
        db.engine.dispose()
    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "--workers", "4", "--bind", f"127.0.0.1:{port}"]
    argv.append("integrations.jsonapi_flask_app:create_app()")
    with running_server(argv, port, env=subprocess_env(**{DATABASE_URL_ENV: url})):
        yield f"http://127.0.0.1:{port}"


def _create(base: str, title: str) -> str:
    body = {"data": {"type": "article", "attributes": {"title": title, "text": ""}}}
    created = httpx.post(base + "/articles", json=body, headers=SEND, timeout=30)
    assert created.status_code == 201, created.text
    return str(created.json()["data"]["id"])


@pytest.mark.slow
@pytest.mark.services
def test_no_lost_updates_through_gunicorn_workers(served: str) -> None:
    guarded = _create(served, "race")
    naive = _create(served, "naive race")
    tally, lost = race(served, f"/articles/{guarded}", writers=12, tokens=5)
    naive_tally, naive_lost = race(served, f"/naive/articles/{naive}", writers=12, tokens=5)
    print(
        f"ifmatch: {len(tally.acknowledged)} acknowledged, {tally.conflicts} 412s, "
        f"{len(lost)} lost; the library alone: {len(naive_tally.acknowledged)} acknowledged, "
        f"{len(naive_lost)} lost"
    )
    assert not tally.errors and len(tally.acknowledged) == 60
    assert lost == [], f"{len(lost)} acknowledged writes lost"
    assert tally.conflicts > 0  # the writers did collide
    # The library alone loses acknowledged writes, even on a model whose ORM flush checks the
    # version it loaded (and answers some writers 500 StaleDataError).
    assert naive_lost, "the library's own resource lost nothing: the harness made no contention"


@pytest.mark.slow
@pytest.mark.services
def test_the_checker_calls_it_safe(served: str) -> None:
    url = f"{served}/articles/{_create(served, f'checked-{uuid.uuid4().hex[:8]}')}"
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=12)) as client:
        report = check(client, url, Options(write=True, rounds=8))
    details = {result.id: (result.status, result.detail) for result in report.results}
    assert report.verdict is Verdict.SAFE, details
    assert not [r.id for r in report.results if r.status in (Status.FAIL, Status.ERROR)], details
    way = report.result("write").data["way"]
    assert (way["method"], way["content_type"], way["body"]) == ("PATCH", JSONAPI, "resource")
    assert report.result("race").status is Status.PASS
