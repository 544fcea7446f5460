"""ifmatch.integrations.fastapi: the shared conformance table against a FastAPI app, the route
decorator, the body-version scheme, exception handlers and the OpenAPI schema."""

import threading
from collections.abc import Hashable, Iterator
from typing import Annotated

import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import Depends, FastAPI, HTTPException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

import services
from conformance import HTTP_CASES, Case
from ifmatch.core import PROBLEM_MEDIA_TYPE, Policy
from ifmatch.integrations.fastapi import Conditional, ConditionalRequest, install, protect
from ifmatch.stores import Expectation, Snapshot
from ifmatch.stores.memory import MemoryStore
from integrations import example_fastapi
from integrations.example_fastapi import create_app
from integrations.example_models import DATABASE_URL_ENV, create_tables
from integrations.fast_writes import check_fast_writes
from integrations.http_conformance import (
    AsgiClient,
    Headers,
    Runner,
    check_fuzzed,
    fuzzed_headers,
)
from integrations.lost_updates import race, serialization_failure
from services import Database, free_port, running_server, subprocess_env


@pytest.fixture
def client(portal: BlockingPortal) -> AsgiClient:
    return AsgiClient(create_app(), portal)


@pytest.fixture
def runner(client: AsgiClient) -> Iterator[Runner]:
    runner = Runner(client.send)
    yield runner
    runner.lint_all()


@pytest.mark.parametrize("case", HTTP_CASES, ids=str)
def test_conformance_fastapi(runner: Runner, case: Case) -> None:
    runner.run(case)


# --- the FastAPI surface ---------------------------------------------------------------------


def test_openapi_documents_preconditions(client: AsgiClient) -> None:
    schema = client.request("GET", "/openapi.json").json()
    item = schema["paths"]["/documents/{doc_id}"]
    put = item["put"]
    params = {(p["in"], p["name"]) for p in put["parameters"]}
    assert {("header", "If-Match"), ("header", "If-None-Match")} <= params
    assert {"200", "201", "400", "404", "412", "428"} <= set(put["responses"])
    assert "ETag" in put["responses"]["200"]["headers"]
    assert PROBLEM_MEDIA_TYPE in put["responses"]["412"]["content"]
    get = item["get"]
    assert "304" in get["responses"] and "428" not in get["responses"]
    assert "ETag" in get["responses"]["200"]["headers"]
    delete = item["delete"]
    assert "428" in delete["responses"] and "headers" not in delete["responses"].get("204", {})
    patch = item["patch"]  # through the @protect route decorator
    assert ("header", "If-Match") in {(p["in"], p["name"]) for p in patch["parameters"]}
    assert "condition" not in {p["name"] for p in patch["parameters"]}
    versioned = schema["paths"]["/versioned/{doc_id}"]["put"]
    assert "428" not in versioned["responses"]  # nothing is required on this route


def test_openapi_lists_each_precondition_header_once() -> None:
    """The headers come from document_route, not from FastAPI parameters: a handler that
    declares If-Match itself keeps its own, and rebuilding the schema adds nothing."""
    from fastapi import Header

    app = install(FastAPI())
    documents = Conditional(MemoryStore(), key="doc_id")

    @app.put("/own/{doc_id}")
    async def own(
        doc_id: str,
        condition: Annotated[ConditionalRequest, Depends(documents)],
        if_match: Annotated[str | None, Header(alias="If-Match", description="mine")] = None,
    ) -> None:
        return None

    def headers() -> list[tuple[str, str | None]]:
        operation = app.openapi()["paths"]["/own/{doc_id}"]["put"]
        return sorted(
            (p["name"], p.get("description"))
            for p in operation["parameters"]
            if p["in"] == "header"
        )

    first = headers()
    assert [name for name, _ in first] == ["If-Match", "If-None-Match"]
    assert dict(first)["If-Match"] == "mine"
    app.openapi_schema = None
    assert headers() == first


def test_body_version_scheme_409(runner: Runner) -> None:
    runner.base = "/versioned/"
    runner.create("/versioned/b")
    runner.request("PUT", "/versioned/b", [], {"text": "second", "version": 1})
    conflict = runner.request("PUT", "/versioned/b", [], {"text": "stale", "version": 1})
    assert conflict.status == 409
    assert conflict.json()["current_version"] == 2 and conflict.header("ETag") == '"v2"'
    ok = runner.request("PUT", "/versioned/b", [], {"text": "fresh", "version": 2})
    assert ok.status == 200 and ok.header("ETag") == '"v3"'


class RacingStore(MemoryStore):
    """Another writer commits between this request's check and its write; records threads."""

    race = False
    threads: set[int]

    def read(self, key: Hashable) -> Snapshot | None:
        self.threads = {*getattr(self, "threads", set()), threading.get_ident()}
        snapshot = super().read(key)
        if self.race and snapshot is not None:
            super().compare_and_set(key, Expectation(), {"text": "the other writer's"})
        return snapshot


def test_lost_race_is_412_and_sync_stores_run_off_the_loop(portal: BlockingPortal) -> None:
    store = RacingStore()
    client = AsgiClient(create_app(store), portal)
    runner = Runner(client.send)
    created = runner.create("/documents/race")
    store.race = True
    lost = runner.request(
        "PUT", "/documents/race", [("If-Match", created.header("ETag") or "")], {"text": "mine"}
    )
    store.race = False
    assert lost.status == 412 and lost.json()["current_etag"] == '"v2"'
    assert runner.request("GET", "/documents/race").json()["text"] == "the other writer's"
    loop_thread = portal.call(lambda: _thread_id())
    assert loop_thread not in store.threads
    runner.lint_all()


async def _thread_id() -> int:
    return threading.get_ident()


def test_a_serialization_failure_at_the_handlers_commit_is_412(portal: BlockingPortal) -> None:
    from sqlalchemy.exc import OperationalError

    store = MemoryStore()
    store.compare_and_set("d", Expectation(exists=False), {"text": "x"})
    app = install(FastAPI())
    documents = Conditional(store, key="doc_id")
    optional = Conditional(store, key="doc_id", policy=Policy(frozenset()))

    @app.put("/documents/{doc_id}")
    async def put(
        doc_id: str, condition: Annotated[ConditionalRequest, Depends(documents)]
    ) -> None:
        await condition.write({"text": "y"})
        raise serialization_failure()  # as the handler's own commit raises it

    @app.put("/optional/{doc_id}")
    async def put_optional(
        doc_id: str, condition: Annotated[ConditionalRequest, Depends(optional)]
    ) -> None:
        raise serialization_failure()

    @app.put("/broken/{doc_id}")
    async def broken(
        doc_id: str, condition: Annotated[ConditionalRequest, Depends(documents)]
    ) -> None:
        raise OperationalError("COMMIT", {}, ValueError("the disk is full"))

    @app.put("/unprotected/{doc_id}")
    async def unprotected(doc_id: str) -> None:
        raise serialization_failure()

    client = AsgiClient(app, portal)
    refused = client.request("PUT", "/documents/d", headers={"If-Match": '"v1"'})
    assert refused.status_code == 412
    assert refused.headers["Content-Type"] == PROBLEM_MEDIA_TYPE
    assert refused.json()["code"] == "write-conflict"
    # Without a precondition there is no precondition to fail: 409 Conflict.
    assert client.request("PUT", "/optional/d").status_code == 409
    # Other database errors, and requests that are not protected, stay server errors.
    for path in ("/broken/d", "/unprotected/d"):
        with pytest.raises(OperationalError):
            client.request("PUT", path, headers={"If-Match": '"v2"'})


def test_authentication_runs_before_preconditions(portal: BlockingPortal) -> None:
    store = MemoryStore()
    store.compare_and_set("secret", Expectation(exists=False), {"text": "x"})

    def deny() -> None:
        raise HTTPException(403)

    app = install(FastAPI(dependencies=[Depends(deny)]))

    @app.get("/private/{doc_id}")
    async def private(
        doc_id: str, condition: Annotated[ConditionalRequest, Depends(Conditional(store))]
    ) -> None:
        raise AssertionError("never reached")

    client = AsgiClient(app, portal)
    for headers in ({"If-None-Match": '"v1"'}, {"If-Match": '"stale"'}, {}):
        assert client.request("GET", "/private/secret", headers=headers).status_code == 403
        assert client.request("GET", "/private/absent", headers=headers).status_code == 403


def test_jsonapi_errors_and_a_custom_key(portal: BlockingPortal) -> None:
    store = MemoryStore()
    store.compare_and_set(("doc", "1"), Expectation(exists=False), {"text": "x"})
    app = install(FastAPI())
    dependency = Conditional(
        store, key=lambda request: ("doc", request.path_params["doc_id"]), error_format="jsonapi"
    )

    @app.put("/docs/{doc_id}")
    async def put(
        doc_id: str, condition: Annotated[ConditionalRequest, Depends(dependency)]
    ) -> dict[str, str]:
        await condition.write({"text": "y"})
        return {"etag": condition.etag or ""}

    client = AsgiClient(app, portal)
    refused = client.request("PUT", "/docs/1", headers={"If-Match": '"v7"'})
    assert refused.status_code == 412
    assert refused.headers["content-type"] == "application/vnd.api+json"
    assert refused.json()["errors"][0]["meta"]["current_etag"] == '"v1"'
    accepted = client.request("PUT", "/docs/1", headers={"If-Match": '"v1"'})
    assert accepted.json() == {"etag": '"v2"'} and accepted.headers["etag"] == '"v2"'


@pytest.mark.parametrize("lenient", [True, False])
def test_accept_bare_version_token(portal: BlockingPortal, lenient: bool) -> None:
    store = MemoryStore()
    store.compare_and_set("d", Expectation(exists=False), {"text": "x"})
    app = install(FastAPI())
    policy = Policy(accept_bare_version_token=lenient)
    dependency = Conditional(store, key="doc_id", policy=policy)

    @app.put("/docs/{doc_id}")
    async def put(
        doc_id: str, condition: Annotated[ConditionalRequest, Depends(dependency)]
    ) -> dict[str, str]:
        await condition.write({"text": "y"})
        return {"etag": condition.etag or ""}

    client = AsgiClient(app, portal)
    answer = client.request("PUT", "/docs/d", headers={"If-Match": "v1"})
    if lenient:
        assert answer.status_code == 200 and answer.headers["etag"] == '"v2"'
    else:
        assert answer.status_code == 400 and answer.json()["header"] == "If-Match"
        assert store.read("d").version == 1  # type: ignore[union-attr]


def test_load_hands_the_handler_its_object(portal: BlockingPortal) -> None:
    store = MemoryStore()
    store.compare_and_set("d", Expectation(exists=False), {"text": "x"})

    async def load(key: Hashable) -> object:
        return store.get(key)

    dependency = Conditional(store, load=load, snapshot=lambda found: found[0])
    app = install(FastAPI())

    @app.get("/d/{doc_id}")
    async def read(
        doc_id: str, condition: Annotated[ConditionalRequest, Depends(dependency)]
    ) -> dict[str, str]:
        return {"text": condition.instance[1]["text"]}

    @app.put("/d/{doc_id}")
    async def put(
        doc_id: str, condition: Annotated[ConditionalRequest, Depends(dependency)]
    ) -> dict[str, object]:
        return {
            "if_match": [str(tag) for tag in condition.preconditions.if_match or ()],
            "versions": sorted(condition.expectation.versions or ()),
        }

    client = AsgiClient(app, portal)
    seen = client.request("PUT", "/d/d", headers={"If-Match": '"v9", "v1"'}).json()
    assert seen == {"if_match": ['"v9"', '"v1"'], "versions": [1, 9]}
    first = client.request("GET", "/d/d")
    assert first.headers["etag"] == '"v1"' and first.json() == {"text": "x"}
    assert client.request("GET", "/d/d", headers={"If-None-Match": '"v1"'}).status_code == 304
    assert client.request("GET", "/d/none").status_code == 404
    with pytest.raises(TypeError, match="snapshot"):
        Conditional(store, load=load)


def test_fast_writes_never_send_a_last_modified_later_than_date(portal: BlockingPortal) -> None:
    store = MemoryStore()
    runner = Runner(AsgiClient(create_app(store), portal).send)
    runner.create("/documents/fast")
    check_fast_writes(runner, "/documents/fast", lambda: store.get("fast")[0].last_modified)  # type: ignore[index]


def test_protect_rejects_sync_handlers() -> None:
    with pytest.raises(TypeError, match="async"):
        protect(MemoryStore())(lambda: None)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE"]), headers=fuzzed_headers())
def test_fuzzed_headers_never_500_never_unguarded(
    fuzz_runner: Runner, method: str, headers: Headers
) -> None:
    target = "/documents/fuzz"
    if fuzz_runner.current_etag(target) is None:
        fuzz_runner.create(target)
        fuzz_runner.request("PUT", target, [("If-Match", "*")], {"text": "v2"})
    check_fuzzed(fuzz_runner, target, method, headers)


@pytest.fixture(scope="module")
def fuzz_runner() -> Iterator[Runner]:
    with start_blocking_portal() as module_portal:
        runner = Runner(AsgiClient(create_app(), module_portal).send)
        yield runner
    runner.lint_all()


# --- schemathesis against the example app's OpenAPI schema ------------------------------------

SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", create_app())


@SCHEMA.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_no_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])


# --- on PostgreSQL: the async SQLAlchemy store in process, then uvicorn workers -------------


@pytest.fixture(scope="module")
def pg_urls(postgres_db: Database) -> tuple[str, str]:
    create_tables(postgres_db.sqlalchemy_url())
    return postgres_db.sqlalchemy_url(), postgres_db.sqlalchemy_url(asynchronous=True)


@pytest.fixture(scope="module")
def pg_fastapi_runner(pg_urls: tuple[str, str]) -> Iterator[Runner]:
    with pytest.MonkeyPatch.context() as patch, start_blocking_portal() as module_portal:
        patch.setenv(DATABASE_URL_ENV, pg_urls[1])
        runner = Runner(AsgiClient(create_app(), module_portal).send)
        yield runner
        for engine in example_fastapi.ENGINES:
            module_portal.call(engine.dispose)
    runner.lint_all()


@pytest.mark.services
@pytest.mark.parametrize("case", HTTP_CASES, ids=str)
def test_conformance_async_sqlalchemy(pg_fastapi_runner: Runner, case: Case) -> None:
    pg_fastapi_runner.run(case)


@pytest.mark.slow
@pytest.mark.services
def test_no_lost_updates_through_uvicorn_workers(pg_urls: tuple[str, str]) -> None:
    port = free_port()
    argv = [
        services.PYTHON,
        "-m",
        "uvicorn",
        "--workers",
        "3",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--no-date-header",  # the app stamps its own (DateMiddleware)
        "--factory",
        "integrations.example_fastapi:create_app",
    ]
    base = f"http://127.0.0.1:{port}"
    with running_server(argv, port, env=subprocess_env(**{DATABASE_URL_ENV: pg_urls[1]})):
        created = httpx.put(
            base + "/documents/race", json={"text": ""}, headers={"If-None-Match": "*"}, timeout=60
        )
        assert created.status_code == 201, created.text
        tally, lost = race(base, "/documents/race", writers=12, tokens=5)
    print(
        f"ifmatch: {len(tally.acknowledged)} acknowledged, {tally.conflicts} 412s, {len(lost)} lost"
    )
    assert not tally.errors and len(tally.acknowledged) == 60
    assert lost == [], f"{len(lost)} acknowledged writes lost"
    assert tally.conflicts > 0  # the writers did collide
