"""ifmatch.integrations.drf.patch through Django's test client: the PATCH table (415, 400, 422,
409, 412, 428, 200), Accept-Patch, the serializer's errors on a 422, and the version a patch is
applied to."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

import djangoproject

djangoproject.setup()

from django.test import Client  # noqa: E402

from djangoproject.docs.models import PatchDocument  # noqa: E402
from ifmatch.integrations.drf.patch import PatchMixin  # noqa: E402
from integrations.patch_cases import (  # noqa: E402
    CASES,
    MERGE,
    PatchCase,
    Reply,
    Send,
    check_accept_patch,
    run_case,
)

_keys = itertools.count()


def django_send(prefix: str = "/drf") -> Send:
    client = Client()

    def send(method: str, path: str, headers: dict[str, str], body: bytes | None) -> Reply:
        fields = dict(headers)
        content_type = fields.pop("Content-Type", "application/octet-stream")
        response = client.generic(
            method, prefix + path, data=body or b"", content_type=content_type, headers=fields
        )
        got = {name.lower(): value for name, value in response.items()}
        try:
            parsed = json.loads(response.content) if response.content else None
        except ValueError:
            parsed = None
        return Reply(response.status_code, got, parsed)

    return send


@pytest.mark.parametrize("case", CASES, ids=str)
def test_patch_table(case: PatchCase) -> None:
    run_case(django_send(), case, f"doc{next(_keys)}")


def test_accept_patch_on_get_and_options() -> None:
    check_accept_patch(django_send(), f"doc{next(_keys)}")


def test_serializer_errors_are_listed() -> None:
    send = django_send()
    key = f"doc{next(_keys)}"
    send(
        "PUT",
        f"/documents/{key}",
        {"If-None-Match": "*", "Content-Type": "application/json"},
        b'{"title": "t", "tokens": {}}',
    )
    reply = send(
        "PATCH",
        f"/documents/{key}",
        {"If-Match": '"v1"', "Content-Type": MERGE},
        b'{"title": "' + b"x" * 201 + b'", "tokens": {"a": 1}}',
    )
    assert reply.status == 422, reply
    assert set(reply.body["errors"]) == {"title", "tokens"}


class _Racer:
    """Makes another writer win after the request read the row and before its guarded write,
    ``times`` times (outside the request's write transaction, as another process would)."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.real = PatchMixin._patched_serializer

    @property
    def patched_serializer(self) -> Any:
        def patched_serializer(view: Any, instance: Any, patch: Any) -> Any:
            if self.times:
                self.times -= 1
                other = PatchDocument.objects.get(pk=instance.pk)
                other.tokens = {**other.tokens, f"theirs{self.times}": True}
                other.save()
            return self.real(view, instance, patch)

        return patched_serializer


def _create(send: Send, path: str) -> None:
    made = send(
        "PUT",
        path,
        {"If-None-Match": "*", "Content-Type": "application/json"},
        b'{"title": "draft", "tokens": {}}',
    )
    assert made.status == 201, made


def test_if_match_patch_that_loses_is_412_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    send = django_send()
    path = f"/documents/doc{next(_keys)}"
    _create(send, path)
    racer = _Racer(1)
    monkeypatch.setattr(PatchMixin, "_patched_serializer", racer.patched_serializer)
    reply = send("PATCH", path, {"If-Match": '"v1"', "Content-Type": MERGE}, b'{"title": "x"}')
    monkeypatch.undo()
    assert reply.status == 412 and reply.body["code"] == "etag-mismatch", reply
    assert send("GET", path, {}, None).body == {"title": "draft", "tokens": {"theirs0": True}}


def test_unconditional_patch_is_reapplied_to_the_newer_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    send = django_send()
    path = f"/open/doc{next(_keys)}"
    _create(send, path)
    monkeypatch.setattr(PatchMixin, "_patched_serializer", _Racer(2).patched_serializer)
    reply = send("PATCH", path, {"Content-Type": MERGE}, b'{"tokens": {"mine": true}}')
    monkeypatch.undo()
    assert reply.status == 200, reply
    both = {"theirs1": True, "theirs0": True, "mine": True}
    assert reply.body == {"title": "draft", "tokens": both}
    assert reply.headers["etag"] == '"v4"'


def test_unconditional_patch_that_keeps_losing_is_409(monkeypatch: pytest.MonkeyPatch) -> None:
    send = django_send()
    path = f"/open/doc{next(_keys)}"
    _create(send, path)
    monkeypatch.setattr(PatchMixin, "_patched_serializer", _Racer(100).patched_serializer)
    reply = send("PATCH", path, {"Content-Type": MERGE}, b'{"tokens": {"mine": true}}')
    monkeypatch.undo()
    assert reply.status == 409 and reply.body["code"] == "write-conflict", reply
    assert "mine" not in send("GET", path, {}, None).body["tokens"]


def test_options_on_a_conditional_view_is_not_428() -> None:
    # DRF's metadata tests permissions with get_object() on a cloned PUT; that request's
    # missing precondition is not the OPTIONS request's.
    from djangoproject.docs.models import Document

    document = Document(title="t", text="x")
    document.save()
    response = Client().options(f"/api/documents/{document.pk}/")
    assert response.status_code == 200, response.content
