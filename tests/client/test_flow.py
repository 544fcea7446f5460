"""The conditional-request flow, stepped by hand: no network, no httpx."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ifmatch.client import (
    ConditionalRequests,
    FlowConfig,
    PreconditionFailed,
    Request,
    Response,
    ResponseCache,
    Validators,
)
from ifmatch.client.flow import has_precondition, precondition_headers
from ifmatch.core import ETag, format_http_date

URL = "http://api.test/docs/1"
LM = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def json_response(status: int, body: Any, *headers: tuple[str, str]) -> Response:
    return Response(
        status, (("Content-Type", "application/json"), *headers), json.dumps(body).encode()
    )


def run(
    policy: ConditionalRequests, request: Request, *responses: Response
) -> tuple[list[Request], Response]:
    """Step the flow: answer each yielded request with the next response."""
    flow = policy.flow(request)
    sent = [next(flow)]
    replies = iter(responses)
    while True:
        try:
            sent.append(flow.send(next(replies)))
        except StopIteration as done:
            return sent, done.value


def test_get_passes_through_and_teaches_the_store() -> None:
    policy = ConditionalRequests()
    request = Request("GET", URL)
    sent, final = run(policy, request, json_response(200, {"a": 1}, ("ETag", '"v1"')))
    assert sent == [request]
    assert sent[0] is request  # unchanged requests are not copied
    assert final.status == 200
    assert policy.store.get(URL) == Validators(ETag("v1"))


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_writes_get_if_match_from_the_store(method: str) -> None:
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v7")))
    sent, _ = run(policy, Request(method, URL), Response(204))
    assert sent[0].header("If-Match") == '"v7"'


def test_post_never_gets_a_precondition() -> None:
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v7")))
    sent, _ = run(policy, Request("POST", URL), Response(201))
    assert sent[0].header("If-Match") is None


def test_a_tag_is_sent_only_to_its_own_url() -> None:
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v7")))
    sent, _ = run(policy, Request("PUT", "http://api.test/docs/2"), Response(200))
    assert sent[0].header("If-Match") is None


@pytest.mark.parametrize(
    "header",
    [("If-Match", "*"), ("If-None-Match", "*"), ("If-Unmodified-Since", format_http_date(LM))],
)
def test_the_applications_own_precondition_wins(header: tuple[str, str]) -> None:
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v7"), LM))
    request = Request("PUT", URL, (header,))
    sent, _ = run(policy, request, Response(200))
    # The application's precondition is sent as it is; only an Idempotency-Key is added.
    assert sent[0].headers[:1] == (header,)
    assert sent[0].header("If-Match") == (header[1] if header[0] == "If-Match" else None)
    assert sent[0].header("Idempotency-Key") is not None
    assert has_precondition(request.headers)


def test_writes_get_an_idempotency_key_unless_they_have_one() -> None:
    policy = ConditionalRequests()
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        sent, _ = run(policy, Request(method, URL), Response(200))
        assert sent[0].header("Idempotency-Key") is not None
    own = Request("POST", URL, (("Idempotency-Key", '"mine"'),))
    sent, _ = run(policy, own, Response(201))
    assert sent[0].header("Idempotency-Key") == '"mine"'
    sent, _ = run(policy, Request("GET", URL), Response(200))
    assert sent[0].header("Idempotency-Key") is None
    off = ConditionalRequests(config=FlowConfig(idempotency_keys=False))
    sent, _ = run(off, Request("POST", URL), Response(201))
    assert sent[0].header("Idempotency-Key") is None


def test_a_weak_tag_with_last_modified_falls_back_to_if_unmodified_since() -> None:
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v7", weak=True), LM))
    sent, _ = run(policy, Request("PUT", URL), Response(200))
    assert sent[0].header("If-Match") is None
    assert sent[0].header("If-Unmodified-Since") == "Wed, 01 May 2024 12:00:00 GMT"


def test_a_weak_tag_alone_rereads_for_the_strong_form() -> None:
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v7", weak=True)))
    request = Request(
        "PUT", URL, (("Authorization", "Bearer x"), ("Content-Type", "application/json"))
    )
    sent, final = run(
        policy,
        request,
        json_response(200, {"a": 1}, ("ETag", '"v7"')),  # the identity-coded re-read
        Response(200, (("ETag", '"v8"'),)),
    )
    probe, write = sent
    assert (probe.method, probe.url, probe.content) == ("GET", URL, b"")
    assert probe.header("Accept-Encoding") == "identity"
    assert probe.header("Authorization") == "Bearer x"  # credentials go along
    assert probe.header("Content-Type") is None
    assert write.header("If-Match") == '"v7"'
    assert write.content is None  # the application's own body is sent untouched
    assert final.status == 200
    assert policy.store.get(URL) == Validators(ETag("v8"))


def test_a_reread_showing_a_change_refuses_to_write() -> None:
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v7", weak=True)))
    flow = policy.flow(Request("PUT", URL))
    assert next(flow).method == "GET"
    with pytest.raises(PreconditionFailed) as caught:
        flow.send(json_response(200, {"a": 2}, ("ETag", '"v9"')))
    assert caught.value.current_etag == ETag("v9")
    assert caught.value.current == {"a": 2}
    # The store keeps the stale tag, so a blind retry fails the same way.
    assert policy.store.get(URL) == Validators(ETag("v7", weak=True))


def test_a_reread_that_stays_weak_sends_the_write_unconditionally() -> None:
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v7", weak=True)))
    sent, final = run(
        policy,
        Request("PUT", URL),
        Response(200, (("ETag", 'W/"v7"'),)),
        Response(428),
    )
    assert sent[1].header("If-Match") is None
    assert final.status == 428


def test_rereading_can_be_switched_off() -> None:
    policy = ConditionalRequests(config=FlowConfig(reread_weak=False))
    policy.store.learn(URL, Validators(ETag("v7", weak=True)))
    sent, _ = run(policy, Request("PUT", URL), Response(428))
    assert len(sent) == 1 and sent[0].header("If-Match") is None


def test_a_write_response_with_a_new_tag_replaces_the_old_one() -> None:
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v1")))
    run(policy, Request("PUT", URL), Response(200, (("ETag", '"v2"'),)))
    assert policy.store.get(URL) == Validators(ETag("v2"))


def test_a_write_response_without_a_validator_forgets_the_stale_tag() -> None:
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v1")))
    run(policy, Request("PATCH", URL), Response(204))
    assert policy.store.get(URL) is None


def test_a_representation_without_validators_forgets_the_old_tag() -> None:
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v1")))
    run(policy, Request("GET", URL), Response(200, (("Content-Type", "text/plain"),), b"x"))
    assert URL not in policy.store


def test_a_304_without_validators_keeps_the_tag() -> None:
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v1")))
    run(policy, Request("GET", URL, (("If-None-Match", '"v1"'),)), Response(304))
    assert policy.store.get(URL) == Validators(ETag("v1"))


def test_a_304_carrying_the_tag_alone_keeps_the_date_known_for_that_tag() -> None:
    # RFC 9110 §15.4.5: a 304 to If-None-Match may carry the ETag alone; RFC 9111 §4.3.4: it
    # freshens only what it carries. A weak tag (from a compressing proxy) still has its date,
    # so the next write is still conditional (If-Unmodified-Since).
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v7", weak=True), LM))
    asked = Request("GET", URL, (("If-None-Match", 'W/"v7"'),))
    run(policy, asked, Response(304, (("ETag", 'W/"v7"'),)))
    assert policy.store.get(URL) == Validators(ETag("v7", weak=True), LM)
    sent, _ = run(policy, Request("PUT", URL), Response(200))
    assert sent[0].header("If-Unmodified-Since") == "Wed, 01 May 2024 12:00:00 GMT"
    # Another tag in the 304 is another version: the old date does not describe it.
    run(policy, asked, Response(304, (("ETag", 'W/"v8"'),)))
    assert policy.store.get(URL) == Validators(ETag("v8", weak=True))
    # A 304 that carries a date of its own is taken as it is.
    later = datetime(2024, 5, 2, tzinfo=UTC)
    run(
        policy,
        asked,
        Response(304, (("ETag", 'W/"v8"'), ("Last-Modified", format_http_date(later)))),
    )
    assert policy.store.get(URL) == Validators(ETag("v8", weak=True), later)


def test_a_failed_write_keeps_the_tag_it_was_sent_with() -> None:
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v1")))
    problem = Response(
        412,
        (("Content-Type", "application/problem+json"), ("ETag", '"v5"')),
        b'{"status": 412, "current_etag": "\\"v5\\""}',
    )
    run(policy, Request("PUT", URL), problem)
    assert policy.store.get(URL) == Validators(ETag("v1"))


@pytest.mark.parametrize("status", [200, 204, 404, 410])
def test_delete_forgets_the_url(status: int) -> None:
    policy = ConditionalRequests(cache=ResponseCache())
    policy.store.learn(URL, Validators(ETag("v1")))
    run(policy, Request("DELETE", URL), Response(status))
    assert URL not in policy.store


def test_a_refused_delete_forgets_nothing() -> None:
    policy = ConditionalRequests()
    policy.store.learn(URL, Validators(ETag("v1")))
    run(policy, Request("DELETE", URL), Response(412))
    assert URL in policy.store


def test_post_201_teaches_the_location() -> None:
    policy = ConditionalRequests()
    run(
        policy,
        Request("POST", "http://api.test/docs"),
        Response(201, (("Location", "/docs/9"), ("ETag", '"v1"'))),
    )
    assert policy.store.get("http://api.test/docs/9") == Validators(ETag("v1"))
    assert "http://api.test/docs" not in policy.store


def test_post_200_validators_belong_to_no_one_without_content_location() -> None:
    policy = ConditionalRequests()
    run(policy, Request("POST", "http://api.test/rpc"), Response(200, (("ETag", '"v1"'),)))
    assert len(policy.store) == 0


def test_body_field_when_the_header_is_missing() -> None:
    policy = ConditionalRequests()
    run(policy, Request("GET", URL), json_response(200, {"_etag": "abc123", "a": 1}))
    assert policy.store.get(URL) == Validators(ETag("abc123"))


def test_the_header_wins_over_the_body_field() -> None:
    policy = ConditionalRequests()
    run(policy, Request("GET", URL), json_response(200, {"_etag": "old"}, ("ETag", '"new"')))
    assert policy.store.get(URL) == Validators(ETag("new"))


def test_body_learning_can_be_switched_off() -> None:
    policy = ConditionalRequests(config=FlowConfig(learn_from_bodies=False))
    request = Request("GET", URL)
    response = json_response(200, {"_etag": "abc"})
    assert not policy.needs_body(request, Response(200, response.headers))
    run(policy, request, Response(200, response.headers))
    assert URL not in policy.store


def test_list_items_are_learned_under_their_own_urls() -> None:
    policy = ConditionalRequests()
    body = {
        "_embedded": {
            "docs": [
                {"_links": {"self": {"href": "/docs/1"}}, "_etag": '"v3"'},
                {"_links": {"self": {"href": "/docs/2"}}, "_etag": 'W/"v4"'},
                {"_links": {"self": {"href": "/docs/3"}}},  # no tag: nothing to learn
            ]
        }
    }
    run(policy, Request("GET", "http://api.test/docs?page=1"), json_response(200, body))
    assert policy.store.get("http://api.test/docs/1") == Validators(ETag("v3"))
    assert policy.store.get("http://api.test/docs/2") == Validators(ETag("v4", weak=True))
    assert "http://api.test/docs/3" not in policy.store
    # An item from the list can be written without another GET.
    sent, _ = run(policy, Request("PUT", "http://api.test/docs/1"), Response(200))
    assert sent[0].header("If-Match") == '"v3"'


def test_a_list_payload_is_newer_news_than_an_earlier_get() -> None:
    policy = ConditionalRequests()
    run(policy, Request("GET", URL), json_response(200, {}, ("ETag", '"v1"'), ("Vary", "Accept")))
    run(
        policy,
        Request("GET", "http://api.test/docs"),
        json_response(200, [{"id": 1, "etag": '"v2"'}]),
    )
    assert policy.store.get(URL, (("Accept", "*/*"),)) == Validators(ETag("v2"))


def test_a_self_link_in_a_write_response_body_is_learned() -> None:
    policy = ConditionalRequests()
    body = {"_id": "7", "_etag": "e1", "_links": {"self": {"href": "docs/7"}}}
    run(policy, Request("POST", "http://api.test/docs"), json_response(201, body))
    assert policy.store.get("http://api.test/docs/7") == Validators(ETag("e1"))


def test_needs_body() -> None:
    policy = ConditionalRequests()
    get = Request("GET", URL)
    json_headers = (("Content-Type", "application/hal+json"),)
    assert policy.needs_body(get, Response(200, json_headers))
    assert not policy.needs_body(get, Response(200, (("Content-Type", "image/png"),)))
    assert not policy.needs_body(get, Response(500, json_headers))
    problem = (("Content-Type", "application/problem+json"),)
    assert policy.needs_body(Request("PUT", URL), Response(412, problem))
    huge = (*json_headers, ("Content-Length", str(10**9)))
    assert not policy.needs_body(get, Response(200, huge))
    cached = ConditionalRequests(cache=ResponseCache())
    assert cached.needs_body(get, Response(200, (("Content-Type", "image/png"),)))


def test_precondition_headers() -> None:
    assert precondition_headers(Validators()) == ()
    assert precondition_headers(Validators(ETag("a"), LM)) == (("If-Match", '"a"'),)
    assert precondition_headers(Validators(ETag("a", weak=True), LM)) == (
        ("If-Unmodified-Since", "Wed, 01 May 2024 12:00:00 GMT"),
    )
    assert precondition_headers(Validators(ETag("a", weak=True))) == ()


# -- the conditional-GET cache ----------------------------------------------------------------


def cached_policy() -> ConditionalRequests:
    return ConditionalRequests(cache=ResponseCache())


def test_a_304_comes_back_as_the_stored_representation() -> None:
    policy = cached_policy()
    first = json_response(200, {"a": 1}, ("ETag", '"v1"'), ("Cache-Control", "private"))
    run(policy, Request("GET", URL), first)
    sent, final = run(
        policy,
        Request("GET", URL),
        Response(304, (("ETag", '"v1"'), ("Cache-Control", "no-cache"))),
    )
    assert sent[0].header("If-None-Match") == '"v1"'
    assert final.status == 200 and final.revalidated
    assert json.loads(final.content or b"") == {"a": 1}
    assert final.header("Cache-Control") == "no-cache"  # freshened from the 304
    assert final.header("Content-Length") == str(len(first.content or b""))


def test_last_modified_revalidates_with_if_modified_since() -> None:
    policy = cached_policy()
    run(
        policy, Request("GET", URL), json_response(200, {}, ("Last-Modified", format_http_date(LM)))
    )
    sent, _ = run(policy, Request("GET", URL), Response(304))
    assert sent[0].header("If-Modified-Since") == format_http_date(LM)
    assert sent[0].header("If-None-Match") is None


def test_a_changed_representation_replaces_the_stored_one() -> None:
    policy = cached_policy()
    run(policy, Request("GET", URL), json_response(200, {"a": 1}, ("ETag", '"v1"')))
    run(policy, Request("GET", URL), json_response(200, {"a": 2}, ("ETag", '"v2"')))
    sent, final = run(policy, Request("GET", URL), Response(304, (("ETag", '"v2"'),)))
    assert sent[0].header("If-None-Match") == '"v2"'
    assert json.loads(final.content or b"") == {"a": 2}


def test_the_applications_own_conditional_get_is_left_alone() -> None:
    policy = cached_policy()
    run(policy, Request("GET", URL), json_response(200, {"a": 1}, ("ETag", '"v1"')))
    request = Request("GET", URL, (("If-None-Match", '"v0"'),))
    sent, final = run(policy, request, Response(304, (("ETag", '"v0"'),)))
    assert sent[0] is request
    assert final.status == 304


def test_a_successful_write_invalidates_the_cache() -> None:
    policy = cached_policy()
    run(policy, Request("GET", URL), json_response(200, {"a": 1}, ("ETag", '"v1"')))
    run(policy, Request("PUT", URL), Response(200, (("ETag", '"v2"'),)))
    sent, _ = run(policy, Request("GET", URL), json_response(200, {"a": 2}))
    assert sent[0].header("If-None-Match") is None


def test_no_store_responses_are_not_cached() -> None:
    policy = cached_policy()
    run(
        policy,
        Request("GET", URL),
        json_response(200, {}, ("ETag", '"v1"'), ("Cache-Control", "no-store")),
    )
    sent, _ = run(policy, Request("GET", URL), json_response(200, {}))
    assert sent[0].header("If-None-Match") is None


def test_the_cache_keys_on_the_vary_headers() -> None:
    policy = cached_policy()
    en = Request("GET", URL, (("Accept-Language", "en"),))
    fr = Request("GET", URL, (("Accept-Language", "fr"),))
    run(policy, en, json_response(200, {"hi": 1}, ("ETag", '"en1"'), ("Vary", "Accept-Language")))
    sent, _ = run(
        policy, fr, json_response(200, {"salut": 1}, ("ETag", '"fr1"'), ("Vary", "Accept-Language"))
    )
    assert sent[0].header("If-None-Match") is None
    sent, _ = run(policy, en, Response(304))
    assert sent[0].header("If-None-Match") == '"en1"'
    # The store keys variants the same way: a write with the French headers gets the French tag.
    put, _ = run(policy, Request("PUT", URL, (("Accept-Language", "fr"),)), Response(204))
    assert put[0].header("If-Match") == '"fr1"'
