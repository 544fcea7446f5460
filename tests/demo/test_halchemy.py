"""halchemy against the running demo, the flow the demo advertises for HAL clients: take a
document from the list, update it through its bare ``_etag`` (written); a stale copy gets 412
and writes nothing."""

from __future__ import annotations

from typing import Any

from integrations.halchemy_flow import HalClient, check_list_update_flow, status


def body(text: str) -> dict[str, Any]:
    return {"title": "From the list", "text": text}


def test_an_item_from_the_list_updates_through_its_bare_etag(demo_url: str) -> None:
    client = HalClient(demo_url)
    created = client.api.using_endpoint("/api/documents/").post(body("first\n"))
    assert status(created) == 201, created._halchemy.response
    check_list_update_flow(client, "/api/documents/", created["id"], lambda text: body(text + "\n"))
