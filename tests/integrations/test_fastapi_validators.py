"""``Conditional(validators=...)``: a revalidating GET or HEAD whose copy is current is answered
304 from the validators alone, before the loader (or the store's read) runs; every other
request is answered exactly as without it."""

from collections.abc import AsyncIterator, Hashable
from typing import Annotated, Any

import pytest
from anyio.from_thread import BlockingPortal
from fastapi import Depends, FastAPI
from hypothesis import HealthCheck, given, settings

from ifmatch.core.errors import ConfigurationError
from ifmatch.integrations.fastapi import Conditional, ConditionalRequest, install
from ifmatch.stores import Expectation, Snapshot, StoreUnavailable
from ifmatch.stores.memory import MemoryStore
from integrations.http_conformance import AsgiClient
from integrations.revalidation import FIELDS, METHODS, dated

Found = tuple[Snapshot, dict[str, Any]]


class Calls:
    """Which reads each request made, in order."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.made: list[str] = []
        self.peek_fails: BaseException | None = None

    async def peek(self, key: Hashable) -> Snapshot | None:
        self.made.append(f"peek {key}")
        if self.peek_fails is not None:
            raise self.peek_fails
        return self.store.read(key)

    async def load(self, key: Hashable) -> AsyncIterator[Found | None]:
        self.made.append(f"load {key}")
        yield self.store.get(key)


class CountingStore(MemoryStore):
    """A store whose reads (of ``store``'s rows) are counted in ``reads``."""

    def __init__(self, store: MemoryStore) -> None:
        super().__init__()
        self.of = store
        self.reads: list[Hashable] = []

    def read(self, key: Hashable) -> Snapshot | None:
        self.reads.append(key)
        return self.of.read(key)


def make_app(store: MemoryStore, calls: Calls, *, peek: bool = True) -> FastAPI:
    documents = Conditional(
        store,
        key="doc_id",
        load=calls.load,
        snapshot=lambda found: found[0],
        answer_before_view=True,
        validators=calls.peek if peek else None,
    )
    Condition = Annotated[ConditionalRequest, Depends(documents)]
    app = FastAPI()

    @app.get("/d/{doc_id}")
    async def read(doc_id: str, condition: Condition) -> dict[str, Any]:
        calls.made.append("handler")
        return {"text": condition.instance[1]["text"]}

    @app.put("/d/{doc_id}")
    async def put(doc_id: str, condition: Condition) -> dict[str, Any]:
        await condition.write({"text": "new"})
        return {"text": "new"}

    return install(app)


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    store.compare_and_set("d", Expectation(exists=False), {"text": "d"})
    return store


def test_a_current_copy_is_answered_from_the_validators_alone(
    portal: BlockingPortal, store: MemoryStore
) -> None:
    calls = Calls(store)
    client = AsgiClient(make_app(store, calls), portal)
    fresh = client.request("GET", "/d/d")
    assert fresh.status_code == 200 and calls.made == ["load d", "handler"]  # no header: no peek
    calls.made.clear()
    current = client.request("GET", "/d/d", headers={"If-None-Match": '"v1"'})
    assert current.status_code == 304 and current.content == b""
    assert current.headers["etag"] == fresh.headers["etag"] == '"v1"'
    head = client.request("HEAD", "/d/d", headers={"If-None-Match": '"v0", "v1"'})
    assert head.status_code == 304 and head.headers["etag"] == '"v1"'
    since = {"If-Modified-Since": fresh.headers["last-modified"]}
    by_date = client.request("GET", "/d/d", headers=since)
    assert by_date.status_code == 304
    assert by_date.headers["last-modified"] == fresh.headers["last-modified"]
    assert calls.made == ["peek d"] * 3  # neither the loader nor the handler ran


def test_a_stale_copy_is_loaded_and_answered_in_full(
    portal: BlockingPortal, store: MemoryStore
) -> None:
    calls = Calls(store)
    client = AsgiClient(make_app(store, calls), portal)
    stale = client.request("GET", "/d/d", headers={"If-None-Match": '"v0"'})
    assert stale.status_code == 200 and stale.json() == {"text": "d"}
    assert stale.headers["etag"] == '"v1"'
    assert calls.made == ["peek d", "load d", "handler"]


def test_writes_never_peek(portal: BlockingPortal, store: MemoryStore) -> None:
    calls = Calls(store)
    client = AsgiClient(make_app(store, calls), portal)
    # A PUT carrying If-None-Match is a create-only or a lost-update check, never a 304.
    assert client.request("PUT", "/d/d", headers={"If-None-Match": '"v0"'}).status_code == 200
    assert client.request("PUT", "/d/d", headers={"If-Match": '"v9"'}).status_code == 412
    assert calls.made == ["load d", "load d"]


def test_every_other_answer_comes_from_the_loaded_row(
    portal: BlockingPortal, store: MemoryStore
) -> None:
    calls = Calls(store)
    client = AsgiClient(make_app(store, calls), portal)
    # If-Match is evaluated first (RFC 9110 §13.2.2): 412, though If-None-Match matches.
    failed = {"If-Match": '"v9"', "If-None-Match": '"v1"'}
    assert client.request("GET", "/d/d", headers=failed).status_code == 412
    malformed = client.request("GET", "/d/d", headers={"If-None-Match": '"v1", junk'})
    assert malformed.status_code == 400 and malformed.json()["header"] == "If-None-Match"
    missing = client.request("GET", "/d/missing", headers={"If-None-Match": '"v1"'})
    assert missing.status_code == 404
    assert calls.made == ["peek d", "load d"] * 2 + ["peek missing", "load missing"]


def test_a_peek_that_cannot_take_the_key_leaves_it_to_the_loader(
    portal: BlockingPortal, store: MemoryStore
) -> None:
    calls = Calls(store)
    calls.peek_fails = ValueError("not a key")
    client = AsgiClient(make_app(store, calls), portal)
    answered = client.request("GET", "/d/d", headers={"If-None-Match": '"v1"'})
    assert answered.status_code == 304
    assert calls.made == ["peek d", "load d"]


def test_an_unreachable_store_is_a_503(portal: BlockingPortal, store: MemoryStore) -> None:
    calls = Calls(store)
    calls.peek_fails = StoreUnavailable("connection refused")
    client = AsgiClient(make_app(store, calls), portal)
    answered = client.request("GET", "/d/d", headers={"If-None-Match": '"v1"'})
    assert answered.status_code == 503 and answered.headers["retry-after"] == "1"
    assert answered.json()["code"] == "unavailable"
    assert calls.made == ["peek d"]


def test_validators_need_answer_before_view(store: MemoryStore) -> None:
    calls = Calls(store)
    with pytest.raises(ConfigurationError, match="answer_before_view"):
        Conditional(store, load=calls.load, snapshot=lambda found: found[0], validators=calls.peek)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(method=METHODS, fields=FIELDS)
def test_the_answer_is_the_same_with_and_without_validators(
    portal: BlockingPortal, method: str, fields: dict[str, str]
) -> None:
    store = MemoryStore()
    store.compare_and_set("d", Expectation(exists=False), {"text": "d"})
    headers = dated(fields, store.read("d"))
    answers = []
    for peek in (True, False):
        client = AsgiClient(make_app(store, Calls(store), peek=peek), portal)
        response = client.request(method, "/d/d", headers=headers)
        kept = ("etag", "last-modified", "content-type")
        answers.append(
            (response.status_code, response.content, {k: response.headers.get(k) for k in kept})
        )
    assert answers[0] == answers[1]


def test_without_a_loader_the_store_reads_only_what_the_peek_did_not_answer(
    portal: BlockingPortal, store: MemoryStore
) -> None:
    calls = Calls(store)
    counted = CountingStore(store)
    reads = counted.reads

    documents = Conditional(counted, key="doc_id", answer_before_view=True, validators=calls.peek)
    app = FastAPI()

    @app.get("/d/{doc_id}")
    async def read(
        doc_id: str, condition: Annotated[ConditionalRequest, Depends(documents)]
    ) -> str:
        return doc_id

    client = AsgiClient(install(app), portal)
    assert client.request("GET", "/d/d", headers={"If-None-Match": '"v1"'}).status_code == 304
    assert reads == []
    stale = client.request("GET", "/d/d", headers={"If-None-Match": '"v0"'})
    assert stale.status_code == 200 and stale.headers["etag"] == '"v1"'
    assert reads == ["d"] and calls.made == ["peek d", "peek d"]


def test_the_starlette_decorator_peeks_too(portal: BlockingPortal, store: MemoryStore) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from ifmatch.integrations.starlette import conditional

    calls = Calls(store)
    counted = CountingStore(store)
    reads = counted.reads

    @conditional(counted, key="doc_id", answer_before_view=True, validators=calls.peek)
    async def document(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["doc_id"]})

    app = Starlette(routes=[Route("/d/{doc_id}", document)])
    client = AsgiClient(app, portal)
    current = client.request("GET", "/d/d", headers={"If-None-Match": '"v1"'})
    assert current.status_code == 304 and current.headers["etag"] == '"v1"'
    assert reads == []
    stale = client.request("GET", "/d/d", headers={"If-None-Match": '"v0"'})
    assert stale.status_code == 200 and stale.headers["etag"] == '"v1"'
    assert reads == ["d"] and calls.made == ["peek d", "peek d"]
    with pytest.raises(ConfigurationError, match="answer_before_view"):
        conditional(store, key="doc_id", validators=calls.peek)
