"""Typed errors built from 409 / 412 / 428 responses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ifmatch.client import (
    ConflictError,
    PreconditionFailed,
    PreconditionRequired,
    Response,
    UnexpectedStatus,
    VersionConflict,
    conflict_from_response,
    raise_for_conflict,
)
from ifmatch.core import (
    ETag,
    PreconditionFailedError,
    ResourceState,
    VersionConflictError,
    decision_problem,
    evaluate,
)


def response(status: int, body: Any, media_type: str, *headers: tuple[str, str]) -> Response:
    return Response(status, (("Content-Type", media_type), *headers), json.dumps(body).encode())


def test_a_412_from_the_core_carries_the_current_tag() -> None:
    decision = evaluate("PUT", {"If-Match": '"v1"'}, ResourceState(ETag("v2")))
    body = decision_problem(decision, instance="/docs/1")
    error = conflict_from_response(
        response(412, body, "application/problem+json"), method="PUT", url="http://a/docs/1"
    )
    assert isinstance(error, PreconditionFailed)
    assert isinstance(error, PreconditionFailedError)  # the core's error family
    assert error.status == 412
    assert error.current_etag == ETag("v2")
    assert error.problem == body
    assert error.current is None
    assert "re-read" in error.detail


def test_the_etag_header_is_used_when_the_body_names_no_tag() -> None:
    error = conflict_from_response(
        response(412, {"status": 412}, "application/problem+json", ("ETag", '"v9"')),
        method="PATCH",
        url="u",
    )
    assert error.current_etag == ETag("v9")


def test_a_problem_with_a_current_member_carries_the_representation() -> None:
    body = {"status": 412, "current_etag": '"v3"', "current": {"title": "theirs"}}
    error = conflict_from_response(
        response(412, body, "application/problem+json"), method="PUT", url="u"
    )
    assert error.current == {"title": "theirs"}


def test_a_non_problem_body_is_never_taken_for_the_representation() -> None:
    # It may look like the resource; nothing says it is: a retry must re-read.
    error = conflict_from_response(
        response(409, {"title": "theirs", "version": 4}, "application/json", ("ETag", '"v4"')),
        method="PUT",
        url="u",
    )
    assert isinstance(error, VersionConflict) and isinstance(error, VersionConflictError)
    assert error.current is None and error.problem is None
    assert error.current_etag == ETag("v4")


def test_428() -> None:
    decision = evaluate("DELETE", {}, ResourceState(ETag("v2")))
    error = conflict_from_response(
        response(428, decision_problem(decision), "application/problem+json"),
        method="DELETE",
        url="u",
    )
    assert isinstance(error, PreconditionRequired)
    assert error.current_etag == ETag("v2")
    assert "If-Match" in str(error)


def test_an_empty_body_still_gives_a_typed_error() -> None:
    error = conflict_from_response(Response(412), method="PUT", url="http://a/x")
    assert isinstance(error, PreconditionFailed)
    assert error.current_etag is None and error.problem is None
    assert "412" in str(error)


def test_raise_for_conflict_ignores_other_statuses() -> None:
    raise_for_conflict(Response(200), method="PUT", url="u")
    raise_for_conflict(Response(500), method="PUT", url="u")
    with pytest.raises(ConflictError):
        raise_for_conflict(Response(409), method="PUT", url="u")
    with pytest.raises(ValueError):
        conflict_from_response(Response(500), method="PUT", url="u")


def test_unexpected_status_message() -> None:
    error = UnexpectedStatus(404, method="GET", url="u", problem={"detail": "no such doc"})
    assert str(error) == "GET u answered 404 (no such doc)"
