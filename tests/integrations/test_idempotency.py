"""Idempotency-Key over HTTP, the protocol table, in every integration and on the stores that
keep records: a retry of a committed write gets its first answer, never a 412 for its own write
and never a second application; another request under the same key is a 422; a key in flight
is a 409; an expired key is a new request; a missing-but-required or malformed key is a 400."""

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal

from ifmatch.stores import Expectation
from ifmatch.stores.memory import MemoryStore
from integrations import idempotency_apps
from integrations.http_conformance import AsgiClient

Reply = tuple[int, dict[str, str], bytes]
Send = Callable[[str, str, dict[str, str], Any], Reply]

FRAMEWORKS = ["flask", "fastapi", "starlette"]


def sender(framework: str, store: Any, portal: BlockingPortal, **options: Any) -> Send:
    build = getattr(idempotency_apps, f"{framework}_app")
    app = build(store, **options)
    if framework == "flask":
        client = app.test_client()

        def send(method: str, url: str, headers: dict[str, str], body: Any) -> Reply:
            response = client.open(url, method=method, headers=headers, json=body)
            fields = {name.lower(): value for name, value in response.headers.items()}
            return response.status_code, fields, response.data

        return send
    asgi = AsgiClient(app, portal)

    def send_asgi(method: str, url: str, headers: dict[str, str], body: Any) -> Reply:
        response = asgi.request(method, url, headers=headers, json=body)
        return response.status_code, dict(response.headers), response.content

    return send_asgi


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def send(framework: str, store: MemoryStore, portal: BlockingPortal) -> Send:
    return sender(framework, store, portal)


def new_doc(store: Any, text: str = "one") -> str:
    key = uuid.uuid4().hex[:12]
    store.compare_and_set(key, Expectation(exists=False), {"text": text})
    return key


def key() -> dict[str, str]:
    return {"Idempotency-Key": f'"{uuid.uuid4()}"'}


def test_a_retried_write_gets_its_first_answer_and_applies_once(send: Send, store: Any) -> None:
    doc = new_doc(store)
    headers = {"If-Match": '"v1"', **key()}
    first = send("PUT", f"/docs/{doc}", headers, {"text": "two"})
    assert first[0] == 200 and first[1]["etag"] == '"v2"'
    # The reply was lost; the client sends the same request again, with the same key.
    again = send("PUT", f"/docs/{doc}", headers, {"text": "two"})
    assert again[0] == 200 and again[1]["etag"] == '"v2"'
    assert again[1]["idempotent-replayed"] == "true"
    assert store.read(doc).version == 2  # not a 412 for its own write, not applied twice
    patched = send("PATCH", f"/docs/{doc}", {"If-Match": '"v2"', **key()}, {"text": "three"})
    assert patched[0] == 200 and store.read(doc).version == 3


def test_a_retried_create_and_delete_get_their_first_answers(send: Send, store: Any) -> None:
    doc = uuid.uuid4().hex[:12]
    headers = {"If-None-Match": "*", **key()}
    created = send("PUT", f"/docs/{doc}", headers, {"text": "new"})
    assert created[0] == 201 and created[1]["etag"] == '"v1"'
    again = send("PUT", f"/docs/{doc}", headers, {"text": "new"})
    assert again[0] == 201 and again[1]["etag"] == '"v1"'
    assert again[1]["location"] == f"/docs/{doc}" and again[2] == b""
    deleting = {"If-Match": '"v1"', **key()}
    assert send("DELETE", f"/docs/{doc}", deleting, None)[0] == 204
    replay = send("DELETE", f"/docs/{doc}", deleting, None)
    assert replay[0] == 204 and replay[1]["idempotent-replayed"] == "true"
    assert "etag" not in replay[1]


def test_the_same_key_with_another_request_is_422(send: Send, store: Any) -> None:
    doc = new_doc(store)
    headers = {"If-Match": '"v1"', **key()}
    assert send("PUT", f"/docs/{doc}", headers, {"text": "two"})[0] == 200
    for body in ({"text": "other"},):
        reused = send("PUT", f"/docs/{doc}", headers, body)
        assert reused[0] == 422, reused
    other_target = send("PUT", f"/docs/{new_doc(store)}", headers, {"text": "two"})
    assert other_target[0] == 200  # keys are scoped to the resource: a new key there
    assert store.read(doc).version == 2


class SlowStore(MemoryStore):
    """A store whose next write waits for ``gate``: a request held in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def compare_and_set(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        assert self.gate.wait(30)
        return super().compare_and_set(*args, **kwargs)


def test_a_key_in_flight_is_409_with_retry_after(framework: str, portal: BlockingPortal) -> None:
    store = SlowStore()
    store.gate.set()
    doc = new_doc(store)
    store.gate.clear()
    store.entered.clear()
    send = sender(framework, store, portal)
    headers = {"If-Match": '"v1"', **key()}
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(send, "PUT", f"/docs/{doc}", headers, {"text": "two"})
        assert store.entered.wait(30)  # the first attempt holds the key, writing
        second = send("PUT", f"/docs/{doc}", headers, {"text": "two"})
        store.gate.set()
        assert first.result(30)[0] == 200
    assert second[0] == 409 and second[1]["retry-after"] == "1"
    assert b"idempotency-key-in-flight" in second[2]
    # Once the first attempt committed, the retry gets its answer.
    assert send("PUT", f"/docs/{doc}", headers, {"text": "two"})[1]["etag"] == '"v2"'
    assert store.read(doc).version == 2


def test_a_failed_keyed_write_releases_its_key(send: Send, store: Any) -> None:
    doc = new_doc(store)
    stale = {"If-Match": '"v9"', **key()}
    assert send("PUT", f"/docs/{doc}", stale, {"text": "x"})[0] == 412
    # Not 409: the first attempt is over and wrote nothing; the retry is judged afresh.
    assert send("PUT", f"/docs/{doc}", stale, {"text": "x"})[0] == 412
    assert store.read(doc).version == 1


def test_a_required_key_and_a_malformed_one_are_400(send: Send, store: Any) -> None:
    doc = new_doc(store)
    missing = send("DELETE", f"/docs/{doc}", {"If-Match": '"v1"'}, None)
    assert missing[0] == 400 and b"idempotency-key-missing" in missing[2]
    for bad in ("two words", '"a", "b"', "", '"' + "k" * 300 + '"'):
        malformed = send(
            "PUT", f"/docs/{doc}", {"If-Match": '"v1"', "Idempotency-Key": bad}, {"text": "x"}
        )
        assert malformed[0] == 400 and b"Idempotency-Key" in malformed[2], (bad, malformed)
    assert store.read(doc).version == 1
    # Without a key, a write that does not require one goes on as before.
    assert send("PUT", f"/docs/{doc}", {"If-Match": '"v1"'}, {"text": "x"})[0] == 200


def test_an_expired_key_is_a_new_request(
    framework: str, store: Any, portal: BlockingPortal
) -> None:
    send = sender(framework, store, portal, keys=idempotency_apps.SHORT)
    doc = new_doc(store)
    headers = {"If-Match": '"v1"', **key()}
    assert send("PUT", f"/docs/{doc}", headers, {"text": "two"})[0] == 200
    # The record is gone: the retry is judged as a new request, and its If-Match is stale.
    assert send("PUT", f"/docs/{doc}", headers, {"text": "two"})[0] == 412
    assert store.read(doc).version == 2
