"""An in-process document API for ``httpx.MockTransport``: the core's ``evaluate`` and the
in-memory compare-and-set store, answering like an ifmatch server (412/428 problem bodies
carrying ``current_etag``, 304 for conditional GETs). Records every request it sees."""

from __future__ import annotations

import json
from typing import Any

import httpx

from ifmatch.client.patch import apply_json_patch, apply_merge_patch
from ifmatch.core import (
    PROBLEM_MEDIA_TYPE,
    NotModified,
    Proceed,
    ResourceState,
    decision_problem,
    evaluate,
)
from ifmatch.stores import Expectation, Snapshot
from ifmatch.stores.memory import MemoryStore


class FakeAPI:
    """``/docs`` (list, POST) and ``/docs/<id>`` (GET, PUT, PATCH, DELETE)."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.requests: list[httpx.Request] = []

    def put_doc(self, doc_id: str, body: dict[str, Any]) -> Snapshot:
        """Create or replace a document directly (another writer, from the client's view)."""
        current = self.store.read(doc_id)
        expect = Expectation(exists=False) if current is None else Expectation()
        result = self.store.compare_and_set(doc_id, expect, {"body": body})
        assert result.snapshot is not None
        return result.snapshot

    def body(self, doc_id: str) -> Any:
        found = self.store.get(doc_id)
        return None if found is None else found[1]["body"]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        parts = request.url.path.strip("/").split("/")
        if parts == ["docs"]:
            return self.collection(request)
        if len(parts) == 2 and parts[0] == "docs":
            return self.document(request, parts[1])
        return httpx.Response(404)

    def representation(self, doc_id: str, snapshot: Snapshot, status: int = 200) -> httpx.Response:
        return httpx.Response(
            status,
            headers={
                "ETag": str(snapshot.etag()),
                "Content-Type": "application/hal+json",
                "Vary": "Accept",
            },
            json={**self.body(doc_id), "_links": {"self": {"href": f"/docs/{doc_id}"}}},
        )

    def collection(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            doc_id = f"n{len(self.requests)}"
            snapshot = self.put_doc(doc_id, json.loads(request.content))
            response = self.representation(doc_id, snapshot, 201)
            response.headers["Location"] = f"/docs/{doc_id}"
            return response
        items = []
        for doc_id in sorted(key for key in self.store._records if isinstance(key, str)):
            found = self.store.get(doc_id)
            assert found is not None
            items.append(
                {
                    **found[1]["body"],
                    "_links": {"self": {"href": f"/docs/{doc_id}"}},
                    "_etag": str(found[0].etag()),
                }
            )
        return httpx.Response(200, json={"_embedded": {"docs": items}})

    def problem(
        self, status: int, body: dict[str, Any], snapshot: Snapshot | None
    ) -> httpx.Response:
        headers = {"Content-Type": PROBLEM_MEDIA_TYPE}
        if snapshot is not None:
            headers["ETag"] = str(snapshot.etag())
        return httpx.Response(status, headers=headers, content=json.dumps(body).encode())

    def document(self, request: httpx.Request, doc_id: str) -> httpx.Response:
        found = self.store.get(doc_id)
        snapshot = None if found is None else found[0]
        if snapshot is None and request.method in ("GET", "PATCH", "DELETE"):
            return httpx.Response(404)
        resource = ResourceState(
            None if snapshot is None else snapshot.etag(), exists=snapshot is not None
        )
        decision = evaluate(request.method, request.headers.multi_items(), resource)
        if isinstance(decision, NotModified):
            return httpx.Response(304, headers=dict(decision.headers))
        if not isinstance(decision, Proceed):
            return self.problem(decision.status, decision_problem(decision), snapshot)
        if request.method == "GET":
            assert snapshot is not None
            return self.representation(doc_id, snapshot)
        expect = Expectation.from_condition(decision.condition)
        if request.method == "DELETE":
            result = self.store.compare_and_delete(doc_id, expect)
            return httpx.Response(204) if result.won else httpx.Response(412)
        new = json.loads(request.content)
        if request.headers.get("Content-Type") == "application/json-patch+json":
            new = apply_json_patch(self.body(doc_id), new)
        elif request.method == "PATCH":
            new = apply_merge_patch(self.body(doc_id), new)
        new = {key: value for key, value in new.items() if key != "_links"}
        result = self.store.compare_and_set(doc_id, expect, {"body": new})
        if not result.won or result.snapshot is None:
            return self.problem(412, {"status": 412, "detail": "lost"}, result.snapshot)
        return self.representation(doc_id, result.snapshot, 201 if snapshot is None else 200)
