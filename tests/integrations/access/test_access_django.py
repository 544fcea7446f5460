"""The access-order matrix for Django REST framework and plain Django: every hook a view may
decide access in × {anonymous, another user} × every conditional request → only a refusal that
reveals nothing, and nothing written; the owner gets the precondition answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import djangoproject

djangoproject.setup()

from django.conf import settings  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from djangoproject.docs.models import OwnedDocument  # noqa: E402
from integrations.access.cases import (  # noqa: E402
    INTRUDERS,
    ITEM_KINDS,
    OWNER,
    POST_KINDS,
    Kind,
    assert_refused,
    user_headers,
)
from integrations.access.django_apps import DJANGO_HOOKS, DRF_HOOKS  # noqa: E402

SECRET = "TOP-SECRET-7f3a"
TITLE = "PRIVATE-TITLE-91c2"
SECRETS = (SECRET, TITLE, 'v1\\"', '"v1"')


@pytest.fixture(autouse=True)
def access_project() -> Iterator[None]:
    with override_settings(
        ROOT_URLCONF="integrations.access.django_apps",
        MIDDLEWARE=[*settings.MIDDLEWARE, "integrations.access.django_apps.HeaderUserMiddleware"],
        LOGIN_URL="/login/",
    ):
        yield


def owned() -> OwnedDocument:
    doc = OwnedDocument(owner=OWNER, title=TITLE, text="private text", secret=SECRET)
    doc.save()
    return doc


def send(method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
    payload = b"" if body is None else json.dumps(body).encode()
    return Client().generic(
        method, path, data=payload, content_type="application/json", headers=headers
    )


def unchanged(doc: OwnedDocument) -> None:
    stored = OwnedDocument.objects.get(pk=doc.pk)
    assert (stored.version, stored.title, stored.text) == (1, TITLE, "private text")


def applies(scope: frozenset[str], kind: Kind) -> bool:
    return "item" in scope or ("write" in scope and kind.method not in {"GET", "HEAD"})


DRF_ITEM_CASES = [
    pytest.param(hook, kind, id=f"{hook}-{kind.name}")
    for hook, (_, scope) in DRF_HOOKS.items()
    for kind in ITEM_KINDS
    if applies(scope, kind)
]
DRF_POST_CASES = [
    pytest.param(hook, kind, id=f"{hook}-{kind.name}")
    for hook, (_, scope) in DRF_HOOKS.items()
    for kind in POST_KINDS
    if "post" in scope
]


@pytest.mark.parametrize("user", INTRUDERS, ids=["anonymous", "other-user"])
@pytest.mark.parametrize(("hook", "kind"), DRF_ITEM_CASES)
def test_drf_refuses_before_any_precondition(hook: str, kind: Kind, user: str | None) -> None:
    doc = owned()
    headers = {**user_headers(user), **kind.headers_for('"v1"')}
    response = send(kind.method, f"/drf/{hook}/{doc.pk}/", headers, kind.body)
    assert_refused(response.status_code, response.headers, response.content, secrets=SECRETS)
    unchanged(doc)


@pytest.mark.parametrize("user", INTRUDERS, ids=["anonymous", "other-user"])
@pytest.mark.parametrize(("hook", "kind"), DRF_POST_CASES)
def test_drf_post_refuses_before_any_precondition(hook: str, kind: Kind, user: str | None) -> None:
    owned()
    before = OwnedDocument.objects.count()
    headers = {**user_headers(user), **kind.headers}
    response = send("POST", f"/drf/{hook}/", headers, kind.body)
    assert_refused(response.status_code, response.headers, response.content, secrets=SECRETS)
    assert OwnedDocument.objects.count() == before


@pytest.mark.parametrize(("hook", "kind"), DRF_ITEM_CASES)
def test_drf_owner_gets_the_precondition_answers(hook: str, kind: Kind) -> None:
    doc = owned()
    headers = {**user_headers(OWNER), **kind.headers_for('"v1"')}
    response = send(kind.method, f"/drf/{hook}/{doc.pk}/", headers, kind.body)
    assert response.status_code == kind.owner_status, response.content[:300]
    unchanged(doc)
    if response.status_code == 412:
        problem = response.json()
        assert problem["current_etag"] == '"v1"'
        # The 412 carries the current document through the caller's own serializer: the field
        # it hides from non-staff is not there.
        assert problem["current"]["title"] == TITLE and "secret" not in problem["current"]
        assert SECRET not in response.content.decode()


@pytest.mark.parametrize(("hook", "kind"), DRF_POST_CASES)
def test_drf_owner_post_gets_the_precondition_answers(hook: str, kind: Kind) -> None:
    owned()
    before = OwnedDocument.objects.count()
    response = send("POST", f"/drf/{hook}/", {**user_headers(OWNER), **kind.headers}, kind.body)
    assert response.status_code == kind.owner_status, response.content[:300]
    assert OwnedDocument.objects.count() == before


def test_drf_owner_post_with_the_collection_tag_creates() -> None:
    owned()
    url = "/drf/permission-class/"
    listing = send("GET", url, user_headers(OWNER))
    tag = listing.headers["ETag"]
    created = send("POST", url, {**user_headers(OWNER), "If-Match": tag}, {"title": "n"})
    assert created.status_code == 201 and created.headers["ETag"] == '"v1"'
    assert created.headers["Location"].endswith(f"/{created.json()['id']}/")
    # The collection changed: the same tag is now stale, and nothing more is created.
    again = send("POST", url, {**user_headers(OWNER), "If-Match": tag}, {"title": "m"})
    assert again.status_code == 412 and not OwnedDocument.objects.filter(title="m").exists()


DJANGO_CASES = [
    pytest.param(hook, kind, id=f"{hook}-{kind.name}")
    for hook in DJANGO_HOOKS
    for kind in ITEM_KINDS
]


@pytest.mark.parametrize("user", INTRUDERS, ids=["anonymous", "other-user"])
@pytest.mark.parametrize(("hook", "kind"), DJANGO_CASES)
def test_django_refuses_before_any_precondition(hook: str, kind: Kind, user: str | None) -> None:
    doc = owned()
    headers = {**user_headers(user), **kind.headers_for('"v1"')}
    response = send(kind.method, f"/django/{hook}/{doc.pk}/", headers, kind.body)
    redirect_ok = DJANGO_HOOKS[hook][1]
    assert_refused(
        response.status_code,
        response.headers,
        response.content,
        secrets=SECRETS,
        redirect_ok=redirect_ok,
    )
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/login/")
    unchanged(doc)


@pytest.mark.parametrize(("hook", "kind"), DJANGO_CASES)
def test_django_owner_gets_the_precondition_answers(hook: str, kind: Kind) -> None:
    doc = owned()
    headers = {**user_headers(OWNER), **kind.headers_for('"v1"')}
    response = send(kind.method, f"/django/{hook}/{doc.pk}/", headers, kind.body)
    assert response.status_code == kind.owner_status, response.content[:300]
    unchanged(doc)


@pytest.mark.parametrize("hook", list(DJANGO_HOOKS))
def test_django_owner_writes_with_the_current_tag(hook: str) -> None:
    doc = owned()
    headers = {**user_headers(OWNER), "If-Match": '"v1"'}
    response = send("PUT", f"/django/{hook}/{doc.pk}/", headers, {"title": "new"})
    assert response.status_code == 200 and response.headers["ETag"] == '"v2"'
    assert OwnedDocument.objects.get(pk=doc.pk).title == "new"
