"""The document table the example apps use on a real database."""

from __future__ import annotations

from sqlalchemy import String, Text, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ifmatch.stores.sqlalchemy import Versioned

DATABASE_URL_ENV = "IFMATCH_EXAMPLE_DATABASE_URL"


class Base(DeclarativeBase):
    pass


class Document(Versioned, Base):
    __tablename__ = "ifmatch_example_documents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text, default="")


def create_tables(url: str) -> None:
    """Create the table once, before any server worker starts."""
    engine = create_engine(url)
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()
