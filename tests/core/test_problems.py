"""RFC 9457 problem bodies and the JSON:API error document variant."""

from __future__ import annotations

import pytest

from ifmatch.core import (
    BadPrecondition,
    NotModified,
    PreconditionFailed,
    PreconditionRequired,
    Proceed,
    decision_problem,
    jsonapi_errors,
    problem,
    version_etag,
)


def test_412_problem_carries_current_etag() -> None:
    decision = PreconditionFailed("If-Match", "etag-mismatch", "Changed.", version_etag(4))
    assert decision_problem(decision, instance="/docs/1") == {
        "type": "about:blank",
        "title": "Precondition Failed",
        "status": 412,
        "detail": "Changed.",
        "instance": "/docs/1",
        "code": "etag-mismatch",
        "header": "If-Match",
        "current_etag": '"v4"',
    }


def test_428_and_400_problems() -> None:
    required = decision_problem(PreconditionRequired("PUT", "Send If-Match.", version_etag(1)))
    assert (required["status"], required["title"], required["code"]) == (
        428,
        "Precondition Required",
        "precondition-required",
    )
    assert required["current_etag"] == '"v1"'
    bad = decision_problem(BadPrecondition("If-Match", "unbalanced quote"))
    assert bad["status"] == 400 and bad["header"] == "If-Match"
    assert bad["detail"] == "Malformed If-Match header: unbalanced quote"


def test_type_base_and_extensions() -> None:
    body = decision_problem(
        PreconditionFailed("If-Match", "etag-mismatch", "x"),
        type_base="https://example.com/problems/",
        current={"title": "t"},
    )
    assert body["type"] == "https://example.com/problems/etag-mismatch"
    assert body["current"] == {"title": "t"}
    assert "current_etag" not in body  # None members are left out


@pytest.mark.parametrize("decision", [Proceed(), NotModified(None, None)])
def test_no_body_for_success(decision: object) -> None:
    with pytest.raises(ValueError):
        decision_problem(decision)  # type: ignore[arg-type]


def test_409_problem() -> None:
    body = problem(
        409, "Version 3 was sent; 5 is current.", code="version-conflict", current_version=5
    )
    assert body["title"] == "Conflict" and body["current_version"] == 5


def test_jsonapi_errors() -> None:
    body = decision_problem(
        PreconditionFailed("If-Match", "etag-mismatch", "Changed.", version_etag(2))
    )
    assert jsonapi_errors(body) == {
        "errors": [
            {
                "status": "412",
                "title": "Precondition Failed",
                "detail": "Changed.",
                "code": "etag-mismatch",
                "source": {"header": "If-Match"},
                "meta": {"current_etag": '"v2"'},
            }
        ]
    }
    assert jsonapi_errors(problem(500, "x")) == {
        "errors": [{"status": "500", "title": "Internal Server Error", "detail": "x"}]
    }
