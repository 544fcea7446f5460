"""ifmatch.integrations._fields and the Starlette error response: the validators a 2xx or 304
carries (``Last-Modified`` from a cache of formatted dates, never later than now) and the
header lines of a rendered answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from ifmatch.core import format_http_date, parse_http_date
from ifmatch.integrations._conditional import HTTPError
from ifmatch.integrations._fields import last_modified_fields
from ifmatch.integrations.starlette import ConditionalHTTPException, error_response


def test_a_past_date_is_sent_to_the_second_and_again_from_the_cache() -> None:
    moment = datetime(2026, 1, 5, 9, 0, 0, 654321, tzinfo=UTC)
    first = last_modified_fields(moment)
    again = last_modified_fields(moment)
    assert first == again == [("Last-Modified", "Mon, 05 Jan 2026 09:00:00 GMT")]


def test_a_date_in_another_zone_or_naive_is_the_same_instant_in_gmt() -> None:
    east = datetime(2026, 1, 5, 10, 0, 0, tzinfo=timezone(timedelta(hours=1)))
    naive = datetime(2026, 1, 5, 9, 0, 0)
    expected = [("Last-Modified", "Mon, 05 Jan 2026 09:00:00 GMT")]
    assert last_modified_fields(east) == expected
    assert last_modified_fields(naive) == expected


def test_a_future_date_is_replaced_by_now_every_time_even_once_cached() -> None:
    # RFC 9110 §8.8.2.1: never later than the message's origination date.
    future = datetime.now(UTC) + timedelta(days=2)
    for _ in range(2):
        before = datetime.now(UTC).replace(microsecond=0)
        [(name, value)] = last_modified_fields(future)
        after = datetime.now(UTC)
        sent = parse_http_date(value)
        assert name == "Last-Modified"
        assert sent is not None and before <= sent <= after


def test_no_date_or_sending_off_gives_no_field() -> None:
    assert last_modified_fields(None) == []
    assert last_modified_fields(datetime(2026, 1, 5, tzinfo=UTC), send=False) == []


def test_a_304_answer_has_its_validators_and_no_length_or_type() -> None:
    moment = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
    error = HTTPError(304, b"", (("ETag", '"v3"'), ("Last-Modified", format_http_date(moment))))
    response = error_response(error)
    assert response.status_code == 304
    assert response.body == b""
    assert response.raw_headers == [
        (b"etag", b'"v3"'),
        (b"last-modified", b"Mon, 05 Jan 2026 09:00:00 GMT"),
    ]


def test_a_problem_answer_has_its_length_and_one_line_per_field_the_last_value_winning() -> None:
    body = b'{"status":412}'
    headers = (
        ("Content-Type", "application/problem+json"),
        ("ETag", '"v1"'),
        ("etag", '"v2"'),
    )
    response = error_response(HTTPError(412, body, headers, {"status": 412, "detail": "no"}))
    assert response.raw_headers == [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/problem+json"),
        (b"etag", b'"v2"'),
    ]
    assert response.headers["etag"] == '"v2"'


def test_the_exception_carries_status_detail_and_headers() -> None:
    not_modified = ConditionalHTTPException(HTTPError(304, b"", (("ETag", '"v3"'),)))
    assert (not_modified.status_code, not_modified.detail) == (304, "Not Modified")
    assert not_modified.headers == {"ETag": '"v3"'}
    problem = {"status": 412, "detail": "The resource has changed."}
    failed = ConditionalHTTPException(HTTPError(412, b"{}", (), problem))
    assert (failed.status_code, failed.detail) == (412, "The resource has changed.")
    assert str(failed) == "412: The resource has changed."
