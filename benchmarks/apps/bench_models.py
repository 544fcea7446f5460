"""Tables and data shared by the Flask and FastAPI benchmark apps.

Three documents: ``small`` (about 1 KB of text), ``large`` (1,000 nested items, about 100 KB of
JSON once serialized), ``huge`` (one 1 MB text field); plus one ``put-<n>`` document per
writer thread for the PUT measurements.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String, Text, create_engine, insert
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ifmatch.stores.sqlalchemy import Versioned

DATABASE_URL_ENV = "IFMATCH_BENCH_DATABASE_URL"
ITEMS = 1000
WRITERS = 8


class Base(DeclarativeBase):
    pass


class BenchDoc(Versioned, Base):
    __tablename__ = "bench_docs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Deferred: a 1 MB column is loaded only when a response needs it, not to read a version.
    text: Mapped[str] = mapped_column(Text, default="", deferred=True)


class BenchItem(Base):
    __tablename__ = "bench_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_id: Mapped[str] = mapped_column(ForeignKey("bench_docs.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    tags: Mapped[str] = mapped_column(String(64))


def populate(url: str) -> None:
    """Create the tables and the documents."""
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    docs = [
        {"id": "small", "text": "s" * 1000},
        {"id": "large", "text": "a document with a thousand nested items"},
        {"id": "huge", "text": "h" * 1_000_000},
        *({"id": f"put-{n}", "text": "x" * 200} for n in range(WRITERS)),
    ]
    items = [
        {
            "doc_id": "large",
            "position": n,
            "name": f"item number {n}",
            "value": n * 1.25,
            "tags": "alpha,beta,gamma",
        }
        for n in range(ITEMS)
    ]
    with engine.begin() as connection:
        connection.execute(insert(BenchDoc), docs)
        connection.execute(insert(BenchItem), items)
    engine.dispose()
