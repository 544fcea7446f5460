"""Body entity-tags (AIP-154 ``etag``, Eve's ``_etag``) through the WSGI and ASGI middleware:
the shared table against Flask, Starlette and FastAPI, and the middleware's own edges."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from ifmatch.core.etag import parse_etag_list
from ifmatch.integrations._bodyetag import Rejected, Translated, translate_request
from ifmatch.integrations.bodyetag import BodyETag, BodyETagASGI, BodyETagWSGI
from ifmatch.stores import Expectation, Snapshot
from ifmatch.stores.memory import MemoryStore
from integrations import example_fastapi, example_flask, example_starlette
from integrations.body_etag_table import CASES, CONFIGS, Answer, Case, Send, run
from integrations.http_conformance import AsgiClient

_ids = itertools.count()


def flask_sender(config: BodyETag, memory: MemoryStore | None = None) -> Send:
    memory = memory if memory is not None else MemoryStore()
    app: Flask = example_flask.create_app(memory, memory.get)
    app.wsgi_app = BodyETagWSGI(app.wsgi_app, config)  # type: ignore[method-assign]
    client = app.test_client()

    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> Answer:
        response = client.open(path, method=method, headers=headers, data=body)
        fields = {name.lower(): value for name, value in response.headers.items()}
        return Answer(response.status_code, fields, response.get_data())

    return send


def asgi_sender(app: Any, portal: BlockingPortal) -> Send:
    client = AsgiClient(app, portal)

    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> Answer:
        response = client.request(method, path, headers=headers, content=body)
        fields = {name.lower(): value for name, value in response.headers.items()}
        return Answer(response.status_code, fields, response.content)

    return send


APPS: dict[str, Callable[[BodyETag, BlockingPortal, MemoryStore], Send]] = {
    "flask": lambda config, portal, store: flask_sender(config, store),
    "starlette": lambda config, portal, store: asgi_sender(
        BodyETagASGI(example_starlette.create_app(store), config), portal
    ),
    "fastapi": lambda config, portal, store: asgi_sender(
        BodyETagASGI(example_fastapi.create_app(store), config), portal
    ),
}


def sender(framework: str, config: BodyETag, portal: BlockingPortal, store: Any = None) -> Send:
    """One of the example apps behind the middleware, over ``store`` (a new one by default)."""
    return APPS[framework](config, portal, store if store is not None else MemoryStore())


def fresh(send: Send) -> str:
    path = f"/documents/body-{next(_ids)}"
    created = send(
        "PUT",
        path,
        {"If-None-Match": "*", "Content-Type": "application/json"},
        json.dumps({"text": "x"}).encode(),
    )
    assert created.status == 201, created.body
    return path


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("framework", sorted(APPS))
def test_table(framework: str, case: Case, portal: BlockingPortal) -> None:
    send = sender(framework, CONFIGS[case.config], portal)
    run(case, send, fresh(send))


# --- the middleware's own edges, on small apps that show what they receive -------------------


def echo_wsgi(seen: list[dict[str, Any]]) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        seen.append(
            {
                "if_match": environ.get("HTTP_IF_MATCH"),
                "body": environ["wsgi.input"].read(length),
                "content_type": environ.get("CONTENT_TYPE"),
            }
        )
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return app


def call_wsgi(app: Any, method: str, body: bytes, headers: dict[str, str]) -> tuple[str, bytes]:
    import io

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/r",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    }
    started: list[str] = []
    chunks = app(environ, lambda status, fields, exc_info=None: started.append(status))
    try:
        return started[0] if started else "", b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:  # as a WSGI server does (PEP 3333)
            close()


def test_the_app_sees_if_match_and_a_body_without_the_member() -> None:
    seen: list[dict[str, Any]] = []
    app = BodyETagWSGI(echo_wsgi(seen))
    status, _ = call_wsgi(app, "PUT", b'{"text": "y", "etag": "\\"v3\\""}', {})
    assert status.startswith("200")
    assert seen[-1]["if_match"] == '"v3"' and json.loads(seen[-1]["body"]) == {"text": "y"}
    # A DELETE whose body held only the tag reaches the app with no body at all.
    call_wsgi(app, "DELETE", b'{"etag": "\\"v3\\""}', {})
    assert seen[-1] == {"if_match": '"v3"', "body": b"", "content_type": None}


def test_strip_off_and_untouched_requests() -> None:
    seen: list[dict[str, Any]] = []
    app = BodyETagWSGI(echo_wsgi(seen), strip=False)
    body = b'{"text": "y", "etag": "\\"v3\\""}'
    call_wsgi(app, "PUT", body, {})
    assert seen[-1]["body"] == body and seen[-1]["if_match"] == '"v3"'
    for method, payload in [("PUT", b'[{"etag": "x"}]'), ("POST", body), ("PUT", b'{"a": 1}')]:
        call_wsgi(app, method, payload, {})
        assert seen[-1]["body"] == payload and seen[-1]["if_match"] is None


def test_a_body_over_the_limit_is_413_and_never_reaches_the_app() -> None:
    seen: list[dict[str, Any]] = []
    app = BodyETagWSGI(echo_wsgi(seen), max_body_size=16)
    status, data = call_wsgi(app, "PUT", b'{"etag": "\\"v1\\"", "text": "long"}', {})
    assert status.startswith("413") and json.loads(data)["code"] == "body-too-large"
    assert seen == []


def test_paths_outside_applies_are_untouched() -> None:
    seen: list[dict[str, Any]] = []
    app = BodyETagWSGI(echo_wsgi(seen), applies=lambda path: path.startswith("/api/"))
    body = b'{"etag": 3}'
    status, _ = call_wsgi(app, "PUT", body, {})
    assert status.startswith("200") and seen[-1]["body"] == body


def test_asgi_passes_the_translated_request(portal: BlockingPortal) -> None:
    seen: list[tuple[list[tuple[bytes, bytes]], bytes]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        seen.append((scope["headers"], message["body"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    client = AsgiClient(BodyETagASGI(app, fields=("_etag",)), portal)
    answer = client.request(
        "PATCH", "/r", json={"_etag": "v9", "text": "y"}, headers={"If-Match": '"v9"'}
    )
    assert answer.status_code == 204
    headers, body = seen[-1]
    assert json.loads(body) == {"text": "y"}
    assert (b"if-match", b'"v9"') in headers and (
        b"content-length",
        str(len(body)).encode(),
    ) in headers
    refused = client.request("PATCH", "/r", json={"_etag": '"v9"'})
    assert refused.status_code == 400 and refused.json()["field"] == "_etag"
    assert len(seen) == 1


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="409 or 412"):
        BodyETag(mismatch_status=400)
    with pytest.raises(ValueError, match="at least one"):
        BodyETag(fields=())
    with pytest.raises(TypeError, match="either"):
        BodyETagWSGI(echo_wsgi([]), BodyETag(), strip=False)


# --- the ifmatch client against a server that takes body tags --------------------------------


@pytest.mark.parametrize("status", [412, 409])
def test_the_ifmatch_client_writes_and_merges_through_the_middleware(status: int) -> None:
    """The client sends If-Match (learned from the header) and the representation it read,
    whose ``etag`` member names the same tag: the two agree, and a stale write is a 412 the
    client merges and retries, whatever the server answers a body-only stale tag with."""
    import httpx

    from ifmatch.client import Client

    memory = MemoryStore()
    app = example_flask.create_app(memory, memory.get)
    app.wsgi_app = BodyETagWSGI(app.wsgi_app, mismatch_status=status)  # type: ignore[method-assign]
    with Client("http://testserver", transport=httpx.WSGITransport(app=app)) as client:
        created = client.put("/documents/7", json={"text": "a"}, create=True)
        assert created.status_code == 201
        doc = client.read("/documents/7")
        assert doc.data["etag"] == str(doc.etag) == '"v1"'
        # Another writer, sending only the body member, moves the document on.
        other = client.http.put("/documents/7", json={"id": "7", "text": "b", "etag": '"v1"'})
        assert other.status_code == 200 and other.json()["etag"] == '"v2"'
        saved = client.save(doc, {**doc.data, "extra": 1}, on_conflict="merge")
        assert saved.data["text"] == "b" and str(saved.etag) == saved.data["etag"] == '"v3"'
        bumped = client.update("/documents/7", lambda d: {**d, "text": d["text"] + "c"})
        assert bumped.data["text"] == "bc" and bumped.data["etag"] == '"v4"'


def answering(status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(status, headers)
        return [body]

    return app


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        # A JSON:API document: no room for resource members at its top level.
        ([("Content-Type", "application/vnd.api+json"), ("ETag", '"v1"')], b'{"data": {}}'),
        # A compressed body, a list, a collection's tag (not a version's), no ETag at all.
        (
            [("Content-Type", "application/json"), ("ETag", '"v1"'), ("Content-Encoding", "gzip")],
            b"\x1f\x8b",
        ),
        ([("Content-Type", "application/json"), ("ETag", '"v1"')], b"[{}]"),
        ([("Content-Type", "application/json"), ("ETag", '"c0ffee"')], b'{"count": 2}'),
        ([("Content-Type", "application/json")], b'{"id": 1}'),
        ([("Content-Type", "text/plain"), ("ETag", '"v1"')], b'{"id": 1}'),
    ],
)
def test_answers_that_are_no_representation_are_untouched(
    headers: list[tuple[str, str]], body: bytes
) -> None:
    app = BodyETagWSGI(answering("200 OK", headers, body))
    status, data = call_wsgi(app, "GET", b"", {})
    assert status == "200 OK" and data == body


def test_a_representation_gets_the_tag_of_its_etag_header() -> None:
    headers = [("Content-Type", "application/hal+json"), ("ETag", '"v4"'), ("Content-Length", "9")]
    app = BodyETagWSGI(answering("200 OK", headers, b'{"id": 1}'), fields=("etag", "_etag"))
    status, data = call_wsgi(app, "GET", b"", {})
    assert json.loads(data) == {"id": 1, "etag": '"v4"', "_etag": "v4"}


# --- no input makes the translation fail, or let a tag through it did not check ----------------


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_tags = st.sampled_from(['"v1"', "v1", 'W/"v1"', '"v1', "", "*", '"a", "b"', '"\x7f"']) | st.text(
    max_size=10
)


@settings(max_examples=400, deadline=None)
@given(
    members=st.dictionaries(st.sampled_from(["etag", "_etag", "text"]), _json | _tags, max_size=3),
    header=st.none() | _tags,
    raw=st.none() | st.binary(max_size=20),
    method=st.sampled_from(["PUT", "PATCH", "DELETE", "POST", "GET"]),
)
def test_translation_never_fails(
    members: dict[str, Any], header: str | None, raw: bytes | None, method: str
) -> None:
    body = raw if raw is not None else json.dumps(members).encode()
    config = BodyETag(fields=("etag", "_etag"))
    result = translate_request(config, method, "/r", "application/json", header, body)
    if isinstance(result, Rejected):
        assert result.status == 400 and result.problem["detail"]
        return
    assert isinstance(result, Translated)
    if result.tag is None:
        assert result.if_match is None and result.body is None
        return
    assert not result.tag.weak and method in config.methods
    # The tag goes on as If-Match, or the header the request had names exactly that tag.
    sent = result.if_match if result.if_match is not None else header
    assert sent is not None
    try:
        named = parse_etag_list(sent, header="If-Match")
    except ValueError:
        named = None  # a lone bare token, read as its quoted form by the core
        assert sent.strip() == result.tag.opaque
    if named is not None:
        assert named == (result.tag,)
    if result.body is not None and result.body:
        assert not {"etag", "_etag"} & set(json.loads(result.body))


@pytest.mark.parametrize("framework", sorted(APPS))
def test_no_body_or_member_is_a_500_nor_writes_a_stale_tag(
    framework: str, portal: BlockingPortal
) -> None:
    send = sender(framework, BodyETag(fields=("etag", "_etag")), portal)
    path = fresh(send)

    @settings(max_examples=60, deadline=None)
    @given(
        members=st.dictionaries(st.sampled_from(["etag", "_etag"]), _json | _tags, max_size=2),
        raw=st.none() | st.binary(min_size=1, max_size=16).filter(_not_json),
        method=st.sampled_from(["PUT", "PATCH", "DELETE"]),
    )
    def probe(members: dict[str, Any], raw: bytes | None, method: str) -> None:
        body = raw if raw is not None else json.dumps({"text": "x", **members}).encode()
        answer = send(method, path, {"Content-Type": "application/json"}, body)
        assert answer.status < 500, answer.body
        # The resource is at version 1 and nothing here names "v1" except the current tags:
        # a write that went through named it.
        if answer.status < 300:
            named = {members.get("etag"), members.get("_etag")}
            assert named & {'"v1"', "v1"}, (members, answer.status)
            if method == "DELETE":
                recreated = send(
                    "PUT",
                    path,
                    {"If-None-Match": "*", "Content-Type": "application/json"},
                    b'{"text": "x"}',
                )
                assert recreated.status == 201
            else:
                restored = send(
                    "PUT",
                    path,
                    {"If-Match": answer.headers["etag"], "Content-Type": "application/json"},
                    b'{"text": "x"}',
                )
                assert restored.status == 200
                # The probes assume version 1: start again from a new resource.
                reset_to_version_one(send, path)

    probe()


def _not_json(raw: bytes) -> bool:
    # Bytes that are JSON but no object pass through untouched: what the example apps make of
    # them is theirs to answer, not the middleware's.
    try:
        json.loads(raw)
    except ValueError:
        return True
    return False


def reset_to_version_one(send: Send, path: str) -> None:
    """The probes assume version 1; after a successful write, put a fresh resource there."""
    current = send("GET", path, {}, None).headers["etag"]
    deleted = send("DELETE", path, {"If-Match": current}, None)
    assert deleted.status == 204
    created = send(
        "PUT", path, {"If-None-Match": "*", "Content-Type": "application/json"}, b'{"text": "x"}'
    )
    assert created.status == 201


def test_other_answers_stream_through_and_the_app_is_closed() -> None:
    events: list[str] = []

    class Streamed:
        def __init__(self, chunks: list[bytes]) -> None:
            self.chunks = chunks

        def __iter__(self) -> Any:
            for chunk in self.chunks:
                events.append("chunk")
                yield chunk

        def close(self) -> None:
            events.append("closed")

    def app(content_type: str, chunks: list[bytes]) -> Any:
        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            start_response("200 OK", [("Content-Type", content_type), ("ETag", '"v1"')])
            return Streamed(chunks)

        return wsgi

    streamed = BodyETagWSGI(app("text/plain", [b"a", b"b", b"c"]))
    status, data = call_wsgi(streamed, "GET", b"", {})
    assert data == b"abc" and events == ["chunk", "chunk", "chunk", "closed"]
    events.clear()
    large = BodyETagWSGI(app("application/json", [b'{"a": ', b'"bcdefgh"}']), max_body_size=8)
    status, data = call_wsgi(large, "GET", b"", {})
    assert data == b'{"a": "bcdefgh"}' and events[-1] == "closed"
    events.clear()
    small = BodyETagWSGI(app("application/json", [b'{"a": ', b"1}"]))
    status, data = call_wsgi(small, "GET", b"", {})
    assert json.loads(data) == {"a": 1, "etag": '"v1"'} and events[-1] == "closed"


class RacingStore(MemoryStore):
    """Another writer commits between the request's check and its compare-and-set."""

    race = False

    def read(self, key: Hashable) -> Snapshot | None:
        snapshot = super().read(key)
        if self.race and snapshot is not None:
            super().compare_and_set(key, Expectation(), {"text": "the other writer's"})
        return snapshot


@pytest.mark.parametrize("status", [412, 409])
@pytest.mark.parametrize("framework", sorted(APPS))
def test_a_lost_compare_and_set_is_refused_like_a_stale_tag(
    framework: str, status: int, portal: BlockingPortal
) -> None:
    store = RacingStore()
    send = sender(framework, BodyETag(mismatch_status=status), portal, store)
    path = fresh(send)
    store.race = True
    body = json.dumps({"text": "mine", "etag": '"v1"'}).encode()
    lost = send("PUT", path, {"Content-Type": "application/json"}, body)
    store.race = False
    problem = lost.json()
    assert lost.status == status and problem["field"] == "etag", problem
    assert problem["current_etag"] == lost.headers["etag"] == '"v2"'
    assert send("GET", path, {}, None).json()["text"] == "the other writer's"


def test_refusals_in_the_configured_error_format() -> None:
    seen: list[dict[str, Any]] = []
    jsonapi = BodyETagWSGI(echo_wsgi(seen), error_format="jsonapi")
    status, data = call_wsgi(jsonapi, "PUT", b'{"etag": 7}', {})
    error = json.loads(data)["errors"][0]
    assert status.startswith("400") and error["code"] == "invalid-body-etag"
    assert error["meta"]["field"] == "etag"
    typed = BodyETagWSGI(echo_wsgi(seen), type_base="https://example.com/problems/")
    status, data = call_wsgi(typed, "PUT", b'{"etag": "v1"}', {})
    assert json.loads(data)["type"] == "https://example.com/problems/invalid-body-etag"
    assert seen == []
    with pytest.raises(ValueError, match="error_format"):
        BodyETag(error_format="html")
