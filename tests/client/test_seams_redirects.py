"""Client suite, redirects and origins: no tag ever leaves the URL it was learned for.

Every redirect status httpx and requests follow (301, 302, 303, 307, 308), to the same
origin, to another origin, with the tag added by the flow or set by the application, through
the sync and async httpx transports (``httpx.MockTransport`` here; real loopback servers in
``test_seams_loopback``). The target resources share version numbers with the redirected one
(``"v3"`` on both), so a tag that reached them would match and let a write through: the tests
assert on every conditional header each origin received, and on what it stored.

Also: ``Location`` / ``Content-Location`` on another origin teach nothing, and the strategies
keep each document with the URL that answered for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from client.origins import Origins
from ifmatch.client import (
    AsyncIfMatchTransport,
    Backoff,
    Client,
    IfMatchTransport,
    Request,
    Response,
    ResponseCache,
    UnexpectedStatus,
    ValidatorStore,
)
from ifmatch.client.redirects import forwarded_headers, redirect_target
from ifmatch.client.validators import origin, same_origin, same_url
from ifmatch.core import ETag

ONE = "http://one.test"
TWO = "http://two.test"
SOURCE = ONE + "/docs/1"
STATUSES = (301, 302, 303, 307, 308)
WRITES = ("PUT", "PATCH", "DELETE")
#: where the write to SOURCE is redirected: another resource on the same origin (absolute and
#: relative Location), the same path on another origin, another path on another origin
TARGETS = {
    "same-origin": (ONE + "/docs/2", ONE + "/docs/2"),
    "same-origin-relative": ("/docs/2", ONE + "/docs/2"),
    "other-origin": (TWO + "/docs/1", TWO + "/docs/1"),
    "other-origin-other-path": (TWO + "/docs/9", TWO + "/docs/9"),
}
#: httpx turns these into a GET (RFC 9110 §15.4: 303 always; 302 as browsers do)
BECOMES_GET = {302, 303}
NO_WAIT = Backoff(base=0.0, cap=0.0)

Send = Callable[..., httpx.Response]


def world(status: int, location: str, target: str, *, methods: Any = WRITES) -> Origins:
    """SOURCE and the target both at version 3; writes to SOURCE redirected to ``location``."""
    origins = Origins()
    origins.document(SOURCE, {"name": "source"}, 3)
    origins.document(target, {"name": "target"}, 3)
    origins.redirect(SOURCE, status, location, methods)
    return origins


def sync_session(origins: Origins, **options: Any) -> Send:
    transport = IfMatchTransport(httpx.MockTransport(origins), **options)
    http = httpx.Client(transport=transport, follow_redirects=True)

    def send(method: str, url: str, **kwargs: Any) -> httpx.Response:
        return http.request(method, url, **kwargs)

    return send


def async_session(origins: Origins, **options: Any) -> Send:
    # One client per call, all on one store: each request runs on its own event loop.
    store = options.pop("store") if "store" in options else ValidatorStore()

    async def go(method: str, url: str, **kwargs: Any) -> httpx.Response:
        transport = AsyncIfMatchTransport(httpx.MockTransport(origins), store=store, **options)
        async with httpx.AsyncClient(transport=transport, follow_redirects=True) as http:
            response = await http.request(method, url, **kwargs)
            await response.aread()
            return response

    def send(method: str, url: str, **kwargs: Any) -> httpx.Response:
        return asyncio.run(go(method, url, **kwargs))

    return send


SESSIONS = {"sync": sync_session, "async": async_session}


def body_for(method: str) -> dict[str, Any]:
    return {} if method == "DELETE" else {"json": {"name": "mine"}}


def target_hops(origins: Origins, target: str) -> list[dict[str, str]]:
    hops = [received.conditionals() for received in origins.at(target)]
    assert hops, "the redirect was followed"
    return hops


# -- the flow's own tag -------------------------------------------------------------------------


@pytest.mark.parametrize("session", sorted(SESSIONS))
@pytest.mark.parametrize("target_name", sorted(TARGETS))
@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("status", STATUSES)
def test_the_flows_tag_never_follows_a_redirect(
    status: int, method: str, target_name: str, session: str
) -> None:
    location, target = TARGETS[target_name]
    origins = world(status, location, target)
    send = SESSIONS[session](origins)
    assert send("GET", SOURCE).status_code == 200  # the client learns "v3" for SOURCE
    response = send(method, SOURCE, **body_for(method))
    [first] = [r for r in origins.at(SOURCE) if r.method == method]
    assert first.conditionals() == {"if-match": '"v3"'}  # the tag went to its own URL
    # ... and nowhere else: the client knows no tag for the target, so it sends none.
    assert target_hops(origins, target) == [{}]
    [hop] = origins.at(target)
    assert hop.method == ("GET" if status in BECOMES_GET else method)
    if status in BECOMES_GET:
        assert response.status_code == 200
    else:
        assert response.status_code == 428  # the target asks for its own precondition
    assert origins.data(target) == {"name": "target"}  # untouched


@pytest.mark.parametrize("session", sorted(SESSIONS))
@pytest.mark.parametrize("target_name", sorted(TARGETS))
@pytest.mark.parametrize("status", (301, 307, 308))
def test_after_a_redirect_the_targets_own_tag_applies(
    status: int, target_name: str, session: str
) -> None:
    location, target = TARGETS[target_name]
    origins = world(status, location, target)
    origins.document(target, {"name": "target"}, 5)
    send = SESSIONS[session](origins)
    send("GET", SOURCE)
    send("GET", target)  # the client learns "v5" for the target
    response = send("PUT", SOURCE, json={"name": "mine"})
    puts = [r.conditionals() for r in origins.at(target) if r.method == "PUT"]
    assert puts == [{"if-match": '"v5"'}]
    assert response.status_code == 200
    assert origins.data(target) == {"name": "mine"}


# -- the application's own conditional headers --------------------------------------------------


@pytest.mark.parametrize("session", sorted(SESSIONS))
@pytest.mark.parametrize("target_name", sorted(TARGETS))
@pytest.mark.parametrize("status", STATUSES)
def test_the_applications_if_match_does_not_follow_to_another_url(
    status: int, target_name: str, session: str
) -> None:
    location, target = TARGETS[target_name]
    origins = world(status, location, target)
    send = SESSIONS[session](origins)
    response = send("PUT", SOURCE, json={"name": "mine"}, headers={"If-Match": '"v3"'})
    [first] = origins.at(SOURCE)
    assert first.conditionals() == {"if-match": '"v3"'}
    assert target_hops(origins, target) == [{}]
    assert response.status_code == (200 if status in BECOMES_GET else 428)
    assert origins.data(target) == {"name": "target"}
    # The application's request object shows what went on to the target.
    assert "If-Match" not in response.request.headers


@pytest.mark.parametrize("session", sorted(SESSIONS))
@pytest.mark.parametrize("field", ["If-Match", "If-None-Match"])
@pytest.mark.parametrize("status", (307, 308))
def test_wildcards_name_no_representation_and_follow(status: int, field: str, session: str) -> None:
    origins = world(status, TWO + "/docs/new", TWO + "/docs/9")
    send = SESSIONS[session](origins)
    send("PUT", SOURCE, json={"name": "mine"}, headers={field: "*"})
    assert [r.conditionals() for r in origins.at(TWO + "/docs/new")] == [{field.lower(): "*"}]
    created = field == "If-None-Match"  # create-only: there was nothing at the target
    assert origins.data(TWO + "/docs/new") == ({"name": "mine"} if created else None)


@pytest.mark.parametrize("session", sorted(SESSIONS))
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize(
    "headers",
    [
        {"If-None-Match": '"v3"'},
        {"If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"},
        {"If-Range": '"v3"', "Range": "bytes=0-3"},
    ],
    ids=["if-none-match", "if-modified-since", "if-range"],
)
def test_a_gets_own_validators_do_not_follow_to_another_url(
    headers: dict[str, str], status: int, session: str
) -> None:
    origins = world(status, ONE + "/docs/2", ONE + "/docs/2", methods=None)
    send = SESSIONS[session](origins)
    response = send("GET", SOURCE, headers=headers)
    sent = {name.lower(): value for name, value in headers.items()}
    first = origins.at(SOURCE)[0].headers
    assert {name: first.get(name) for name in sent} == sent  # they went to their own URL
    [hop] = origins.at(ONE + "/docs/2")
    assert hop.conditionals() == {}
    assert "range" not in hop.headers  # a range of another representation is dropped with it
    # A full 200 of the target, never a 304 (or a range) meant for the first URL's copy.
    assert (response.status_code, response.json()) == (200, {"name": "target"})


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_a_redirect_to_the_same_url_keeps_the_conditions(session: str) -> None:
    origins = Origins()
    origins.document(SOURCE, {"name": "source"}, 3)
    origins.redirect(SOURCE, 307, SOURCE, ["PUT"])
    send = SESSIONS[session](origins)
    send("GET", SOURCE)
    with pytest.raises(httpx.TooManyRedirects):
        send("PUT", SOURCE, json={"name": "mine"})
    puts = [r.conditionals() for r in origins.at(SOURCE) if r.method == "PUT"]
    assert len(puts) > 2 and all(hop == {"if-match": '"v3"'} for hop in puts)


# -- the cache, several hops, not following ------------------------------------------------------


@pytest.mark.parametrize("session", sorted(SESSIONS))
@pytest.mark.parametrize("status", STATUSES)
def test_the_caches_if_none_match_does_not_follow(status: int, session: str) -> None:
    origins = Origins()
    origins.document(SOURCE, {"name": "source"}, 3)
    origins.document(ONE + "/docs/2", {"name": "target"}, 3)
    send = SESSIONS[session](origins, cache=ResponseCache())
    assert send("GET", SOURCE).json() == {"name": "source"}  # cached with "v3"
    origins.redirect(SOURCE, status, "/docs/2", ["GET"])
    response = send("GET", SOURCE)
    assert origins.at(SOURCE)[-1].conditionals() == {"if-none-match": '"v3"'}
    assert [r.conditionals() for r in origins.at(ONE + "/docs/2")] == [{}]
    assert (response.status_code, response.json()) == (200, {"name": "target"})


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_each_hop_of_a_chain_gets_its_own_tag(session: str) -> None:
    middle, last = ONE + "/docs/2", TWO + "/docs/3"
    origins = Origins()
    origins.document(SOURCE, {"name": "source"}, 3)
    origins.document(middle, {"name": "middle"}, 4)
    origins.document(last, {"name": "last"}, 3)
    send = SESSIONS[session](origins)
    send("GET", SOURCE)
    send("GET", middle)
    origins.redirect(SOURCE, 308, middle, ["PUT"])
    origins.redirect(middle, 307, last, ["PUT"])
    response = send("PUT", SOURCE, json={"name": "mine"})
    hops = [(r.host, r.path, r.conditionals()) for r in origins.received if r.method == "PUT"]
    assert hops == [
        ("one.test", "/docs/1", {"if-match": '"v3"'}),
        ("one.test", "/docs/2", {"if-match": '"v4"'}),
        ("two.test", "/docs/3", {}),
    ]
    assert response.status_code == 428
    assert origins.data(last) == {"name": "last"}


def test_without_following_next_request_carries_no_tag() -> None:
    origins = world(307, TWO + "/docs/1", TWO + "/docs/1")
    with httpx.Client(transport=IfMatchTransport(httpx.MockTransport(origins))) as http:
        http.get(SOURCE)
        response = http.put(SOURCE, json={"name": "mine"})
        assert response.status_code == 307
        assert response.next_request is not None
        assert "If-Match" not in response.next_request.headers
        # Sending it later is a request of its own: still no tag for the other origin.
        followed = http.send(response.next_request)
    assert followed.status_code == 428
    assert [r.conditionals() for r in origins.at(TWO + "/docs/1")] == [{}]


def test_a_tag_set_on_a_non_redirect_response_stays_visible() -> None:
    origins = Origins()
    origins.document(SOURCE, {"name": "source"}, 3)
    with httpx.Client(transport=IfMatchTransport(httpx.MockTransport(origins))) as http:
        http.get(SOURCE)
        response = http.put(SOURCE, json={"name": "mine"})
    assert response.request.headers["If-Match"] == '"v3"'


# -- Location and Content-Location --------------------------------------------------------------


@pytest.mark.parametrize("session", sorted(SESSIONS))
@pytest.mark.parametrize(
    ("status", "field"), [(201, "Location"), (200, "Content-Location"), (201, "Content-Location")]
)
@pytest.mark.parametrize(
    "where",
    [
        TWO + "/docs/1",
        "//two.test/docs/1",
        "https://one.test/docs/1",
        "http://one.test:8080/docs/1",
    ],
)
def test_a_location_on_another_origin_teaches_nothing(
    where: str, status: int, field: str, session: str
) -> None:
    origins = Origins()
    origins.on_post(ONE + "/docs", status, [(field, where), ("ETag", '"v3"')])
    store = ValidatorStore()
    send = SESSIONS[session](origins, store=store)
    send("POST", ONE + "/docs", json={"name": "new"})
    assert len(store) == 0
    foreign = httpx.URL(ONE).join(where)
    origins.document(str(foreign), {"name": "theirs"}, 3)
    assert send("PUT", str(foreign), json={"name": "mine"}).status_code == 428
    assert [r.conditionals() for r in origins.at(str(foreign))] == [{}]


@pytest.mark.parametrize("session", sorted(SESSIONS))
@pytest.mark.parametrize("where", [ONE + "/docs/7", "/docs/7", "http://ONE.test:80/docs/7"])
def test_a_201_location_on_the_same_origin_is_learned(where: str, session: str) -> None:
    origins = Origins()
    origins.on_post(ONE + "/docs", 201, [("Location", where), ("ETag", '"v1"')])
    origins.document(ONE + "/docs/7", {"name": "new"}, 1)
    store = ValidatorStore()
    send = SESSIONS[session](origins, store=store)
    send("POST", ONE + "/docs", json={"name": "new"})
    assert store.get(ONE + "/docs/7") is not None
    assert send("PUT", ONE + "/docs/7", json={"name": "mine"}).status_code == 200
    assert origins.at(ONE + "/docs/7")[0].conditionals() == {"if-match": '"v1"'}


def test_a_foreign_location_invalidates_no_cache_entry() -> None:
    origins = Origins()
    origins.document(TWO + "/docs/1", {"name": "two"}, 3)
    origins.on_post(ONE + "/docs", 201, [("Location", TWO + "/docs/1")])
    cache = ResponseCache()
    send = sync_session(origins, cache=cache)
    send("GET", TWO + "/docs/1")
    send("POST", ONE + "/docs", json={})
    assert len(cache) == 1  # RFC 9111 §4.4: not on another host


# -- the strategies ------------------------------------------------------------------------------


def test_a_read_that_was_redirected_is_the_targets_document() -> None:
    origins = Origins()
    origins.document(ONE + "/docs/2", {"name": "target"}, 5)
    origins.redirect(SOURCE, 301, "/docs/2", ["GET"])
    origins.document(SOURCE, {"name": "source"}, 5)
    with Client(transport=httpx.MockTransport(origins), follow_redirects=True) as client:
        document = client.read(SOURCE)
        assert (document.url, document.etag) == (ONE + "/docs/2", ETag("v5"))
        client.save(document, {"name": "mine"})
    assert origins.data(ONE + "/docs/2") == {"name": "mine"}
    assert origins.data(SOURCE) == {"name": "source"}  # its tag never went to SOURCE
    assert [r.method for r in origins.at(SOURCE)] == ["GET"]


@pytest.mark.parametrize("status", STATUSES)
def test_a_strategys_write_is_never_redirected(status: int) -> None:
    origins = world(status, ONE + "/docs/2", ONE + "/docs/2")
    with Client(
        transport=httpx.MockTransport(origins), follow_redirects=True, backoff=NO_WAIT
    ) as client:
        with pytest.raises(UnexpectedStatus) as caught:
            client.update(SOURCE, lambda document: {**document, "name": "mine"})
        assert caught.value.status == status
        document = client.read(SOURCE)
        with pytest.raises(UnexpectedStatus):
            client.save(document, {"name": "mine"}, on_conflict="merge")
    assert origins.at(ONE + "/docs/2") == []
    assert origins.data(ONE + "/docs/2") == {"name": "target"}


# -- the rules on their own ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("http://api.test/a", "http://api.test/b?x=1", True),
        ("http://api.test/a", "http://API.test:80/b", True),
        ("https://api.test/a", "https://api.test:443/", True),
        ("http://api.test/a", "https://api.test/a", False),
        ("http://api.test/a", "http://api.test:8080/a", False),
        ("http://api.test/a", "http://other.test/a", False),
        ("http://api.test/a", "http://user@api.test/a", False),
        ("http://user@api.test/a", "http://user@API.test/b", True),
        ("http://api.test/a", "/a", False),
        ("http://api.test/a", "http://api.test:99999/a", False),
        ("http://[::1]:8000/a", "http://[::1]:8000/b", True),
    ],
)
def test_same_origin_is_scheme_host_and_port(a: str, b: str, same: bool) -> None:
    assert same_origin(a, b) is same
    assert same_origin(b, a) is same


@pytest.mark.parametrize(
    ("other", "same"),
    [
        ("http://API.test:80/docs/1#top", True),
        ("http://api.test/docs/1/", False),
        ("http://api.test/docs/1?v=2", False),
        ("http://api.test/docs/2", False),
        ("https://api.test/docs/1", False),
        ("http://api.test:8080/docs/1", False),
        ("http://[::1/docs/1", False),
    ],
)
def test_a_tag_may_go_only_to_its_own_url(other: str, same: bool) -> None:
    assert same_url("http://api.test/docs/1", other) is same


def test_origin() -> None:
    assert origin("HTTP://Api.Test/x") == ("http", "api.test", 80)
    assert origin("ftp://api.test/x") is None  # no known default port


@pytest.mark.parametrize(
    ("status", "location", "target"),
    [
        (307, "/docs/2", ONE + "/docs/2"),
        (301, "//two.test/x", "http://two.test/x"),
        (308, TWO, TWO),
        (304, "/docs/2", None),
        (300, "/docs/2", None),
        (307, None, None),
        (200, "/docs/2", None),
    ],
)
def test_redirect_target(status: int, location: str | None, target: str | None) -> None:
    headers = () if location is None else (("Location", location),)
    assert redirect_target(SOURCE, Response(status, headers)) == target


def test_forwarded_headers() -> None:
    lines = (
        ("Accept", "application/json"),
        ("If-Match", '"v3"'),
        ("If-None-Match", "*"),
        ("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("Authorization", "Bearer x"),
    )
    request = Request("PUT", SOURCE, lines)
    elsewhere = Response(307, (("Location", "/docs/2"),))
    assert forwarded_headers(request, elsewhere) == (
        ("Accept", "application/json"),
        ("If-None-Match", "*"),
        ("Authorization", "Bearer x"),  # httpx and requests decide about credentials
    )
    itself = Response(307, (("Location", "http://ONE.test:80/docs/1#top"),))
    assert forwarded_headers(request, itself) == lines
    assert forwarded_headers(request, Response(200)) is None
    assert forwarded_headers(request, Response(412, (("Location", "/x"),))) is None
    broken = Response(307, (("Location", "http://[::1/x"),))
    assert forwarded_headers(request, broken) == elsewhere_lines(lines)


def elsewhere_lines(lines: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(line for line in lines if line[0] not in ("If-Match", "If-Unmodified-Since"))
