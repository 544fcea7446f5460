"""Reading validators out of a response, with the core's parsers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ifmatch.check.context import Options, State
from ifmatch.check.messages import Response
from ifmatch.core import ETag


def state(*headers: tuple[str, str], body: bytes = b"") -> State:
    return State.of(Response(200, "OK", headers, body))


def test_a_quoted_strong_tag_is_read_without_problem() -> None:
    found = state(("ETag", '"v7"'))
    assert (found.etag, found.etag_problem) == (ETag("v7"), None)


def test_a_weak_tag_is_read_as_weak() -> None:
    assert state(("ETag", 'W/"v7"')).etag == ETag("v7", weak=True)


def test_an_unquoted_tag_is_flagged_with_its_valid_form() -> None:
    found = state(("ETag", "v7"))
    assert found.etag_raw == "v7"
    assert found.etag_problem is not None and '"v7"' in found.etag_problem


@pytest.mark.parametrize(
    "headers",
    [
        (("ETag", 'w/"v7"'),),
        (("ETag", '"v7'),),
        (("ETag", '"v7"'), ("ETag", '"v8"')),
    ],
    ids=["lowercase-w", "unbalanced", "two-lines"],
)
def test_invalid_etags_have_a_problem_and_no_tag(headers: tuple[tuple[str, str], ...]) -> None:
    found = state(*headers)
    assert found.etag is None and found.etag_problem


def test_last_modified_is_parsed_and_garbage_is_ignored() -> None:
    good = state(("Last-Modified", "Mon, 05 Jan 2026 09:00:00 GMT"))
    assert good.last_modified == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    bad = state(("Last-Modified", "yesterday"))
    assert (bad.last_modified_raw, bad.last_modified) == ("yesterday", None)


@pytest.mark.parametrize(
    ("body", "expected"),
    [(b'{"text": "hi"}', {"text": "hi"}), (b"[1, 2]", None), (b"<html>", None), (b"\xff", None)],
)
def test_only_a_json_object_is_a_document(body: bytes, expected: object) -> None:
    assert state(body=body).document() == expected


@pytest.mark.parametrize(
    "options", [{"concurrency": 1}, {"rounds": 0}, {"stable_reads": 0}, {"body_field": ""}]
)
def test_options_refuse_values_that_cannot_work(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Options(**options)  # type: ignore[arg-type]
