"""Fuzzed precondition headers never produce a 500 and never let a write through that the
precondition forbids."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import djangoproject
from ifmatch.core import Proceed, ResourceState, evaluate

djangoproject.setup()

from django.test import Client  # noqa: E402

from djangoproject.docs.models import Document  # noqa: E402
from ifmatch.stores.django import snapshot_of  # noqa: E402

ALPHABET = st.sampled_from(list('"W/w*, \t;v1x2\\') + [chr(c) for c in (0x01, 0x7F, 0xE9, 0xFF)])
TAG_LIKE = st.one_of(
    st.text(ALPHABET, max_size=40),
    st.lists(st.sampled_from(['"v1"', 'W/"v1"', "v1", '"v2"', "*", '"', "W/", ""]), max_size=5).map(
        ", ".join
    ),
)
DATE_LIKE = st.one_of(
    st.text(max_size=40).filter(lambda s: "\n" not in s and "\r" not in s),
    st.sampled_from(["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "x"]),
)
HEADERS = st.dictionaries(
    st.sampled_from(["If-Match", "If-None-Match", "If-Unmodified-Since", "If-Modified-Since"]),
    st.one_of(TAG_LIKE, DATE_LIKE),
    max_size=4,
)
PATHS = ["/api/documents/{pk}/", "/plain/documents/{pk}/", "/decorated/documents/{pk}/"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "HEAD", "PUT", "PATCH", "DELETE"]),
    headers=HEADERS,
    path=st.sampled_from(PATHS),
)
def test_fuzzed_headers(method: str, headers: dict[str, str], path: str) -> None:
    doc = Document(title="t", text="x")
    doc.save()
    before = ResourceState(snapshot_of(doc).etag(), doc.last_modified)
    url = path.format(pk=doc.pk)
    response = Client(raise_request_exception=False).generic(
        method, url, data=b'{"text": "fuzz"}', content_type="application/json", headers=headers
    )
    assert response.status_code < 500, response.content[:300]
    assert response.status_code in {200, 204, 304, 400, 412, 428}
    after = Document.objects.filter(pk=doc.pk).first()
    wrote = after is None or after.version != doc.version
    if method in {"PUT", "PATCH", "DELETE"}:
        assert wrote == (200 <= response.status_code < 300)
        if wrote:
            # The core, given the same headers and the state before, allowed this write.
            assert isinstance(evaluate(method, headers, before), Proceed)
            assert after is None or after.version == doc.version + 1
    else:
        assert not wrote
