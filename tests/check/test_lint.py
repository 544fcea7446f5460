"""httplint as a second opinion on each response."""

from __future__ import annotations

from ifmatch.check.lint import httplint_available, httplint_linter
from ifmatch.check.messages import Request, Response

LM = "Mon, 05 Jan 2026 09:00:00 GMT"


def lint(request: Request, response: Response) -> tuple[str, ...]:
    linter = httplint_linter("http://127.0.0.1:8000/doc")
    assert linter is not None
    return linter(request, response)


def test_httplint_is_installed_for_the_tests() -> None:
    assert httplint_available()


def test_a_bad_response_gets_httplint_notes() -> None:
    # Last-Modified without Date: httplint rates it "bad".
    notes = lint(Request("GET"), Response(200, "OK", (("Last-Modified", LM),), b"{}"))
    assert notes and all(note.startswith("httplint: ") for note in notes)


def test_a_clean_response_has_none() -> None:
    headers = (
        ("Date", LM),
        ("ETag", '"v1"'),
        ("Content-Type", "application/json"),
        ("Content-Length", "2"),
    )
    assert lint(Request("GET"), Response(200, "OK", headers, b"{}")) == ()


def test_problems_with_the_probe_request_itself_are_not_reported() -> None:
    request = Request("PUT", (("If-Match", '"unbalanced'),), b"{}")
    assert lint(request, Response(400, "Bad Request", (("Date", LM),))) == ()


def test_decoded_content_is_not_checked_against_the_encoded_length() -> None:
    headers = (("Date", LM), ("Content-Encoding", "gzip"), ("Content-Length", "7"))
    response = Response(200, "OK", headers, b'{"decoded": "and longer"}')
    assert lint(Request("GET"), response) == ()
