"""The conflict strategies, stepped by hand: every request and pause they ask for."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from ifmatch.client import (
    Backoff,
    Document,
    MergeConflict,
    NoValidator,
    PreconditionFailed,
    PreconditionRequired,
    Request,
    Response,
    Sleep,
    UnexpectedStatus,
    VersionConflict,
    apply_json_patch,
    apply_merge_patch,
    read_flow,
    save_flow,
    update_flow,
    write_request,
)
from ifmatch.client.errors import OutcomeUnknown
from ifmatch.client.messages import LostReply
from ifmatch.client.strategies import RESOLVE_ATTEMPTS, StrategyFlow
from ifmatch.core import ETag, format_http_date

URL = "http://api.test/docs/1"


def doc_response(body: Any, tag: str | None, status: int = 200) -> Response:
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    if tag is not None:
        headers += (("ETag", tag),)
    return Response(status, headers, json.dumps(body).encode())


def stale(current_tag: str | None = None, current: Any = None) -> Response:
    problem: dict[str, Any] = {"status": 412, "detail": "stale"}
    if current_tag is not None:
        problem["current_etag"] = current_tag
    if current is not None:
        problem["current"] = current
    return Response(
        412, (("Content-Type", "application/problem+json"),), json.dumps(problem).encode()
    )


class Server:
    """Answers a flow's requests from a script, recording what it was asked."""

    def __init__(self, *replies: Response | LostReply) -> None:
        self.replies = list(replies)
        self.requests: list[Request] = []
        self.sleeps: list[float] = []

    def drive(self, flow: StrategyFlow) -> Document:
        step = next(flow)
        while True:
            reply: Response | LostReply | None = None
            if isinstance(step, Sleep):
                self.sleeps.append(step.seconds)
            else:
                self.requests.append(step)
                reply = self.replies.pop(0)
            try:
                step = flow.send(reply)
            except StopIteration as done:
                assert not self.replies, "the flow stopped before using every reply"
                result: Document = done.value
                return result


def body_of(request: Request) -> Any:
    return json.loads(request.content or b"null")


def add(key: str, value: Any) -> Callable[[Any], Any]:
    def apply(document: dict[str, Any]) -> None:
        document[key] = value

    return apply


# -- read ---------------------------------------------------------------------------------------


def test_read_returns_the_document_and_its_validators() -> None:
    server = Server(doc_response({"a": 1}, '"v1"'))
    document = server.drive(read_flow(URL))
    assert document == Document(URL, {"a": 1}, ETag("v1"))
    assert server.requests[0].header("Accept") is not None


def test_read_repeats_for_the_strong_tag_when_only_a_weak_one_came() -> None:
    server = Server(doc_response({"a": 1}, 'W/"v1"'), doc_response({"a": 1}, '"v1"'))
    document = server.drive(read_flow(URL))
    assert document.etag == ETag("v1")
    assert server.requests[1].header("Accept-Encoding") == "identity"


def test_read_raises_on_an_error_status() -> None:
    server = Server(Response(404))
    with pytest.raises(UnexpectedStatus) as caught:
        server.drive(read_flow(URL))
    assert caught.value.status == 404


# -- write_request --------------------------------------------------------------------------------


def test_write_request_bodies() -> None:
    base = Document(URL, {"a": 1, "b": 2}, ETag("v1"))
    put = write_request(base, {"a": 1, "b": 3})
    assert (put.method, put.header("If-Match"), body_of(put)) == ("PUT", '"v1"', {"a": 1, "b": 3})
    merge = write_request(base, {"a": 1, "b": 3}, patch="merge")
    assert merge.method == "PATCH"
    assert merge.header("Content-Type") == "application/merge-patch+json"
    assert apply_merge_patch(base.data, body_of(merge)) == {"a": 1, "b": 3}
    json_patch = write_request(base, {"a": 1}, patch="json")
    assert json_patch.header("Content-Type") == "application/json-patch+json"
    assert apply_json_patch(base.data, body_of(json_patch)) == {"a": 1}
    assert write_request(base, {}, overwrite=True).header("If-Match") == "*"


def test_write_request_targets_the_self_link() -> None:
    base = Document("http://api.test/latest", {"_links": {"self": {"href": "/docs/3"}}}, ETag("v1"))
    assert write_request(base, {}).url == "http://api.test/docs/3"


@pytest.mark.parametrize(
    "data",
    [
        {"url": "https://elsewhere.test/page", "title": "a bookmark"},  # a field, not a link
        {"url": "/docs/other"},
        {"_links": {"self": {"href": "http://evil.test/docs/1"}}},  # another origin
    ],
)
def test_writes_never_follow_a_url_field_or_another_origin(data: Any) -> None:
    assert write_request(Document(URL, data, ETag("v1")), data).url == URL


def test_write_request_falls_back_to_last_modified_and_refuses_without_a_validator() -> None:
    from datetime import UTC, datetime

    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    by_date = write_request(Document(URL, {}, ETag("w", weak=True), moment), {})
    assert by_date.header("If-Unmodified-Since") == format_http_date(moment)
    with pytest.raises(NoValidator):
        write_request(Document(URL, {}), {})
    unconditional = write_request(Document(URL, {}), {}, require_validator=False)
    assert unconditional.header("If-Match") is None


# -- update: re-read and re-apply -----------------------------------------------------------------


def test_update_applies_fn_and_writes_conditionally() -> None:
    server = Server(doc_response({"n": 1}, '"v1"'), doc_response({"n": 1, "k": 2}, '"v2"'))
    result = server.drive(update_flow(URL, add("k", 2)))
    get, put = server.requests
    assert put.header("If-Match") == '"v1"'
    assert body_of(put) == {"n": 1, "k": 2}
    assert result == Document(URL, {"n": 1, "k": 2}, ETag("v2"))
    assert server.sleeps == []


def test_update_rereads_and_reapplies_after_a_412() -> None:
    server = Server(
        doc_response({"tokens": []}, '"v1"'),
        stale('"v2"'),
        doc_response({"tokens": ["theirs"]}, '"v2"'),
        doc_response({"tokens": ["theirs", "mine"]}, '"v3"'),
    )
    result = server.drive(
        update_flow(URL, lambda d: {"tokens": [*d["tokens"], "mine"]}, rng=random.Random(1))
    )
    methods = [(r.method, r.header("If-Match")) for r in server.requests]
    assert methods == [("GET", None), ("PUT", '"v1"'), ("GET", None), ("PUT", '"v2"')]
    assert body_of(server.requests[3]) == {"tokens": ["theirs", "mine"]}
    assert result.etag == ETag("v3")
    assert len(server.sleeps) == 1


def test_update_uses_the_current_representation_a_412_carries() -> None:
    server = Server(
        doc_response({"n": 1}, '"v1"'),
        stale('"v2"', current={"n": 5}),
        doc_response({"n": 6}, '"v3"'),
    )
    server.drive(update_flow(URL, lambda d: {"n": d["n"] + 1}))
    assert [r.method for r in server.requests] == ["GET", "PUT", "PUT"]
    assert server.requests[2].header("If-Match") == '"v2"'
    assert body_of(server.requests[2]) == {"n": 6}


def test_update_retries_a_409_version_conflict_too() -> None:
    server = Server(
        doc_response({"version": 1}, None),
        Response(409),
        doc_response({"version": 2}, None),
        Response(204),
    )
    result = server.drive(update_flow(URL, lambda d: {**d, "x": 1}, require_validator=False))
    assert [r.method for r in server.requests] == ["GET", "PUT", "GET", "PUT"]
    assert result.data == {"version": 2, "x": 1}  # a 204 returns what was written


def test_update_gives_up_after_its_retries() -> None:
    replies = [doc_response({}, '"v1"')]
    for n in range(2, 5):
        replies += [stale(f'"v{n}"'), doc_response({}, f'"v{n}"')]
    replies.append(stale('"v9"'))
    server = Server(*replies)
    with pytest.raises(PreconditionFailed) as caught:
        server.drive(update_flow(URL, add("x", 1), retries=3, rng=random.Random(0)))
    assert caught.value.attempts == 4
    assert caught.value.current_etag == ETag("v9")
    assert len(server.sleeps) == 3


def test_update_does_not_retry_a_428() -> None:
    server = Server(doc_response({}, '"v1"'), Response(428))
    with pytest.raises(PreconditionRequired):
        server.drive(update_flow(URL, add("x", 1)))


def test_update_raises_other_errors() -> None:
    server = Server(doc_response({}, '"v1"'), Response(403))
    with pytest.raises(UnexpectedStatus):
        server.drive(update_flow(URL, add("x", 1)))


def test_update_refuses_to_write_without_a_validator() -> None:
    server = Server(doc_response({}, None))
    with pytest.raises(NoValidator):
        server.drive(update_flow(URL, add("x", 1)))


def test_update_fn_edits_a_copy_so_the_patch_sees_the_change() -> None:
    def edit_in_place(document: dict[str, Any]) -> None:
        document["nested"]["a"] = 2

    server = Server(doc_response({"nested": {"a": 1}}, '"v1"'), Response(204))
    result = server.drive(update_flow(URL, edit_in_place, patch="merge"))
    # Had fn edited the read document itself, the diff would be empty.
    assert body_of(server.requests[1]) == {"nested": {"a": 2}}
    assert result.data == {"nested": {"a": 2}}


def test_update_with_a_merge_patch() -> None:
    server = Server(doc_response({"a": 1, "b": 1}, '"v1"'), doc_response({"a": 1, "b": 2}, '"v2"'))
    server.drive(update_flow(URL, add("b", 2), patch="merge"))
    patch = server.requests[1]
    assert (patch.method, body_of(patch)) == ("PATCH", {"b": 2})


def test_backoff_is_bounded_full_jitter() -> None:
    backoff = Backoff(base=0.1, factor=2, cap=0.5)
    rng = random.Random(3)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (10, 0.5)]:
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling * 0.8  # it does use the whole range


def test_backoff_starts_from_the_round_that_lost() -> None:
    # A round slower than ``base`` sets the window's start; ``cap`` still bounds every wait.
    backoff = Backoff(base=0.01, factor=2, cap=1.0)
    rng = random.Random(5)
    for attempt, took, ceiling in [(1, 0.2, 0.2), (2, 0.2, 0.4), (3, 0.2, 0.8), (4, 0.2, 1.0)]:
        delays = [backoff.delay(attempt, rng, took=took) for _ in range(300)]
        assert all(0 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling * 0.8
    fast = [backoff.delay(1, rng, took=0.001) for _ in range(300)]
    assert max(fast) <= 0.01  # a round faster than base: base as before


class Clock:
    """``time.monotonic`` for the flows: each read of it moves on by ``step`` seconds."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 100.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_update_waits_in_proportion_to_its_own_round(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each read of the clock is 0.15 s later: a round (read to refusal) takes 0.15 s, so the
    # wait after each loss is drawn from [0, 0.15 * 2 ** (n - 1)], not from base's 0.01 s.
    from ifmatch.client import strategies

    monkeypatch.setattr(strategies.time, "monotonic", Clock(0.15))
    replies = [doc_response({}, '"v1"')]
    for n in range(2, 5):
        replies += [stale(f'"v{n}"'), doc_response({}, f'"v{n}"')]
    replies.append(doc_response({"x": 1}, '"v9"'))
    server = Server(*replies)
    seen: list[float] = []
    for seed in range(40):
        server = Server(*replies)
        server.drive(update_flow(URL, add("x", 1), rng=random.Random(seed)))
        seen += server.sleeps
        assert [wait <= 0.15 * 2**n + 1e-9 for n, wait in enumerate(server.sleeps)] == [True] * 3
    assert max(seen) > 0.3  # the window grew past anything base (0.01 s) would give


def test_save_merge_waits_in_proportion_to_its_own_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ifmatch.client import strategies

    monkeypatch.setattr(strategies.time, "monotonic", Clock(0.25))
    waits: list[float] = []
    for seed in range(30):
        server = Server(
            stale('"v2"'),
            doc_response({"title": "T", "body": "theirs"}, '"v2"'),
            doc_response({"title": "Mine", "body": "theirs"}, '"v3"'),
        )
        base = Document(URL, {"title": "T", "body": "b"}, ETag("v1"))
        mine = {"title": "Mine", "body": "b"}
        server.drive(save_flow(base, mine, on_conflict="merge", rng=random.Random(seed)))
        waits += server.sleeps
    assert len(waits) == 30 and max(waits) <= 0.25 and max(waits) > 0.05


# -- save: raise, merge, overwrite ---------------------------------------------------------------

BASE = Document(URL, {"title": "T", "body": "b"}, ETag("v1"))


def test_save_raises_by_default() -> None:
    server = Server(stale('"v2"'))
    with pytest.raises(PreconditionFailed):
        server.drive(save_flow(BASE, {"title": "Mine", "body": "b"}))


def test_save_merges_non_overlapping_changes_and_retries() -> None:
    server = Server(
        stale('"v2"'),
        doc_response({"title": "T", "body": "theirs"}, '"v2"'),
        doc_response({"title": "Mine", "body": "theirs"}, '"v3"'),
    )
    result = server.drive(save_flow(BASE, {"title": "Mine", "body": "b"}, on_conflict="merge"))
    put, get, retry = server.requests
    assert (put.header("If-Match"), get.method, retry.header("If-Match")) == ('"v1"', "GET", '"v2"')
    assert body_of(retry) == {"title": "Mine", "body": "theirs"}
    assert result.etag == ETag("v3")


def test_save_merge_raises_merge_conflict_with_the_current_document() -> None:
    server = Server(stale('"v2"'), doc_response({"title": "Theirs", "body": "b"}, '"v2"'))
    with pytest.raises(MergeConflict) as caught:
        server.drive(save_flow(BASE, {"title": "Mine", "body": "b"}, on_conflict="merge"))
    assert caught.value.paths == ("/title",)
    assert caught.value.current == Document(URL, {"title": "Theirs", "body": "b"}, ETag("v2"))


def test_save_with_a_custom_resolver() -> None:
    def theirs_title_wins(base: Any, mine: Any, theirs: Any) -> Any:
        return {**mine, "title": theirs["title"]}

    server = Server(
        stale('"v2"', current={"title": "Theirs", "body": "b"}),
        doc_response({"title": "Theirs", "body": "mine"}, '"v3"'),
    )
    server.drive(save_flow(BASE, {"title": "Mine", "body": "mine"}, on_conflict=theirs_title_wins))
    assert body_of(server.requests[1]) == {"title": "Theirs", "body": "mine"}


def test_save_merge_gives_up_after_its_retries() -> None:
    replies: list[Response] = []
    for n in range(2, 4):
        replies += [stale(f'"v{n}"', current={"title": "T", "body": f"b{n}"})]
    server = Server(*replies)
    with pytest.raises(PreconditionFailed) as caught:
        server.drive(save_flow(BASE, {"title": "M", "body": "b"}, on_conflict="merge", retries=1))
    assert caught.value.attempts == 2


def test_overwrite_is_last_writer_wins_only_when_asked() -> None:
    server = Server(doc_response({"title": "Mine"}, '"v7"'))
    result = server.drive(save_flow(BASE, {"title": "Mine"}, on_conflict="overwrite"))
    assert server.requests[0].header("If-Match") == "*"
    assert result.etag == ETag("v7")


def test_overwrite_of_a_deleted_resource_fails() -> None:
    server = Server(stale())
    with pytest.raises(PreconditionFailed):
        server.drive(save_flow(BASE, {}, on_conflict="overwrite"))


def test_save_version_conflict_is_typed() -> None:
    server = Server(Response(409))
    with pytest.raises(VersionConflict):
        server.drive(save_flow(BASE, {}))


# -- exactly once: a lost reply is settled with the same request, key and all ----------------------


def echoed(response: Response, request: Request) -> Response:
    """``response`` with the request's Idempotency-Key sent back, as a server that honours it
    answers."""
    key = request.header("Idempotency-Key")
    assert key is not None
    return Response(
        response.status, (*response.headers, ("Idempotency-Key", key)), response.content
    )


class KeyedServer(Server):
    """Echoes each write's key on the replies that ``echo`` marks."""

    def __init__(self, *replies: tuple[Response | LostReply, bool]) -> None:
        super().__init__(*(reply for reply, _ in replies))
        self.echo = [flag for _, flag in replies]

    def drive(self, flow: StrategyFlow) -> Document:
        step = next(flow)
        while True:
            reply: Response | LostReply | None = None
            if isinstance(step, Sleep):
                self.sleeps.append(step.seconds)
            else:
                self.requests.append(step)
                reply = self.replies.pop(0)
                if self.echo.pop(0) and isinstance(reply, Response):
                    reply = echoed(reply, step)
            try:
                step = flow.send(reply)
            except StopIteration as done:
                result: Document = done.value
                return result


def test_a_lost_reply_is_settled_by_the_same_write_which_the_server_replays() -> None:
    server = KeyedServer(
        (doc_response({"n": 1}, '"v1"'), False),
        (LostReply("ReadError: connection reset"), False),
        (Response(200, (("ETag", '"v2"'), ("Idempotent-Replayed", "true"))), True),
    )
    document = server.drive(update_flow(URL, add("x", 1)))
    assert document.etag == ETag("v2") and document.data == {"n": 1, "x": 1}
    first, again = server.requests[1], server.requests[2]
    assert again == first  # the same method, URL, If-Match, key and body: applied once
    key = first.header("Idempotency-Key")
    assert key is not None and key.startswith('"')


def test_each_logical_write_has_its_own_key() -> None:
    server = KeyedServer(
        (doc_response({"n": 1}, '"v1"'), False),
        (stale(), True),
        (doc_response({"n": 2}, '"v2"'), False),
        (doc_response({}, '"v3"'), True),
    )
    server.drive(update_flow(URL, add("x", 1), rng=random.Random(1)))
    keys = [r.header("Idempotency-Key") for r in server.requests if r.method == "PUT"]
    assert len(keys) == 2 and keys[0] != keys[1]


def test_a_conflict_after_a_resend_is_trusted_only_when_the_key_was_honoured() -> None:
    # Honoured: the first send did not apply (the server judged the resend afresh), so the
    # change is re-applied on the current document, once.
    server = KeyedServer(
        (doc_response({"n": 1}, '"v1"'), False),
        (Response(503, (("Retry-After", "1"),)), False),
        (stale(), True),
        (doc_response({"n": 2}, '"v2"'), False),
        (Response(200, (("ETag", '"v3"'),)), True),
    )
    document = server.drive(update_flow(URL, add("x", 1), rng=random.Random(1)))
    assert document.data == {"n": 2, "x": 1} and server.sleeps[0] == 1.0
    # Not honoured: the 412 may be the first send's own success; nothing is applied again.
    server = KeyedServer(
        (doc_response({"n": 1}, '"v1"'), False),
        (LostReply("ReadTimeout"), False),
        (stale(), False),
    )
    with pytest.raises(OutcomeUnknown) as caught:
        server.drive(update_flow(URL, add("x", 1)))
    assert caught.value.method == "PUT" and caught.value.key is not None
    assert [r.method for r in server.requests] == ["GET", "PUT", "PUT"]


def test_a_key_in_flight_waits_and_sends_again() -> None:
    in_flight = Response(
        409,
        (("Content-Type", "application/problem+json"), ("Retry-After", "1")),
        json.dumps({"status": 409, "code": "idempotency-key-in-flight"}).encode(),
    )
    server = KeyedServer(
        (doc_response({}, '"v1"'), False),
        (LostReply("ReadError"), False),
        (in_flight, True),
        (doc_response({}, '"v2"'), True),
    )
    assert server.drive(update_flow(URL, add("x", 1))).etag == ETag("v2")
    assert server.sleeps[-1] == 1.0


def test_an_outcome_that_stays_unknown_raises_and_applies_nothing_twice() -> None:
    replies: list[tuple[Response | LostReply, bool]] = [(doc_response({}, '"v1"'), False)]
    replies += [(Response(502), False)] * (RESOLVE_ATTEMPTS + 1)
    server = KeyedServer(*replies)
    with pytest.raises(OutcomeUnknown):
        server.drive(update_flow(URL, add("x", 1)))
    puts = [r for r in server.requests if r.method == "PUT"]
    assert (
        len(puts) == RESOLVE_ATTEMPTS + 1 and len({r.header("Idempotency-Key") for r in puts}) == 1
    )


def test_save_settles_a_lost_reply_too() -> None:
    base = Document(URL, {"a": 1}, ETag("v1"))
    server = KeyedServer((LostReply("ReadError"), False), (doc_response({}, '"v2"'), True))
    saved = server.drive(save_flow(base, {"a": 2}, on_conflict="merge"))
    assert saved.etag == ETag("v2") and server.requests[0] == server.requests[1]


def test_a_lost_read_is_read_again() -> None:
    server = Server(LostReply("ReadError"), doc_response({"a": 1}, '"v1"'))
    assert server.drive(read_flow(URL)).data == {"a": 1}


def test_an_unavailable_read_is_read_again_after_retry_after() -> None:
    unavailable = Response(503, (("Retry-After", "1"),))
    server = Server(unavailable, doc_response({"a": 1}, '"v1"'))
    assert server.drive(read_flow(URL)).data == {"a": 1} and server.sleeps == [1.0]
    server = Server(*[unavailable] * 4)
    with pytest.raises(UnexpectedStatus) as caught:
        server.drive(read_flow(URL))
    assert caught.value.status == 503
