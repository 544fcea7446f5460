"""halchemy, the HAL client this project grew from, against real servers.

halchemy updates a resource taken from a list with ``If-Match`` set to the item's ``_etag``
member exactly as the list wrote it: a bare token, ``If-Match: v3``
(``halchemy.Api.get_optimistic_concurrency_header``). ``check_list_update_flow`` runs that flow
with halchemy's own client and checks what ifmatch promises it: the current item's update is
written, a stale copy's update or delete gets 412 and writes nothing, and re-reading the list
and retrying succeeds.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any
from unittest import mock

import requests


def _import_halchemy() -> Any:
    original = requests.Session
    try:
        import halchemy
    finally:
        # Importing halchemy replaces requests.Session process-wide with its own subclass
        # (halchemy/requests_helper.py); put the original back so no other test runs on it.
        requests.Session = original  # type: ignore[misc]
    return halchemy


halchemy = _import_halchemy()


class HalClient:
    """A ``halchemy.Api`` on ``base_url`` with halchemy's default configuration."""

    def __init__(self, base_url: str) -> None:
        # halchemy reads a .halchemy file from the project root or the home directory: an
        # empty home keeps this machine's own out of the test.
        with tempfile.TemporaryDirectory() as home, mock.patch.dict(os.environ, {"HOME": home}):
            self.api = halchemy.Api(base_url)
        # Its default headers carry the Basic credentials of Eve's demo; none are needed here.
        self.api.remove_headers(["Authorization"])

    def create(self, url: str, body: dict[str, Any]) -> Any:
        """PUT ``If-None-Match: *`` (create only) through halchemy."""
        return self.api.using_endpoint(url).with_headers({"If-None-Match": "*"}).put(body)

    def items(self, url: str) -> list[Any]:
        """The items of the list at ``url``: an Eve/HAL collection's ``_items``, or a JSON
        array of HAL items (as Django REST framework lists them)."""
        listing = self.api.using_endpoint(url).get()
        assert status(listing) == 200, listing._halchemy.response
        if "_items" in listing:
            return list(listing.collection("_items"))
        return [halchemy.HalResource(item) for item in listing._halchemy.response.body]

    def item(self, url: str, item_id: object) -> Any | None:
        return next((item for item in self.items(url) if item["id"] == item_id), None)

    def put(self, item: Any, body: dict[str, Any]) -> Any:
        """Update ``item`` through its ``self`` link: halchemy sends its ``_etag`` as If-Match."""
        return self.api.follow(item).to("self").put(body)

    def delete(self, item: Any) -> Any:
        return self.api.follow(item).to("self").delete()


def status(resource: Any) -> int:
    code: int = resource._halchemy.response.status_code
    return code


def sent_if_match(resource: Any) -> str | None:
    value: str | None = resource._halchemy.request.headers.get("If-Match")
    return value


def check_list_update_flow(
    client: HalClient, list_url: str, item_id: object, body: Callable[[str], dict[str, Any]]
) -> None:
    """Update the item ``item_id`` of the list at ``list_url`` the halchemy way, and check
    that ifmatch accepts exactly the current copy's bare ``_etag`` and never a stale one's."""
    item = client.item(list_url, item_id)
    assert item is not None, f"{item_id!r} is not in {list_url}"
    tag = item["_etag"]
    assert tag and not tag.startswith(('"', "W/")), tag  # a bare token, Eve-style

    # The current copy: halchemy sends its bare _etag, and the write goes through.
    second, third = body("second"), body("third")
    written = client.put(item, second)
    assert sent_if_match(written) == tag
    assert status(written) == 200, written._halchemy.response
    after = client.item(list_url, item_id)
    assert after is not None and after["text"] == second["text"] and after["_etag"] != tag

    # The same copy again: its _etag is stale now. 412, carrying the current tag, and
    # nothing is written, whether the write is an update or a delete.
    for stale in (client.put(item, body("lost")), client.delete(item)):
        assert sent_if_match(stale) == tag
        assert status(stale) == 412, stale._halchemy.response
        problem = stale._halchemy.response.body
        assert problem["code"] == "etag-mismatch", problem
        assert problem["current_etag"] == f'"{after["_etag"]}"', problem
        unchanged = client.item(list_url, item_id)
        assert unchanged is not None
        assert (unchanged["text"], unchanged["_etag"]) == (second["text"], after["_etag"])

    # What the client does with a 412: re-read the list, re-apply, retry.
    retried = client.put(after, third)
    assert status(retried) == 200, retried._halchemy.response
    fresh = client.item(list_url, item_id)
    assert fresh is not None and fresh["text"] == third["text"]
    deleted = client.delete(fresh)
    assert status(deleted) == 204, deleted._halchemy.response
    assert client.item(list_url, item_id) is None
