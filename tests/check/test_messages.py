"""The plain message values probes exchange with drivers."""

from __future__ import annotations

import pytest

from check.drive import drive
from ifmatch.check.messages import Batch, Request, Response, exchange, exchange_together


def test_response_headers_are_case_insensitive_and_repeated_lines_are_joined() -> None:
    response = Response(200, "OK", (("ETag", '"a"'), ("etag", '"b"'), ("Date", "x")))
    assert response.header("ETAG") == '"a", "b"'
    assert response.header("Vary") is None
    assert response.is_success and not Response(304).is_success


def test_request_header_lookup() -> None:
    request = Request("PUT", (("if-match", '"v1"'),))
    assert request.header("If-Match") == '"v1"' and request.header("If-None-Match") is None


def test_a_driver_that_answers_the_wrong_kind_of_reply_is_caught() -> None:
    with pytest.raises(TypeError):
        drive(exchange(Request("GET")), lambda step: (Response(200),))
    with pytest.raises(TypeError):
        drive(exchange_together((Request("GET"),)), lambda step: Response(200))


def test_exchange_together_yields_one_batch() -> None:
    steps: list[object] = []

    def respond(step: object) -> object:
        steps.append(step)
        return (Response(200), Response(412))

    requests = (Request("PUT"), Request("PUT"))
    assert drive(exchange_together(requests), respond) == (Response(200), Response(412))
    assert steps == [Batch(requests)]
