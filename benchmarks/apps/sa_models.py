"""SQLAlchemy tables of the Flask and FastAPI benchmark apps, and their seeding:
``python -m sa_models`` (database URL in ``IFMATCH_BENCH_DATABASE_URL``)."""

from __future__ import annotations

import os

import shapes
from sqlalchemy import Float, ForeignKey, Integer, String, Text, create_engine, insert
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ifmatch.stores.sqlalchemy import Versioned

DATABASE_URL_ENV = "IFMATCH_BENCH_DATABASE_URL"


class Base(DeclarativeBase):
    pass


class BenchDoc(Versioned, Base):
    __tablename__ = "bench_docs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    # Deferred: loaded when a response needs it, not when the row is read for its version.
    text: Mapped[str] = mapped_column(Text, default="", deferred=True)


class BenchItem(Base):
    __tablename__ = "bench_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_id: Mapped[int] = mapped_column(ForeignKey("bench_docs.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    tags: Mapped[str] = mapped_column(String(64))


def seed(url: str) -> None:
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    items = [
        {"doc_id": shape.doc_id, **item}
        for shape in shapes.RESOURCES
        for item in shapes.items_of(shape)
    ]
    with engine.begin() as connection:
        connection.execute(insert(BenchDoc), shapes.documents())
        connection.execute(insert(BenchItem), items)
    engine.dispose()


if __name__ == "__main__":
    seed(os.environ[DATABASE_URL_ENV].replace("postgresql://", "postgresql+psycopg://"))
