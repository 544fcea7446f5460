"""A variant chosen per request (``variant=callable``) in the Flask, Starlette, FastAPI and
Django integrations: each negotiated representation has its own strong tag, a 304 only to the
tag of the one asked for, and a write checked against the variant the callable picks for it."""

from typing import Annotated, Any

import pytest
from anyio.from_thread import BlockingPortal

import djangoproject
from ifmatch.core import version_etag
from ifmatch.stores import Expectation
from ifmatch.stores.memory import MemoryStore
from integrations.http_conformance import AsgiClient

HTML = "text/html"


def negotiated(accept: str) -> str | None:
    return HTML if HTML in accept else None


def store_with_one() -> MemoryStore:
    store = MemoryStore()
    store.compare_and_set("1", Expectation(exists=False), {"text": "x"})
    return store


def check(send: Any) -> None:
    json_tag, html_tag = str(version_etag(1)), str(version_etag(1, variant=HTML))
    status, headers = send("GET", "application/json", {})
    assert (status, headers["etag"]) == (200, json_tag)
    status, headers = send("GET", HTML, {})
    assert (status, headers["etag"]) == (200, html_tag)
    assert send("GET", HTML, {"If-None-Match": json_tag})[0] == 200
    assert send("GET", HTML, {"If-None-Match": html_tag})[0] == 304
    assert send("HEAD", HTML, {"If-None-Match": html_tag})[0] == 304
    assert send("PUT", HTML, {"If-Match": json_tag})[0] == 412  # checked as HTML
    status, headers = send("PUT", HTML, {"If-Match": html_tag})
    assert (status, headers["etag"]) == (200, str(version_etag(2, variant=HTML)))


def test_flask_variant_per_request() -> None:
    from flask import Flask, jsonify, request

    from ifmatch.integrations.flask import IfMatch, current_condition

    app = Flask(__name__)
    ifmatch = IfMatch(app, store=store_with_one())

    @app.route("/d/<doc_id>", methods=["GET", "PUT"])
    @ifmatch.protect(variant=lambda: negotiated(request.headers.get("Accept", "")))
    def document(doc_id: str) -> Any:
        if request.method == "PUT":
            current_condition().write({"text": "y"})
        return jsonify(ok=True)

    client = app.test_client()

    def send(method: str, accept: str, headers: dict[str, str]) -> tuple[int, Any]:
        response = client.open("/d/1", method=method, headers={"Accept": accept, **headers})
        return response.status_code, {k.lower(): v for k, v in response.headers.items()}

    check(send)


@pytest.mark.parametrize("framework", ["fastapi", "starlette"])
def test_asgi_variant_per_request(portal: BlockingPortal, framework: str) -> None:
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    def chosen(request: Request) -> str | None:
        return negotiated(request.headers.get("accept", ""))

    store = store_with_one()
    if framework == "fastapi":
        from fastapi import Depends, FastAPI

        from ifmatch.integrations.fastapi import Conditional, ConditionalRequest, install

        documents = Conditional(store, key="doc_id", variant=chosen)
        app: Any = install(FastAPI())

        @app.get("/d/{doc_id}")
        async def read(
            doc_id: str, condition: Annotated[ConditionalRequest, Depends(documents)]
        ) -> Any:
            return {"ok": True}

        @app.put("/d/{doc_id}")
        async def write(
            doc_id: str, condition: Annotated[ConditionalRequest, Depends(documents)]
        ) -> Any:
            await condition.write({"text": "y"})
            return {"ok": True}
    else:
        from starlette.applications import Starlette
        from starlette.routing import Route

        from ifmatch.integrations.starlette import EXCEPTION_HANDLERS, conditional

        @conditional(store, key="doc_id", variant=chosen)
        async def endpoint(request: Request) -> Response:
            if request.method == "PUT":
                await request.state.ifmatch.write({"text": "y"})
            return JSONResponse({"ok": True})

        app = Starlette(
            routes=[Route("/d/{doc_id}", endpoint, methods=["GET", "PUT"])],
            exception_handlers=dict(EXCEPTION_HANDLERS),
        )
    client = AsgiClient(app, portal)

    def send(method: str, accept: str, headers: dict[str, str]) -> tuple[int, Any]:
        sent = [("Accept", accept), *headers.items()]
        exchange = client.send(method, "/d/1", sent, b"{}" if method == "PUT" else None)
        return exchange.status, {k.lower(): v for k, v in exchange.headers}

    check(send)


def test_django_variant_per_request() -> None:
    djangoproject.setup()
    from django.http import HttpRequest, JsonResponse
    from django.test import RequestFactory

    from djangoproject.docs.models import Document
    from ifmatch.integrations.django import conditional

    doc = Document(title="t", text="x")
    doc.save()

    @conditional(Document, variant=lambda request: negotiated(request.headers.get("Accept", "")))
    def view(request: HttpRequest, pk: int, obj: Document) -> JsonResponse:
        if request.method == "PUT":
            obj.text = "y"
            obj.save()
        return JsonResponse({"ok": True})

    def send(method: str, accept: str, headers: dict[str, str]) -> tuple[int, Any]:
        request = RequestFactory().generic(method, "/", headers={"Accept": accept, **headers})
        response = view(request, pk=doc.pk)
        return response.status_code, {k.lower(): v for k, v in response.items()}

    check(send)
