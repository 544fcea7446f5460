"""The validator store: URL normalisation, variants, LRU bounds, thread safety."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from ifmatch.client import Validators, ValidatorStore, normalize_url
from ifmatch.client.validators import vary_names
from ifmatch.core import ETag

V1, V2, V3 = (Validators(ETag(f"v{n}")) for n in (1, 2, 3))


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("http://API.test/a", "http://api.test/a"),
        ("http://api.test:80/a", "http://api.test/a"),
        ("https://api.test:443/a", "https://api.test/a"),
        ("https://api.test:8443/a", "https://api.test:8443/a"),
        ("http://api.test", "http://api.test/"),
        ("http://api.test/a?x=1#frag", "http://api.test/a?x=1"),
        ("http://[::1]:8000/a", "http://[::1]:8000/a"),
        ("http://user@api.test/a", "http://user@api.test/a"),
    ],
)
def test_normalize_url(url: str, normal: str) -> None:
    assert normalize_url(url) == normal


def test_query_strings_are_different_resources() -> None:
    store = ValidatorStore()
    store.learn("http://a.test/x?page=1", V1)
    assert store.get("http://a.test/x?page=2") is None


@pytest.mark.parametrize(
    ("vary", "names"),
    [
        (None, ()),
        ("", ()),
        ("Accept", ("accept",)),
        ("accept-language, Accept", ("accept", "accept-language")),
        ("Accept, *", ("*",)),
    ],
)
def test_vary_names(vary: str | None, names: tuple[str, ...]) -> None:
    assert vary_names(vary) == names


def test_exact_variant_first_then_the_newest() -> None:
    store = ValidatorStore()
    json_ = (("Accept", "application/json"),)
    html = (("Accept", "text/html"),)
    store.learn("http://a.test/x", V1, vary=("accept",), request_headers=json_)
    store.learn("http://a.test/x", V2, vary=("accept",), request_headers=html)
    assert store.get("http://a.test/x", json_) == V1
    assert store.get("http://a.test/x", html) == V2
    # An unknown variant falls back to the newest: a wrong tag can only cause a 412.
    assert store.get("http://a.test/x", (("Accept", "text/csv"),)) == V2


def test_a_change_of_vary_drops_the_old_variants() -> None:
    store = ValidatorStore()
    store.learn("http://a.test/x", V1, vary=("accept",), request_headers=(("Accept", "a"),))
    store.learn("http://a.test/x", V2, vary=(), request_headers=())
    assert store.get("http://a.test/x", (("Accept", "a"),)) == V2


def test_learning_without_a_variant_replaces_every_variant() -> None:
    store = ValidatorStore()
    store.learn("http://a.test/x", V1, vary=("accept",), request_headers=(("Accept", "a"),))
    store.learn("http://a.test/x", V2)  # e.g. from a list payload
    assert store.get("http://a.test/x", (("Accept", "a"),)) == V2


def test_empty_validators_forget() -> None:
    store = ValidatorStore()
    store.learn("http://a.test/x", V1)
    store.learn("http://a.test/x", Validators())
    assert "http://a.test/x" not in store


def test_last_modified_alone_is_a_validator() -> None:
    store = ValidatorStore()
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    store.learn("http://a.test/x", Validators(last_modified=moment))
    assert store.get("http://a.test/x") == Validators(None, moment)


def test_least_recently_used_urls_are_evicted() -> None:
    store = ValidatorStore(max_urls=2)
    store.learn("http://a.test/1", V1)
    store.learn("http://a.test/2", V2)
    assert store.get("http://a.test/1") == V1  # 1 is now the most recently used
    store.learn("http://a.test/3", V3)
    assert len(store) == 2
    assert "http://a.test/2" not in store
    assert "http://a.test/1" in store and "http://a.test/3" in store


def test_variants_per_url_are_bounded() -> None:
    store = ValidatorStore(max_variants=2)
    for n in range(5):
        store.learn(
            "http://a.test/x",
            Validators(ETag(f"v{n}")),
            vary=("accept",),
            request_headers=(("Accept", f"type/{n}"),),
        )
    assert store.get("http://a.test/x", (("Accept", "type/0"),)) == Validators(ETag("v4"))
    assert store.get("http://a.test/x", (("Accept", "type/3"),)) == Validators(ETag("v3"))


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ValidatorStore(max_urls=0)


def test_concurrent_use_stays_within_bounds() -> None:
    store = ValidatorStore(max_urls=50)

    def work(offset: int) -> None:
        for n in range(500):
            url = f"http://a.test/{(n + offset) % 80}"
            store.learn(url, Validators(ETag(f"v{n}")))
            store.get(url)
            if n % 7 == 0:
                store.forget(url)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store) <= 50


def test_clear() -> None:
    store = ValidatorStore()
    store.learn("http://a.test/x", V1)
    store.clear()
    assert len(store) == 0
