"""Where an app built from the docs meets ifmatch: keys the path cannot give, create-by-PUT
through the view's own hooks, and one answer per mistake in every integration."""

import json
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from anyio.from_thread import BlockingPortal

import djangoproject

djangoproject.setup()

from django.conf import settings  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from djangoproject.docs.models import OwnedDocument  # noqa: E402
from ifmatch.stores import Expectation  # noqa: E402
from ifmatch.stores.memory import MemoryStore  # noqa: E402
from integrations.access.cases import OWNER, user_headers  # noqa: E402
from integrations.http_conformance import AsgiClient  # noqa: E402
from services import Database  # noqa: E402

HUGE = "99999999999999999999"


@pytest.fixture
def access_project() -> Iterator[None]:
    with override_settings(
        ROOT_URLCONF="integrations.access.django_apps",
        MIDDLEWARE=[*settings.MIDDLEWARE, "integrations.access.django_apps.HeaderUserMiddleware"],
    ):
        yield


def send(method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
    payload = b"" if body is None else json.dumps(body).encode()
    return Client().generic(
        method, path, data=payload, content_type="application/json", headers=headers
    )


def free_pk() -> int:
    from django.db.models import Max

    return int(OwnedDocument.objects.aggregate(m=Max("pk"))["m"] or 0) + 1000


# -- DRF create-by-PUT and bad keys -----------------------------------------------------------


@pytest.mark.usefixtures("access_project")
def test_put_create_runs_the_views_perform_create() -> None:
    pk = free_pk()
    url = f"/drf/creatable/{pk}/"
    created = send("PUT", url, {**user_headers(OWNER), "If-None-Match": "*"}, {"title": "n"})
    assert created.status_code == 201, created.content
    assert created.headers["ETag"] == '"v1"' and created.headers["Location"] == url
    # The view's perform_create set the owner (the save that skipped it failed with 500).
    assert OwnedDocument.objects.get(pk=pk).owner == OWNER
    again = send("PUT", url, {**user_headers(OWNER), "If-None-Match": "*"}, {"title": "m"})
    assert again.status_code == 412 and again.json()["code"] == "exists"


@pytest.mark.usefixtures("access_project")
@pytest.mark.parametrize("headers", [{"If-None-Match": "*"}, {}, {"If-Match": '"v1"'}])
def test_put_create_over_a_row_the_caller_cannot_see_is_404(headers: dict[str, str]) -> None:
    theirs = OwnedDocument(owner="bob", title="bob's", text="x")
    theirs.save()
    url = f"/drf/creatable/{theirs.pk}/"
    response = send("PUT", url, {**user_headers(OWNER), **headers}, {"title": "mine"})
    assert response.status_code == 404, response.content
    assert "ETag" not in response.headers and b"v1" not in response.content
    stored = OwnedDocument.objects.get(pk=theirs.pk)
    assert (stored.owner, stored.title, stored.version) == ("bob", "bob's", 1)


@pytest.mark.usefixtures("access_project")
@pytest.mark.parametrize("key", [HUGE, "-" + HUGE, "abc", "1.5"])
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_a_key_no_row_can_have_is_404(key: str, method: str) -> None:
    headers = {**user_headers(OWNER), "If-None-Match": "*" if method == "PUT" else '"v1"'}
    for url in (f"/drf/creatable/{key}/", f"/drf/permission-class/{key}/"):
        response = send(method, url, headers, {"title": "t"} if method == "PUT" else None)
        assert response.status_code == 404, (url, response.content)
    response = send(method, f"/django/any-key/{key}/", headers, {"title": "t"})
    assert response.status_code == 404, response.content


def test_on_postgresql_too(postgres_db: Database) -> None:
    """The 500s were PostgreSQL's: a key beyond the column's range, a key that is no number."""
    from djangoproject.harness import call, gunicorn

    djangoproject.add_database("seams-postgresql", postgres_db.django_settings())
    with gunicorn(postgres_db.url, workers=1) as port:
        for method, url, headers in (
            ("PUT", f"/decorated/documents/{HUGE}/", {"If-None-Match": "*"}),
            ("PUT", f"/api/documents/{HUGE}/", {"If-Match": '"v1"'}),
            ("GET", f"/api/documents/{HUGE}/", {"If-None-Match": '"v1"'}),
            ("GET", "/api/documents/abc/", {"If-None-Match": '"v1"'}),
            ("DELETE", "/api/documents/abc/", {"If-Match": '"v1"'}),
        ):
            status, _, body = call(port, method, url, headers, {"title": "t", "text": "x"})
            assert status == 404, (method, url, body[:300])


# -- FastAPI, Flask, Starlette: key functions and loaders ------------------------------------


def fastapi_app(store: MemoryStore) -> Any:
    from fastapi import Depends, FastAPI

    from ifmatch.integrations.fastapi import Conditional, ConditionalRequest, install

    app = install(FastAPI())
    # The quick start's key function, which runs before FastAPI validates the path.
    by_lambda = Conditional(store, key=lambda request: int(request.path_params["doc_id"]))
    by_name = Conditional(store, key="doc_id")

    async def load(key: Any) -> Any:
        return store.get(int(key))

    by_loader = Conditional(store, key="doc_id", load=load, snapshot=lambda found: found[0])

    @app.get("/typed/{doc_id}")
    async def typed(
        doc_id: int, condition: Annotated[ConditionalRequest, Depends(by_lambda)]
    ) -> dict[str, Any]:
        return {"key": condition.key}

    @app.get("/untyped/{doc_id}")
    async def untyped(
        doc_id: str, condition: Annotated[ConditionalRequest, Depends(by_lambda)]
    ) -> dict[str, Any]:
        return {"key": condition.key}

    @app.get("/named/{doc_id}")
    async def named(
        doc_id: int, condition: Annotated[ConditionalRequest, Depends(by_name)]
    ) -> dict[str, Any]:
        return {"key": condition.key}

    @app.get("/loaded/{doc_id}")
    async def loaded(
        doc_id: str, condition: Annotated[ConditionalRequest, Depends(by_loader)]
    ) -> dict[str, Any]:
        return {"key": condition.key}

    return app


def seeded() -> MemoryStore:
    store = MemoryStore()
    store.compare_and_set(5, Expectation(exists=False), {"text": "five"})
    return store


def test_fastapi_answers_a_bad_path_as_fastapi_would(portal: BlockingPortal) -> None:
    client = AsgiClient(fastapi_app(seeded()), portal)
    invalid = client.request("GET", "/typed/abc")
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["path", "doc_id"]
    for url in ("/untyped/abc", "/loaded/abc"):
        missing = client.request("GET", url, headers={"If-None-Match": '"v1"'})
        assert missing.status_code == 404, (url, missing.text)
        assert missing.headers["content-type"] == "application/problem+json"
    # A named key is the handler's own parameter, validated: the store gets the int 5.
    found = client.request("GET", "/named/5", headers={"If-None-Match": '"v1"'})
    assert found.status_code == 304
    assert client.request("GET", "/named/5").json() == {"key": 5}
    assert client.request("GET", f"/named/{HUGE}x").status_code == 422


def test_flask_and_starlette_answer_a_key_function_that_fails_with_404(
    portal: BlockingPortal,
) -> None:
    from flask import Flask
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from ifmatch.integrations.flask import IfMatch
    from ifmatch.integrations.starlette import conditional

    store = seeded()
    app = Flask("seams")
    ifmatch = IfMatch(app, store=store)

    @app.route("/lambda/<doc_id>")
    @ifmatch.protect(key=lambda doc_id: int(doc_id))
    def by_lambda(doc_id: str) -> Any:
        return {"id": doc_id}

    @app.route("/loader/<doc_id>")
    @ifmatch.protect(load=lambda key: store.get(int(str(key))), snapshot=lambda found: found[0])
    def by_loader(doc_id: str) -> Any:
        return {"id": doc_id}

    flask_client = app.test_client()
    for url in ("/lambda/abc", "/loader/abc"):
        response = flask_client.get(url, headers={"If-None-Match": '"v1"'})
        assert response.status_code == 404, response.data
        assert response.headers["Content-Type"] == "application/problem+json"
    assert flask_client.get("/lambda/5", headers={"If-None-Match": '"v1"'}).status_code == 304

    @conditional(store, key=lambda request: int(request.path_params["doc_id"]))
    async def endpoint(request: Any) -> Any:
        return JSONResponse({"ok": True})

    starlette = Starlette(routes=[Route("/docs/{doc_id}", endpoint)])
    client = AsgiClient(starlette, portal)
    assert client.request("GET", "/docs/abc").status_code == 404
    assert client.request("GET", "/docs/5", headers={"If-None-Match": '"v1"'}).status_code == 304


# -- one answer per mistake ------------------------------------------------------------------


def test_a_stale_body_version_is_version_mismatch_everywhere(portal: BlockingPortal) -> None:
    from integrations import example_fastapi, example_flask

    flask_client = example_flask.create_app().test_client()
    fastapi_client = AsgiClient(example_fastapi.create_app(MemoryStore()), portal)

    def flask_put(url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        response = flask_client.put(url, json=body, headers=headers)
        return response.status_code, response.get_json()

    def fastapi_put(url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        response = fastapi_client.request("PUT", url, json=body, headers=headers)
        return response.status_code, response.json()

    for put in (flask_put, fastapi_put):
        assert put("/versioned/v", {"text": "a"}, {"If-None-Match": "*"})[0] == 201
        assert put("/versioned/v", {"text": "b", "version": 1}, {})[0] == 200
        status, problem = put("/versioned/v", {"text": "c", "version": 1}, {})
        assert status == 409 and problem["code"] == "version-mismatch"
        assert problem["current_version"] == 2
        # true is not version 1 (nor 2): the request is refused, nothing written.
        status, problem = put("/versioned/v", {"text": "d", "version": True}, {})
        assert status in {400, 422}, problem
        if status == 400:
            assert problem["code"] == "invalid-version"
        status, _ = put("/versioned/v", {"text": "e", "version": 2}, {})
        assert status == 200


# -- keys the column cannot hold, on a real database ------------------------------------------


def test_keys_the_column_cannot_hold_are_404_through_flask_and_fastapi(
    postgres_db: Database, portal: BlockingPortal
) -> None:
    """The example apps (create by PUT allowed) on PostgreSQL, whose ``VARCHAR(64)`` key made a
    65-character id, or one holding NUL, fail the INSERT ("value too long") with 500."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from ifmatch.stores.sqlalchemy import SQLAlchemyStore
    from integrations import example_fastapi, example_flask
    from integrations.example_models import Document, create_tables

    create_tables(postgres_db.sqlalchemy_url())
    engine = create_engine(postgres_db.sqlalchemy_url())
    try:
        store: SQLAlchemyStore[str] = SQLAlchemyStore(Document, sessionmaker(engine))
        flask_client = example_flask.create_app(store, store.get).test_client()
        fastapi_client = AsgiClient(example_fastapi.create_app(store), portal)
        # As for any missing resource (If-Match on one is 412), except that nothing can be
        # created under such a key: the create is 404, not 201 and not 500.
        for key in ("x" * 65, "a%00b"):
            url = f"/documents/{key}"
            for method, headers, status in (
                ("PUT", {"If-None-Match": "*"}, 404),
                ("PUT", {"If-Match": '"v1"'}, 412),
                ("GET", {}, 404),
                ("DELETE", {"If-Match": '"v1"'}, 404),
            ):
                body = {"text": "t"} if method == "PUT" else None
                flask = flask_client.open(url, method=method, headers=headers, json=body)
                assert flask.status_code == status, (key, method, flask.data)
                assert flask.headers["Content-Type"] == "application/problem+json"
                fastapi = fastapi_client.request(method, url, headers=headers, json=body)
                assert fastapi.status_code == status, (key, method, fastapi.text)
        # One character shorter is an id like any other.
        created = flask_client.put(
            f"/documents/{'x' * 64}", json={"text": "t"}, headers={"If-None-Match": "*"}
        )
        assert created.status_code == 201, created.data
    finally:
        engine.dispose()


# -- an app's own catch-all error handlers ----------------------------------------------------


def catch_all_app(*, own_412: bool) -> tuple[Any, list[str]]:
    from flask import Flask, request
    from werkzeug.exceptions import HTTPException

    from ifmatch.integrations.flask import IfMatch, current_condition

    store = seeded()
    app = Flask("catch-all")
    ifmatch = IfMatch(app, store=store)
    seen: list[str] = []

    @app.errorhandler(Exception)
    def everything(error: Exception) -> Any:
        seen.append(repr(error))
        return {"error": "something went wrong"}, 500

    @app.errorhandler(HTTPException)
    def http_errors(error: HTTPException) -> Any:
        seen.append(repr(error))
        return {"code": error.code, "name": error.name}, error.code or 500

    if own_412:

        @app.errorhandler(412)
        def own(error: HTTPException) -> Any:
            return {"mine": True}, 412

    @app.route("/docs/<int:doc_id>", methods=["GET", "PUT"])
    @ifmatch.protect()
    def doc(doc_id: int) -> Any:
        condition = current_condition()
        found = store.get(doc_id)
        assert found is not None
        if request.method == "PUT":
            condition.write({"text": "new"})
            return {"text": "new"}
        condition.serve(found[0])
        return found[1]

    return app.test_client(), seen


def test_flask_answers_survive_an_apps_catch_all_error_handlers() -> None:
    """An app (or a library such as flask-rest-jsonapi) that renders every exception itself
    must not strip a 304 of its ETag or a 412 of its problem body; a handler for the status
    code is the documented way to take an answer over, and still does."""
    client, seen = catch_all_app(own_412=False)
    not_modified = client.get("/docs/5", headers={"If-None-Match": '"v1"'})
    assert not_modified.status_code == 304, (not_modified.data, seen)
    assert not_modified.headers["ETag"] == '"v1"'
    stale = client.put("/docs/5", json={}, headers={"If-Match": '"v0"'})
    assert stale.status_code == 412 and stale.headers["ETag"] == '"v1"'
    assert stale.headers["Content-Type"] == "application/problem+json"
    assert stale.get_json()["current_etag"] == '"v1"'
    missing = client.put("/docs/5", json={})
    assert missing.status_code == 428 and missing.get_json()["status"] == 428
    assert seen == []

    client, seen = catch_all_app(own_412=True)
    taken_over = client.put("/docs/5", json={}, headers={"If-Match": '"v0"'})
    assert taken_over.status_code == 412 and taken_over.get_json() == {"mine": True}
