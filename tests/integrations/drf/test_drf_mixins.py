"""The DRF integration beyond the conformance table: the four schemes, collections, creation,
warn-only mode, settings, start-up checks, problem bodies and OpenAPI."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import djangoproject

djangoproject.setup()

from django.test import override_settings  # noqa: E402
from rest_framework import generics  # noqa: E402

from djangoproject.client import LintingClient, runner_send  # noqa: E402
from djangoproject.docs.models import Document, Folder, Item, Plain  # noqa: E402
from ifmatch.core import parse_http_date  # noqa: E402
from ifmatch.core.errors import ConfigurationError  # noqa: E402
from ifmatch.integrations.drf.decorators import conditional  # noqa: E402
from ifmatch.integrations.drf.generics import ConditionalRetrieveAPIView  # noqa: E402
from ifmatch.integrations.drf.settings import ifmatch_settings  # noqa: E402
from integrations.fast_writes import check_fast_writes  # noqa: E402
from integrations.http_conformance import Runner  # noqa: E402


@pytest.fixture
def client() -> Any:
    linting = LintingClient()
    yield linting
    assert linting.problems == []


def doc(**values: Any) -> Document:
    document = Document(title=values.get("title", "t"), text=values.get("text", "x"))
    document.save()
    return document


def put(client: LintingClient, url: str, headers: dict[str, str], **body: Any) -> Any:
    return client.request("PUT", url, list(headers.items()), {"title": "t", "text": "x", **body})


def test_list_items_carry_their_tags_usable_as_if_match() -> None:
    # The bare-token If-Match below is what Eve-style clients send; httplint rightly notes it.
    client = LintingClient(fields_under_test=True)
    a, b = doc(), doc()
    listing = client.request("GET", "/api/documents/")
    items = {item["id"]: item for item in listing.json()}
    assert items[a.pk]["etag"] == "v1" and items[a.pk]["_etag"] == "v1"
    assert items[b.pk]["_links"]["self"]["href"].endswith(f"/api/documents/{b.pk}/")
    # Scheme 2: update straight from the search result, bare token or quoted.
    assert (
        put(client, f"/api/documents/{a.pk}/", {"If-Match": items[a.pk]["etag"]}).status_code == 200
    )
    quoted = '"' + items[b.pk]["_etag"] + '"'
    assert put(client, f"/api/documents/{b.pk}/", {"If-Match": quoted}).status_code == 200
    assert client.problems == []


def test_accept_bare_version_token_setting() -> None:
    client = LintingClient(fields_under_test=True)  # the unquoted If-Match is what is tested
    d = doc()
    url = f"/api/documents/{d.pk}/"
    assert put(client, url, {"If-Match": "v1"}).status_code == 200
    with override_settings(IFMATCH={"ACCEPT_BARE_VERSION_TOKEN": False}):
        refused = put(client, url, {"If-Match": "v2"})
        assert refused.status_code == 400
        assert refused.json()["header"] == "If-Match"
        assert "not quoted" in refused.json()["detail"]
        assert put(client, url, {"If-Match": '"v2"'}).status_code == 200
    assert Document.objects.get(pk=d.pk).version == 3
    assert client.problems == []


def test_etag_in_request_body_is_ignored(client: LintingClient) -> None:
    d = doc()
    response = put(client, f"/api/documents/{d.pk}/", {"If-Match": '"v1"'}, etag="v99", _etag="x")
    assert response.status_code == 200
    assert response.json()["etag"] == "v2"


def test_collection_validator_gives_cheap_304_and_changes_on_write(client: LintingClient) -> None:
    d = doc()
    first = client.request("GET", "/api/documents/")
    tag = first["ETag"]
    again = client.request("GET", "/api/documents/", [("If-None-Match", tag)])
    assert again.status_code == 304 and again["ETag"] == tag
    put(client, f"/api/documents/{d.pk}/", {"If-Match": '"v1"'})
    changed = client.request("GET", "/api/documents/", [("If-None-Match", tag)])
    assert changed.status_code == 200 and changed["ETag"] != tag
    Document.objects.filter(pk=d.pk).delete()
    assert client.request("GET", "/api/documents/")["ETag"] != changed["ETag"]


def test_post_creates_with_201_location_and_etag(client: LintingClient) -> None:
    response = client.request("POST", "/api/documents/", body={"title": "new", "text": "x"})
    assert response.status_code == 201
    created = response.json()
    assert response["ETag"] == '"v1"'
    assert response["Location"] == f"/api/documents/{created['id']}/"
    follow = client.request("GET", response["Location"], [("If-None-Match", response["ETag"])])
    assert follow.status_code == 304


def test_put_if_none_match_star_creates_once(client: LintingClient) -> None:
    from django.db.models import Max

    pk = int(Document.objects.aggregate(m=Max("pk"))["m"] or 0) + 500
    url = f"/api/documents/{pk}/"
    created = put(client, url, {"If-None-Match": "*"}, title="c")
    assert created.status_code == 201 and created["ETag"] == '"v1"' and created["Location"] == url
    again = put(client, url, {"If-None-Match": "*"}, title="d")
    assert again.status_code == 412 and again.json()["code"] == "exists"
    assert Document.objects.get(pk=pk).title == "c"


def test_version_in_body_scheme_answers_409(client: LintingClient) -> None:
    d = doc()
    url = f"/versioned/documents/{d.pk}/"
    assert put(client, url, {}, version=1).status_code == 200
    stale = put(client, url, {}, version=1)
    assert stale.status_code == 409
    problem = stale.json()
    assert problem["code"] == "version-mismatch" and problem["current_version"] == 2
    assert stale["Content-Type"] == "application/problem+json"
    assert put(client, url, {}).status_code == 428  # no version, no header
    assert put(client, url, {"If-Match": '"v2"'}).status_code == 200  # headers still work
    bad = put(client, url, {}, version="two")
    assert bad.status_code == 400


def test_last_modified_scheme(client: LintingClient) -> None:
    d = doc()
    url = f"/api/documents/{d.pk}/"
    last_modified = client.request("GET", url)["Last-Modified"]
    assert put(client, url, {"If-Unmodified-Since": last_modified}).status_code == 200
    # The write moved Last-Modified at least one second later: the same date is now stale.
    stale = put(client, url, {"If-Unmodified-Since": last_modified})
    assert stale.status_code == 412 and stale.json()["code"] == "modified"


def test_warn_only_logs_and_lets_unconditional_writes_through(
    client: LintingClient, caplog: pytest.LogCaptureFixture
) -> None:
    d = doc()
    with caplog.at_level(logging.WARNING, logger="ifmatch"):
        response = put(client, f"/warn/documents/{d.pk}/", {})
    assert response.status_code == 200
    assert any("precondition-required" in record.getMessage() for record in caplog.records)
    assert put(client, f"/warn/documents/{d.pk}/", {"If-Match": '"v1"'}).status_code == 412


def test_opt_out_and_current_representation(client: LintingClient) -> None:
    d = doc(text="original")
    url = f"/optional/documents/{d.pk}/"
    assert put(client, url, {}, text="unconditional").status_code == 200
    stale = put(client, url, {"If-Match": '"v1"'}, text="stale")
    assert stale.status_code == 412
    assert stale.json()["current"]["text"] == "unconditional"
    assert stale.json()["current_etag"] == '"v2"'


def test_delete_is_guarded(client: LintingClient) -> None:
    d = doc()
    url = f"/api/documents/{d.pk}/"
    assert client.request("DELETE", url, [("If-Match", '"v7"')]).status_code == 412
    assert client.request("DELETE", url, [("If-Match", '"v1"')]).status_code == 204
    assert not Document.objects.filter(pk=d.pk).exists()


def test_preconditions_come_after_404(client: LintingClient) -> None:
    assert (
        client.request("GET", "/api/documents/987654321/", [("If-None-Match", "*")]).status_code
        == 404
    )
    assert put(client, "/generic/documents/987654321/", {"If-Match": '"v1"'}).status_code == 412


def test_304_does_not_load_nested_rows(client: LintingClient) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    folder = Folder(name="f")
    folder.save()
    Item.objects.bulk_create(Item(folder=folder, label=str(i), position=i) for i in range(50))
    url = f"/api/folders/{folder.pk}/"
    tag = client.request("GET", url)["ETag"]
    with CaptureQueriesContext(connection) as queries:
        assert client.request("GET", url, [("If-None-Match", tag)]).status_code == 304
    assert len(queries) == 1
    assert "docs_item" not in queries[0]["sql"] and '"name"' not in queries[0]["sql"]


def test_settings_namespace_reloads() -> None:
    assert ifmatch_settings.ETAG_FIELD_NAME == "etag"
    with override_settings(IFMATCH={"ETAG_FIELD_NAME": "_etag", "WARN_ONLY": True}):
        assert ifmatch_settings.ETAG_FIELD_NAME == "_etag"
        assert ifmatch_settings.policy().warn_only is True
    assert ifmatch_settings.ETAG_FIELD_NAME == "etag"
    with override_settings(IFMATCH={"NOPE": 1}), pytest.raises(ConfigurationError):
        _ = ifmatch_settings.WARN_ONLY


def test_policies_are_built_once_per_set_of_overrides() -> None:
    """Views ask for their policy on every request: the same overrides give the same
    (already validated) Policy, other overrides another, and a settings change a new one."""
    default = ifmatch_settings.policy()
    assert ifmatch_settings.policy({}) is default
    strict = ifmatch_settings.policy({"MAX_TAGS": 3, "WARN_ONLY": False})
    assert strict is ifmatch_settings.policy({"WARN_ONLY": False, "MAX_TAGS": 3})
    assert strict.max_tags == 3 and default.max_tags != 3
    with override_settings(IFMATCH={"WARN_ONLY": True}):
        assert ifmatch_settings.policy() is not default
        assert ifmatch_settings.policy().warn_only is True
    assert ifmatch_settings.policy().warn_only is False
    for n in range(300):  # overrides computed per request do not grow the cache without end
        assert ifmatch_settings.policy({"MAX_TAGS": n + 1}).max_tags == n + 1
    assert len(ifmatch_settings._policies) <= 256


def test_unsafe_configurations_fail_at_start_up() -> None:
    class NoVersion(ConditionalRetrieveAPIView):
        queryset = Plain.objects.all()

    with pytest.raises(ConfigurationError, match="no version field"):
        NoVersion.as_view()

    with pytest.raises(ConfigurationError, match="ifmatch_scheme"):

        @conditional(scheme="hope")
        class Wrong(generics.RetrieveAPIView[Document]):
            queryset = Document.objects.all()

        Wrong.as_view()
    with pytest.raises(TypeError):
        conditional(retries=3)


def test_openapi_documents_headers_and_responses(capsys: pytest.CaptureFixture[str]) -> None:
    from drf_spectacular.generators import SchemaGenerator

    capsys.readouterr()
    with override_settings(
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": [],
            "DEFAULT_PERMISSION_CLASSES": [],
            "UNAUTHENTICATED_USER": None,
            "DEFAULT_SCHEMA_CLASS": "ifmatch.integrations.drf.openapi.ConditionalAutoSchema",
        }
    ):
        schema = SchemaGenerator().get_schema(request=None, public=True)
    put_op = schema["paths"]["/api/documents/{id}/"]["put"]
    names = {p["name"] for p in put_op["parameters"] if p["in"] == "header"}
    assert {"If-Match", "If-Unmodified-Since", "If-None-Match"} <= names
    assert {"412", "428", "400"} <= set(put_op["responses"])
    assert "ETag" in put_op["responses"]["200"]["headers"]
    get_op = schema["paths"]["/api/documents/{id}/"]["get"]
    assert "304" in get_op["responses"]
    versioned = schema["paths"]["/versioned/documents/{id}/"]["put"]
    assert "409" in versioned["responses"]
    raw = schema["paths"]["/raw/documents/{id}/"]["put"]
    assert "412" not in raw["responses"]
    # ETagField and HalLinksField have schemas: drf-spectacular warns about nothing.
    warnings = capsys.readouterr().err
    assert "Warning" not in warnings and "Error" not in warnings, warnings
    fields = schema["components"]["schemas"]["Document"]["properties"]
    assert fields["etag"]["type"] == "string" and fields["etag"]["readOnly"] is True
    assert fields["_links"]["properties"]["self"]["properties"]["href"]["format"] == "uri"
    # PUT may create (ifmatch_allow_put_create): If-None-Match: * alone is then valid, so
    # If-Match is not required on PUT; it still is on PATCH and DELETE.
    item = schema["paths"]["/api/documents/{id}/"]

    def if_match(method: str) -> dict[str, Any]:
        return next(p for p in item[method]["parameters"] if p["name"] == "If-Match")

    assert not if_match("put").get("required")
    assert if_match("patch")["required"] is True and if_match("delete")["required"] is True
    # Warn-only mode answers no 428, so nothing is required there.
    warn_put = schema["paths"]["/warn/documents/{id}/"]["put"]
    assert "428" not in warn_put["responses"]
    assert not next(p for p in warn_put["parameters"] if p["name"] == "If-Match").get("required")


def test_preconditions_come_after_permissions() -> None:
    from rest_framework.permissions import BasePermission
    from rest_framework.test import APIRequestFactory

    from djangoproject.docs.serializers import DocumentSerializer

    class Nobody(BasePermission):
        def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
            return False

    class Secret(ConditionalRetrieveAPIView):
        queryset = Document.objects.all()
        serializer_class = DocumentSerializer
        permission_classes = [Nobody]

    d = doc()
    view = Secret.as_view()
    factory = APIRequestFactory()
    for headers in ({"HTTP_IF_NONE_MATCH": '"v1"'}, {"HTTP_IF_MATCH": '"v9"'}, {}):
        response = view(factory.get("/", **headers), pk=d.pk)
        assert response.status_code == 403, headers
        assert "ETag" not in response


def test_fast_writes_never_send_a_last_modified_later_than_date() -> None:
    d = doc()
    runner = Runner(runner_send)
    url = f"/api/documents/{d.pk}/"
    check_fast_writes(runner, url, lambda: Document.objects.get(pk=d.pk).last_modified)
    # The collection's Last-Modified is the newest item's, so it is ahead too (or later).
    listing = runner.request("GET", "/api/documents/")
    date = parse_http_date(listing.header("Date") or "")
    stored = Document.objects.get(pk=d.pk).last_modified
    assert date is not None and stored is not None
    if stored > date:
        assert listing.header("Last-Modified") is None
    runner.lint_all()


def test_atomic_requests_without_the_middleware_fails_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.db import connections

    from djangoproject.docs.serializers import DocumentSerializer

    class View(ConditionalRetrieveAPIView):
        queryset = Document.objects.all()
        serializer_class = DocumentSerializer

    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", True)
    with override_settings(MIDDLEWARE=[]), pytest.raises(ConfigurationError, match="MIDDLEWARE"):
        View.as_view()
    View.as_view()
