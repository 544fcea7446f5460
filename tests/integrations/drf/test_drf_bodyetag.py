"""Body entity-tags (AIP-154 ``etag``, Eve's ``_etag``) through ``BodyETagMiddleware``: the
shared table against a plain Django ``@conditional`` view and Django REST framework views."""

from __future__ import annotations

import json
from typing import Any

import pytest

import djangoproject

djangoproject.setup()

from django.conf import settings  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from djangoproject.docs.models import Document  # noqa: E402
from ifmatch.core.errors import ConfigurationError  # noqa: E402
from ifmatch.integrations.bodyetag import BodyETag  # noqa: E402
from ifmatch.integrations.django_bodyetag import BodyETagMiddleware  # noqa: E402
from integrations.body_etag_table import CASES, CONFIGS, Answer, Case, Send, run  # noqa: E402

MIDDLEWARE = "ifmatch.integrations.django_bodyetag.BodyETagMiddleware"
VIEWS = {
    "django": "/plain/documents/{}/",
    "drf-viewset": "/api/documents/{}/",
    "drf-generic": "/generic/documents/{}/",
}


def django_sender(config: BodyETag | dict[str, Any]) -> tuple[Send, Any]:
    override = override_settings(
        MIDDLEWARE=[MIDDLEWARE, *settings.MIDDLEWARE], IFMATCH_BODY_ETAG=config
    )
    override.enable()
    client = Client()

    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> Answer:
        fields = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        response = client.generic(
            method, path, data=body or b"", content_type="application/json", headers=fields
        )
        received = {name.lower(): value for name, value in response.items()}
        return Answer(response.status_code, received, response.content)

    return send, override


def fresh() -> int:
    doc = Document(title="t", text="x")
    doc.save()
    return int(doc.pk)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_table(view: str, case: Case) -> None:
    send, override = django_sender(CONFIGS[case.config])
    try:
        run(case, send, VIEWS[view].format(fresh()))
    finally:
        override.disable()


@pytest.mark.parametrize("status", [412, 409])
def test_a_lost_compare_and_set_names_the_field(status: int) -> None:
    # Another writer commits between the check and the view's save(): the guarded UPDATE
    # refuses the write, as it would with If-Match, and the answer names the body member.
    send, override = django_sender({"mismatch_status": status})
    try:
        pk = fresh()
        body = json.dumps({"text": "mine", "etag": '"v1"'}).encode()
        answer = send("PUT", f"/plain/racy/{pk}/", {}, body)
        problem = answer.json()
        assert answer.status == status and problem["field"] == "etag", problem
        assert problem["current_etag"] == answer.headers["etag"] == '"v2"'
        assert Document.objects.get(pk=pk).title == "other writer"
    finally:
        override.disable()


def _never(request: Any) -> Any:
    raise AssertionError("not called")


def test_settings_are_checked() -> None:
    bad = override_settings(IFMATCH_BODY_ETAG={"mismatch_status": 500})
    with bad, pytest.raises(ConfigurationError, match="IFMATCH_BODY_ETAG"):
        BodyETagMiddleware(_never)
    wrong = override_settings(IFMATCH_BODY_ETAG=["etag"])
    with wrong, pytest.raises(ConfigurationError, match="a BodyETag or a dict"):
        BodyETagMiddleware(_never)
    with override_settings(IFMATCH_BODY_ETAG=BodyETag(fields=("_etag",))):
        assert BodyETagMiddleware(_never).config.specs[0].name == "_etag"


def test_the_current_representation_in_a_refusal_carries_the_tag() -> None:
    send, override = django_sender({})
    try:
        with override_settings(IFMATCH={"INCLUDE_CURRENT_REPRESENTATION": True}):
            pk = fresh()
            body = json.dumps({"text": "stale", "etag": '"v0"'}).encode()
            answer = send("PUT", f"/api/documents/{pk}/", {}, body)
        problem = answer.json()
        assert answer.status == 412 and problem["field"] == "etag", problem
        assert problem["current"]["etag"] == problem["current_etag"] == answer.headers["etag"]
        assert problem["current"]["text"] == "x"
    finally:
        override.disable()


def test_a_body_over_the_limit_is_413() -> None:
    send, override = django_sender({"max_body_size": 16})
    try:
        pk = fresh()
        body = json.dumps({"text": "a longer text", "etag": '"v1"'}).encode()
        answer = send("PUT", f"/plain/documents/{pk}/", {}, body)
        assert answer.status == 413 and answer.json()["code"] == "body-too-large"
        assert Document.objects.get(pk=pk).text == "x"
    finally:
        override.disable()
