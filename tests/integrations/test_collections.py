"""Collection helpers in every integration (Django ``collection``, Flask
``IfMatch.collection``, Starlette ``collection``, FastAPI ``Collection``; DRF's lists are in
tests/integrations/drf): ``ETag`` and 304 on ``GET``/``HEAD``, ``POST`` preconditions against
the collection's tag, ``201`` with ``Location``, ``ETag`` (and ``Last-Modified``), the view's
own access checks before any precondition is answered, and a tag that moves when a row is
deleted and another inserted with the same version (which count, sum and maximum missed)."""

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from anyio.from_thread import BlockingPortal
from sqlalchemy import String, create_engine, delete, func, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

import djangoproject
from ifmatch.stores.sqlalchemy import SQLAlchemyStore, Versioned
from integrations.http_conformance import AsgiClient

djangoproject.setup()

from djangoproject.client import LintingClient  # noqa: E402
from djangoproject.docs.models import Note  # noqa: E402

STALE = '"c.AAAAAAAAAAAAAAAAAAAAAA"'


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Send = Callable[[str, str, list[tuple[str, str]], dict[str, Any] | None], Answer]


@dataclass
class Site:
    """One integration's list of notes, and a way to change the rows behind its back."""

    send: Send
    path: str
    count: Callable[[str], int]
    add_row: Callable[[str, int], str]  # owner, version -> key
    drop_row: Callable[[str], None]
    last_modified: bool


def user(name: str) -> list[tuple[str, str]]:
    return [("X-User", name)]


def check_reads(site: Site) -> None:
    anonymous = site.send("GET", site.path, [("If-None-Match", STALE)], None)
    assert anonymous.status == 403 and "etag" not in anonymous.headers
    site.add_row("ada", 1)
    first = site.send("GET", site.path, user("ada"), None)
    assert first.status == 200, first.body
    tag = first.headers["etag"]
    assert tag.startswith('"c.')
    again = site.send("GET", site.path, [*user("ada"), ("If-None-Match", tag)], None)
    assert again.status == 304 and again.body == b"" and again.headers["etag"] == tag
    head = site.send("HEAD", site.path, user("ada"), None)
    assert head.status == 200 and head.body == b"" and head.headers["etag"] == tag
    head304 = site.send("HEAD", site.path, [*user("ada"), ("If-None-Match", tag)], None)
    assert head304.status == 304 and head304.body == b""
    # Another caller lists other rows (none): another tag, and no 304 with Ada's.
    other = site.send("GET", site.path, [*user("guido"), ("If-None-Match", tag)], None)
    assert other.status == 200 and other.headers["etag"] != tag


def check_creates(site: Site) -> None:
    tag = site.send("GET", site.path, user("ada"), None).headers["etag"]
    before = site.count("ada")
    # The view's own check comes first: anonymous callers learn nothing, insert nothing.
    for headers in ([("If-Match", STALE)], [("If-None-Match", "*")], [("If-Match", '"bad')]):
        refused = site.send("POST", site.path, headers, {"text": "x"})
        assert refused.status == 403, (headers, refused.status)
        assert "etag" not in refused.headers
    assert site.count("ada") == before and site.count("") == 0
    created = site.send("POST", site.path, [*user("ada"), ("If-Match", tag)], {"text": "new"})
    assert created.status == 201, created.body
    assert created.headers["etag"] == '"v1"'
    assert created.headers["location"].rstrip("/").endswith("/" + created.json()["id"])
    assert ("last-modified" in created.headers) is site.last_modified
    assert site.count("ada") == before + 1
    for headers, status in (
        ([("If-Match", tag)], 412),  # the list changed since: a stale list
        ([("If-None-Match", "*")], 412),  # the collection exists
        ([("If-Match", '"unterminated')], 400),
    ):
        answer = site.send("POST", site.path, [*user("ada"), *headers], {"text": "x"})
        assert answer.status == status, (headers, answer.status, answer.body)
        assert answer.headers["content-type"] == "application/problem+json"
    assert site.count("ada") == before + 1
    plain = site.send("POST", site.path, user("ada"), {"text": "no precondition"})
    assert plain.status == 201  # POST needs no precondition unless the policy says so


def check_swap(site: Site) -> None:
    """Delete one row and insert another with the same version under a key below the largest:
    count, version sum and maximum, and maximum key all stay; the tag must not."""
    keep = site.add_row("swap", 3)
    gone = site.add_row("swap", 1)
    tag = site.send("GET", site.path, user("swap"), None).headers["etag"]
    site.drop_row(gone)
    site.add_row("swap", 1)
    after = site.send("GET", site.path, [*user("swap"), ("If-None-Match", tag)], None)
    assert after.status == 200 and after.headers["etag"] != tag
    site.drop_row(keep)


CHECKS = [check_reads, check_creates, check_swap]


# --- Django -------------------------------------------------------------------------------------


@pytest.fixture
def django_site() -> Iterator[Site]:
    client = LintingClient(fields_under_test=True)  # some requests are malformed on purpose

    def send(
        method: str, path: str, headers: list[tuple[str, str]], body: dict[str, Any] | None
    ) -> Answer:
        response = client.request(method, path, headers, body)
        content = b"" if method == "HEAD" else response.content
        return Answer(response.status_code, {k.lower(): v for k, v in response.items()}, content)

    def add(owner: str, version: int) -> str:
        key = uuid.UUID(str(uuid.uuid4()))
        Note.objects.bulk_create([Note(id=key, owner=owner, version=version)])
        return str(key)

    Note.objects.all().delete()
    yield Site(
        send,
        "/plain/notes/",
        lambda owner: Note.objects.filter(owner=owner).count(),
        add,
        lambda key: Note.objects.filter(id=key).delete() and None,
        last_modified=False,
    )
    Note.objects.all().delete()
    assert client.problems == [], client.problems


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_django_collection(django_site: Site, check: Callable[[Site], None]) -> None:
    check(django_site)


# --- SQLAlchemy apps: Flask, Starlette, FastAPI ---------------------------------------------------


class Base(DeclarativeBase):
    pass


class NoteRow(Versioned, Base):
    __tablename__ = "ifmatch_collection_notes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(20), default="")
    text: Mapped[str] = mapped_column(String(200), default="")


@pytest.fixture
def factory(tmp_path: Any) -> Iterator[sessionmaker[Any]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'notes.db'}")
    Base.metadata.create_all(engine)
    yield sessionmaker(engine)
    engine.dispose()


def sa_site(factory: sessionmaker[Any], send: Send, path: str) -> Site:
    def count(owner: str) -> int:
        with factory() as session:
            found: int = session.scalar(
                select(func.count()).select_from(NoteRow).where(NoteRow.owner == owner)
            )
            return found

    def add(owner: str, version: int) -> str:
        key = str(uuid.uuid4())
        with factory.begin() as session:
            session.execute(insert(NoteRow).values(id=key, owner=owner, version=version))
        return key

    def drop(key: str) -> None:
        with factory.begin() as session:
            session.execute(delete(NoteRow).where(NoteRow.id == key))

    return Site(send, path, count, add, drop, last_modified=True)


def owned(owner: str) -> Any:
    return select(NoteRow).where(NoteRow.owner == owner)


def listing(factory: sessionmaker[Any], owner: str) -> list[dict[str, str]]:
    with factory() as session:
        rows = session.scalars(owned(owner).order_by(NoteRow.id))
        return [{"id": row.id, "text": row.text} for row in rows]


@pytest.fixture
def flask_site(factory: sessionmaker[Any]) -> Site:
    from flask import Flask, abort, jsonify, request

    from ifmatch.integrations.flask import IfMatch, current_collection

    app = Flask(__name__)
    app.secret_key = "test"
    ifmatch = IfMatch(app, store=SQLAlchemyStore(NoteRow, factory))

    @app.route("/notes", methods=["GET", "POST"])
    @ifmatch.collection(query=lambda: owned(request.headers.get("X-User", "")))
    def notes() -> Any:
        owner = request.headers.get("X-User", "")
        if not owner:
            abort(403)
        if request.method == "POST":
            key = str(uuid.uuid4())
            text = request.get_json()["text"]
            current_collection().create(key, {"owner": owner, "text": text})
            return jsonify(id=key, text=text), 201
        return jsonify(items=listing(factory, owner))

    client = app.test_client()

    def send(
        method: str, path: str, headers: list[tuple[str, str]], body: dict[str, Any] | None
    ) -> Answer:
        response = client.open(path, method=method, headers=headers, json=body)
        fields = {k.lower(): v for k, v in response.headers.items()}
        return Answer(response.status_code, fields, response.get_data())

    return sa_site(factory, send, "/notes")


def asgi_send(client: AsgiClient) -> Send:
    def send(
        method: str, path: str, headers: list[tuple[str, str]], body: dict[str, Any] | None
    ) -> Answer:
        data = None if body is None else json.dumps(body).encode()
        extra = [] if body is None else [("Content-Type", "application/json")]
        exchange = client.send(method, path, [*headers, *extra], data)
        fields = {k.lower(): v for k, v in exchange.headers}
        return Answer(exchange.status, fields, exchange.body)

    return send


@pytest.fixture
def starlette_site(factory: sessionmaker[Any], portal: BlockingPortal) -> Site:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from ifmatch.integrations.starlette import EXCEPTION_HANDLERS, collection

    store = SQLAlchemyStore(NoteRow, factory)

    @collection(store, query=lambda request: owned(request.headers.get("X-User", "")))
    async def notes(request: Request) -> Response:
        owner = request.headers.get("X-User", "")
        if not owner:
            raise HTTPException(403)
        if request.method == "POST":
            key = str(uuid.uuid4())
            text = (await request.json())["text"]
            await request.state.ifmatch.create(key, {"owner": owner, "text": text})
            return JSONResponse({"id": key, "text": text}, status_code=201)
        return JSONResponse({"items": listing(factory, owner)})

    app = Starlette(
        routes=[Route("/notes", notes, methods=["GET", "POST"])],
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )
    return sa_site(factory, asgi_send(AsgiClient(app, portal)), "/notes")


@pytest.fixture
def fastapi_site(factory: sessionmaker[Any], portal: BlockingPortal) -> Site:
    from fastapi import Depends, FastAPI, HTTPException, Request
    from pydantic import BaseModel

    from ifmatch.integrations.fastapi import Collection, CollectionRequest, install

    class NoteIn(BaseModel):
        text: str

    def caller(request: Request) -> str:
        return request.headers.get("X-User", "")

    notes = Collection(
        SQLAlchemyStore(NoteRow, factory), query=lambda request: owned(caller(request))
    )
    Notes = Annotated[CollectionRequest, Depends(notes)]
    app = install(FastAPI())

    @app.get("/notes")
    async def index(listed: Notes, owner: Annotated[str, Depends(caller)]) -> Any:
        if not owner:
            raise HTTPException(403)
        return {"items": listing(factory, owner)}

    @app.post("/notes", status_code=201)
    async def add(body: NoteIn, listed: Notes, owner: Annotated[str, Depends(caller)]) -> Any:
        if not owner:
            raise HTTPException(403)
        key = str(uuid.uuid4())
        await listed.create(key, {"owner": owner, "text": body.text})
        return {"id": key, "text": body.text}

    return sa_site(factory, asgi_send(AsgiClient(app, portal)), "/notes")


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", ["flask_site", "starlette_site", "fastapi_site"])
def test_sqlalchemy_app_collection(
    request: pytest.FixtureRequest, name: str, check: Callable[[Site], None]
) -> None:
    check(request.getfixturevalue(name))


def test_fastapi_documents_the_collection(portal: BlockingPortal, factory: Any) -> None:
    from fastapi import Depends, FastAPI

    from ifmatch.integrations.fastapi import Collection, CollectionRequest, install

    notes = Collection(SQLAlchemyStore(NoteRow, factory))
    app = install(FastAPI())

    @app.get("/notes")
    async def index(listed: Annotated[CollectionRequest, Depends(notes)]) -> list[str]:
        return []

    schema = AsgiClient(app, portal).request("GET", "/openapi.json").json()
    item = schema["paths"]["/notes"]
    assert {"get", "head"} <= set(item)
    assert (
        "304" in item["get"]["responses"] and "ETag" in item["get"]["responses"]["200"]["headers"]
    )
