"""The plain Django integration: the ``conditional`` view decorator and the middleware."""

from __future__ import annotations

import pytest

import djangoproject

djangoproject.setup()

from django.test import Client  # noqa: E402

from djangoproject.client import LintingClient, runner_send  # noqa: E402
from djangoproject.docs.models import Document, Plain  # noqa: E402
from ifmatch.core.errors import ConfigurationError  # noqa: E402
from ifmatch.integrations.django import conditional  # noqa: E402
from integrations.fast_writes import check_fast_writes  # noqa: E402
from integrations.http_conformance import Runner  # noqa: E402


@pytest.fixture
def client() -> LintingClient:
    return LintingClient()


def make() -> Document:
    doc = Document(title="t", text="x")
    doc.save()
    return doc


def test_get_sends_validators_and_304(client: LintingClient) -> None:
    doc = make()
    url = f"/plain/documents/{doc.pk}/"
    first = client.request("GET", url)
    assert first["ETag"] == '"v1"' and "Last-Modified" in first
    assert client.request("GET", url, [("If-None-Match", '"v1"')]).status_code == 304
    assert (
        client.request("GET", url, [("If-Modified-Since", first["Last-Modified"])]).status_code
        == 304
    )
    assert client.problems == []


def test_a_304_waits_for_the_view_by_default(client: LintingClient) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    doc = make()
    url = f"/plain/documents/{doc.pk}/"
    with CaptureQueriesContext(connection) as queries:
        answer = client.request("GET", url, [("If-None-Match", '"v1"')])
    # The view ran (it may refuse access), then its 200 was replaced by the 304.
    assert answer.status_code == 304 and answer["ETag"] == '"v1"' and answer.content == b""
    assert len(queries) == 1 and '"text"' in queries[0]["sql"]


def test_a_304_reads_only_the_version_columns(client: LintingClient) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    doc = Document(title="t", text="a long body " * 10_000)
    doc.save()
    url = f"/plain/early/{doc.pk}/"
    with CaptureQueriesContext(connection) as queries:
        assert client.request("GET", url, [("If-None-Match", '"v1"')]).status_code == 304
    assert len(queries) == 1
    assert '"text"' not in queries[0]["sql"] and '"title"' not in queries[0]["sql"]
    # A precondition that passes reads the row in full and answers 200 with the body.
    with CaptureQueriesContext(connection) as queries:
        full = client.request("GET", url, [("If-None-Match", '"v0"')])
    assert full.status_code == 200 and full.json()["text"] == doc.text
    assert full["ETag"] == '"v1"' and len(queries) == 2
    missing = client.request("GET", "/plain/early/987654321/", [("If-None-Match", "*")])
    assert missing.status_code == 404
    assert client.problems == []


def test_permission_is_checked_before_any_precondition(client: LintingClient) -> None:
    secret = Document(title="secret", text="x")
    secret.save()
    public = make()
    url = "/plain/guarded/{}/"
    # RFC 9110 §13.2.1: a 304 or 412 would reveal the resource; the caller gets 403 first.
    for headers in (
        [("If-None-Match", '"v1"')],
        [("If-Modified-Since", "Sun, 01 Jan 2040 00:00:00 GMT")],
        [],
    ):
        assert client.request("GET", url.format(secret.pk), headers).status_code == 403
    assert client.request("PUT", url.format(secret.pk), [("If-Match", '"v9"')]).status_code == 403
    # The cheap 304 path hands has_permission a partial instance; its other fields still load.
    assert (
        client.request("GET", url.format(public.pk), [("If-None-Match", '"v1"')]).status_code == 304
    )
    assert (
        client.request("GET", url.format(public.pk), [("If-None-Match", '"v0"')]).status_code == 200
    )
    saved = client.request("PUT", url.format(public.pk), [("If-Match", '"v1"')], {"text": "new"})
    assert saved.status_code == 200 and saved["ETag"] == '"v2"'
    assert Document.objects.get(pk=secret.pk).version == 1


def test_write_sends_the_new_etag(client: LintingClient) -> None:
    doc = make()
    url = f"/plain/documents/{doc.pk}/"
    response = client.request("PUT", url, [("If-Match", '"v1"')], {"text": "new"})
    assert response.status_code == 200 and response["ETag"] == '"v2"'
    assert client.request("PUT", url, [], {"text": "x"}).status_code == 428
    malformed = client.request("PUT", url, [("If-Match", '"v2')], {"text": "x"})
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "invalid-header"
    assert Document.objects.get(pk=doc.pk).version == 2


def test_a_race_between_check_and_save_answers_412_with_the_current_tag(
    client: LintingClient,
) -> None:
    doc = make()
    response = client.request(
        "PUT", f"/plain/racy/{doc.pk}/", [("If-Match", '"v1"')], {"text": "mine"}
    )
    assert response.status_code == 412
    assert response["ETag"] == '"v2"' and response.json()["current_etag"] == '"v2"'
    stored = Document.objects.get(pk=doc.pk)
    assert stored.title == "other writer" and stored.version == 2
    assert client.problems == []


def test_unguarded_write_in_a_decorated_view_fails_loudly() -> None:
    doc = make()
    with pytest.raises(ConfigurationError, match="not guarded"):
        Client().put(
            f"/plain/forgetful/{doc.pk}/",
            b"{}",
            content_type="application/json",
            headers={"If-Match": '"v1"'},
        )
    # The write was rolled back with the view's transaction.
    assert Document.objects.get(pk=doc.pk).title == "t"


def test_accept_bare_version_token_per_view() -> None:
    client = LintingClient(fields_under_test=True)  # the unquoted If-Match is what is tested
    doc = make()
    body = {"text": "y"}
    lenient = client.request("PUT", f"/plain/documents/{doc.pk}/", [("If-Match", "v1")], body)
    assert lenient.status_code == 200 and lenient["ETag"] == '"v2"'
    strict = client.request("PUT", f"/plain/strict/{doc.pk}/", [("If-Match", "v2")], body)
    assert strict.status_code == 400 and strict.json()["header"] == "If-Match"
    quoted = client.request("PUT", f"/plain/strict/{doc.pk}/", [("If-Match", '"v2"')], body)
    assert quoted.status_code == 200 and quoted["ETag"] == '"v3"'
    assert client.problems == []


def test_delete_and_create(client: LintingClient) -> None:
    from django.db.models import Max

    doc = make()
    url = f"/plain/documents/{doc.pk}/"
    assert client.request("DELETE", url, [("If-Match", '"v9"')]).status_code == 412
    assert client.request("DELETE", url, [("If-Match", "*")]).status_code == 204
    assert client.request("GET", url).status_code == 404
    pk = int(Document.objects.aggregate(m=Max("pk"))["m"] or 0) + 77
    created = client.request(
        "PUT", f"/plain/documents/{pk}/", [("If-None-Match", "*")], {"title": "c"}
    )
    assert created.status_code == 201 and created["ETag"] == '"v1"'
    assert created["Location"] == f"/plain/documents/{pk}/"
    again = client.request(
        "PUT", f"/plain/documents/{pk}/", [("If-None-Match", "*")], {"title": "d"}
    )
    assert again.status_code == 412


def test_middleware_maps_write_errors(client: LintingClient) -> None:
    doc = make()
    lost = client.request("PUT", f"/plain/middleware-lost/{doc.pk}/", [], {})
    assert lost.status_code == 412 and lost["ETag"] == '"v1"'
    assert lost["Content-Type"] == "application/problem+json"
    conflict = client.request("PUT", f"/plain/middleware-conflict/{doc.pk}/", [], {})
    assert conflict.status_code == 409 and conflict.json()["code"] == "version-mismatch"
    assert client.problems == []


def test_decorating_a_model_without_version_fails_at_start_up() -> None:
    with pytest.raises(ConfigurationError):
        conditional(Plain)


def test_fast_writes_never_send_a_last_modified_later_than_date() -> None:
    doc = make()
    runner = Runner(runner_send)
    url = f"/plain/documents/{doc.pk}/"
    check_fast_writes(runner, url, lambda: Document.objects.get(pk=doc.pk).last_modified)


def test_atomic_requests_without_the_middleware_fails_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.db import connections
    from django.test import override_settings

    # With ATOMIC_REQUESTS Django commits after the view returned: only the middleware can
    # answer a serialization failure there with 412 instead of 500.
    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", True)
    only_common = ["django.middleware.common.CommonMiddleware"]
    with (
        override_settings(MIDDLEWARE=only_common),
        pytest.raises(ConfigurationError, match="ConditionalMiddleware"),
    ):
        conditional(Document)
    conditional(Document)  # the test project has it
    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", False)
    with override_settings(MIDDLEWARE=[]):
        conditional(Document)  # the decorator's own transaction needs no middleware
