"""Idempotency-Key over HTTP, the protocol table, in every integration: a retry of a committed
write gets its first answer, never a 412 for its own write and never a second application;
another request under the same key is a 422; a key in flight is a 409; an expired key is a new
request; a missing-but-required or malformed key is a 400; a keyed write that failed releases
its key."""

import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal

import djangoproject

djangoproject.setup()

from django.test import Client, override_settings  # noqa: E402

from djangoproject.docs.models import Document  # noqa: E402
from ifmatch.core.idempotency import record_id, request_fingerprint  # noqa: E402
from ifmatch.stores import Expectation  # noqa: E402
from ifmatch.stores._django_ledger import DjangoLedger  # noqa: E402
from ifmatch.stores.memory import MemoryStore  # noqa: E402
from integrations import idempotency_apps  # noqa: E402
from integrations.http_conformance import AsgiClient  # noqa: E402

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Site:
    """One integration's keyed resource: how to send, create a document, read its version."""

    name: str
    send: Callable[[str, str, dict[str, str], Any], Reply]
    create: Callable[[], str]  # a new document's URL, at version 1
    version: Callable[[str], int | None]
    new_url: Callable[[], str]  # the URL of a document that does not exist yet
    in_flight: Callable[[str, dict[str, str], Any], None]  # hold a key as another attempt


class SlowStore(MemoryStore):
    """A store whose writes wait for ``gate`` while it is clear: a request held in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def compare_and_set(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        assert self.gate.wait(30)
        return super().compare_and_set(*args, **kwargs)


def memory_site(framework: str, portal: BlockingPortal, **options: Any) -> Site:
    store = SlowStore()
    app = getattr(idempotency_apps, f"{framework}_app")(store, **options)
    if framework == "flask":
        client = app.test_client()

        def send(method: str, url: str, headers: dict[str, str], body: Any) -> Reply:
            response = client.open(url, method=method, headers=headers, json=body)
            fields = {name.lower(): value for name, value in response.headers.items()}
            return response.status_code, fields, response.data

    else:
        asgi = AsgiClient(app, portal)

        def send(method: str, url: str, headers: dict[str, str], body: Any) -> Reply:
            response = asgi.request(method, url, headers=headers, json=body)
            return response.status_code, dict(response.headers), response.content

    def create() -> str:
        key = uuid.uuid4().hex[:12]
        store.compare_and_set(key, Expectation(exists=False), {"text": "one"})
        return f"/docs/{key}"

    def version(url: str) -> int | None:
        found = store.read(url.rsplit("/", 1)[1])
        return None if found is None else found.version

    def in_flight(url: str, headers: dict[str, str], body: Any) -> None:
        # A first attempt of this very request, held inside its write.
        store.gate.clear()
        store.entered.clear()
        pool = ThreadPoolExecutor(1)
        first = pool.submit(send, "PUT", url, headers, body)
        assert store.entered.wait(30)
        holds.append((pool, first))

    holds: list[Any] = []
    site = Site(
        framework, send, create, version, lambda: f"/docs/{uuid.uuid4().hex[:12]}", in_flight
    )
    site.release = lambda: _release(store, holds)  # type: ignore[attr-defined]
    return site


def _release(store: SlowStore, holds: list[Any]) -> None:
    store.gate.set()
    for pool, first in holds:
        assert first.result(30)[0] == 200
        pool.shutdown()


def django_site(kind: str) -> Site:
    prefix = "/keyed/documents/" if kind == "drf" else "/plain/keyed/"

    def send(method: str, url: str, headers: dict[str, str], body: Any) -> Reply:
        payload = b"" if body is None else json.dumps(body).encode()
        response = Client().generic(
            method, url, data=payload, content_type="application/json", headers=headers
        )
        return response.status_code, {k.lower(): v for k, v in response.items()}, response.content

    def create() -> str:
        doc = Document(title="t", text="one")
        doc.save()
        return f"{prefix}{doc.pk}/"

    def version(url: str) -> int | None:
        pk = int(url.rstrip("/").rsplit("/", 1)[1])
        return Document.objects.filter(pk=pk).values_list("version", flat=True).first()

    def new_url() -> str:
        from django.db.models import Max

        top = Document.objects.aggregate(m=Max("pk"))["m"] or 0
        return f"{prefix}{int(top) + 1000 + uuid.uuid4().int % 1000}/"

    def in_flight(url: str, headers: dict[str, str], body: Any) -> None:
        # Claim the key exactly as the server will see the request, as a first attempt would.
        payload = json.dumps(body).encode()
        fields = [*headers.items(), ("Content-Type", "application/json")]
        fingerprint = request_fingerprint("PUT", url, payload, fields)
        raw_key = headers["Idempotency-Key"].strip('"')
        DjangoLedger("default").claim(record_id(f"\x1f{url}", raw_key), fingerprint)

    site = Site(kind, send, create, version, new_url, in_flight)
    site.release = lambda: None  # type: ignore[attr-defined]
    return site


SITES = ["flask", "fastapi", "starlette", "drf", "django"]


@pytest.fixture(params=SITES)
def site(request: pytest.FixtureRequest, portal: BlockingPortal) -> Site:
    if request.param in {"drf", "django"}:
        return django_site(request.param)
    return memory_site(request.param, portal)


def key() -> dict[str, str]:
    return {"Idempotency-Key": f'"{uuid.uuid4()}"'}


def test_a_retried_write_gets_its_first_answer_and_applies_once(site: Site) -> None:
    url = site.create()
    headers = {"If-Match": '"v1"', **key()}
    first = site.send("PUT", url, headers, {"text": "two", "title": "t"})
    assert first[0] == 200 and first[1]["etag"] == '"v2"'
    # The reply was lost; the client sends the same request again, with the same key.
    again = site.send("PUT", url, headers, {"text": "two", "title": "t"})
    assert again[0] == 200 and again[1]["etag"] == '"v2"', again
    assert again[1]["idempotent-replayed"] == "true"
    # Every keyed answer sends the key back: the client knows the server honoured it.
    assert first[1]["idempotency-key"] == again[1]["idempotency-key"] == headers["Idempotency-Key"]
    assert site.version(url) == 2  # not a 412 for its own write, not applied twice
    patched = site.send("PATCH", url, {"If-Match": '"v2"', **key()}, {"text": "three"})
    assert patched[0] == 200 and site.version(url) == 3


def test_a_retried_create_and_delete_get_their_first_answers(site: Site) -> None:
    url = site.new_url()
    headers = {"If-None-Match": "*", **key()}
    created = site.send("PUT", url, headers, {"text": "new", "title": "t"})
    assert created[0] == 201 and created[1]["etag"] == '"v1"', created
    again = site.send("PUT", url, headers, {"text": "new", "title": "t"})
    assert again[0] == 201 and again[1]["etag"] == '"v1"' and again[2] == b""
    assert again[1]["location"].endswith(url) and again[1]["idempotent-replayed"] == "true"
    deleting = {"If-Match": '"v1"', **key()}
    assert site.send("DELETE", url, deleting, None)[0] == 204
    replay = site.send("DELETE", url, deleting, None)
    assert replay[0] == 204 and replay[1]["idempotent-replayed"] == "true"
    assert "etag" not in replay[1] and site.version(url) is None


def test_the_same_key_with_another_request_is_422(site: Site) -> None:
    url = site.create()
    headers = {"If-Match": '"v1"', **key()}
    assert site.send("PUT", url, headers, {"text": "two", "title": "t"})[0] == 200
    reused = site.send("PUT", url, headers, {"text": "other", "title": "t"})
    assert reused[0] == 422 and b"idempotency-key-reused" in reused[2], reused
    # Keys are scoped to the resource: the same key on another one is a new key there.
    other = site.create()
    assert site.send("PUT", other, headers, {"text": "two", "title": "t"})[0] == 200
    assert site.version(url) == 2


def test_a_key_in_flight_is_409_with_retry_after(site: Site) -> None:
    url = site.create()
    headers = {"If-Match": '"v1"', **key()}
    body = {"text": "two", "title": "t"}
    site.in_flight(url, headers, body)
    try:
        second = site.send("PUT", url, headers, body)
    finally:
        site.release()  # type: ignore[attr-defined]
    assert second[0] == 409 and second[1]["retry-after"] == "1", second
    assert b"idempotency-key-in-flight" in second[2]


def test_a_failed_keyed_write_releases_its_key(site: Site) -> None:
    url = site.create()
    stale = {"If-Match": '"v9"', **key()}
    refused = site.send("PUT", url, stale, {"text": "x", "title": "t"})
    assert refused[0] == 412 and refused[1]["idempotency-key"] == stale["Idempotency-Key"]
    # Not 409: the first attempt is over and wrote nothing; the retry is judged afresh.
    assert site.send("PUT", url, stale, {"text": "x", "title": "t"})[0] == 412
    assert site.version(url) == 1


def test_a_required_key_and_a_malformed_one_are_400(site: Site) -> None:
    url = site.create()
    missing = site.send("DELETE", url, {"If-Match": '"v1"'}, None)
    assert missing[0] == 400 and b"idempotency-key-missing" in missing[2]
    for bad in ("two words", '"a", "b"', '"' + "k" * 300 + '"'):
        headers = {"If-Match": '"v1"', "Idempotency-Key": bad}
        malformed = site.send("PUT", url, headers, {"text": "x", "title": "t"})
        assert malformed[0] == 400 and b"Idempotency-Key" in malformed[2], (bad, malformed)
    assert site.version(url) == 1
    # Without a key, a write that does not require one goes on as before.
    assert site.send("PUT", url, {"If-Match": '"v1"'}, {"text": "x", "title": "t"})[0] == 200


@pytest.mark.parametrize("framework", ["flask", "fastapi", "starlette", "drf"])
def test_an_expired_key_is_a_new_request(framework: str, portal: BlockingPortal) -> None:
    if framework == "drf":
        site = django_site("drf")
        expiring = override_settings(IFMATCH={"IDEMPOTENCY_RETENTION": 0})
    else:
        site = memory_site(framework, portal, keys=idempotency_apps.SHORT)
        expiring = override_settings()
    with expiring:
        url = site.create()
        headers = {"If-Match": '"v1"', **key()}
        assert site.send("PUT", url, headers, {"text": "two", "title": "t"})[0] == 200
        # The record is gone: the retry is judged as a new request; its If-Match is stale.
        assert site.send("PUT", url, headers, {"text": "two", "title": "t"})[0] == 412
        assert site.version(url) == 2


def test_drf_post_replays_its_201_with_the_location() -> None:
    headers = key()
    first = Client().post(
        "/keyed/documents/", {"title": "p", "text": "x"}, "application/json", headers=headers
    )
    assert first.status_code == 201
    again = Client().post(
        "/keyed/documents/", {"title": "p", "text": "x"}, "application/json", headers=headers
    )
    assert again.status_code == 201 and again["Location"] == first["Location"]
    assert again["ETag"] == first["ETag"] and again["Idempotent-Replayed"] == "true"
    assert Document.objects.filter(title="p").count() == 1
