"""FastAPI on a PostgreSQL primary + lagging streaming replica: ``AsyncReplicaReads`` and the
ASGI read-your-writes middleware (the asyncio path of ``ifmatch.stores.replicas``)."""

from __future__ import annotations

import uuid

import pytest
from anyio.from_thread import BlockingPortal
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from ifmatch.integrations.replicas import ReadYourWritesASGI
from ifmatch.stores.replicas import AsyncReplicaReads
from ifmatch.stores.sqlalchemy import AsyncSQLAlchemyStore
from integrations import example_fastapi
from integrations.example_models import Document, create_tables
from integrations.http_conformance import AsgiClient
from pg_replica import PgPair

pytestmark = pytest.mark.services


def test_a_client_sees_its_own_write(pg_pair: PgPair, portal: BlockingPortal) -> None:
    """Create, then at once read with the new tag and write with it, replica 2 s behind:
    without read-your-writes 404 and 412 (the replica has no such document yet); with it
    304 and 200; the reads without a newer tag stay on the replica."""
    create_tables(pg_pair.primary_url)
    pg_pair.wait_caught_up()
    url = pg_pair.url(pg_pair.primary_port, "postgresql+asyncpg")
    replica_url = pg_pair.url(pg_pair.replica_port, "postgresql+asyncpg")
    pg_pair.set_lag(2000)
    seen = []
    engines = []
    try:
        for ryw in (False, True):
            primary = create_async_engine(url)
            replica = create_async_engine(replica_url)
            engines += [primary, replica]
            store: AsyncReplicaReads[str] = AsyncReplicaReads(
                AsyncSQLAlchemyStore(Document, async_sessionmaker(primary)),
                AsyncSQLAlchemyStore(Document, async_sessionmaker(replica)),
                read_your_writes=ryw,
            )
            app = example_fastapi.create_app(store)  # type: ignore[arg-type]
            app.add_middleware(ReadYourWritesASGI)
            client = AsgiClient(app, portal)
            path = f"/documents/{uuid.uuid4().hex[:8]}"
            created = client.request(
                "PUT", path, headers={"If-None-Match": "*"}, json={"text": "a"}
            )
            tag = created.headers["ETag"]
            read = client.request("GET", path, headers={"If-None-Match": tag})
            write = client.request("PUT", path, headers={"If-Match": tag}, json={"text": "b"})
            untagged = client.request("GET", "/documents/none-such")
            seen.append(
                (created.status_code, read.status_code, write.status_code, untagged.status_code)
            )
            assert store.counts.replica >= 1  # the untagged read
    finally:
        pg_pair.set_lag(0)
        for engine in engines:
            portal.call(engine.dispose)
    assert seen == [(201, 404, 412, 404), (201, 304, 200, 404)]
