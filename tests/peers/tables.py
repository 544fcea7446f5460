"""The table every peer stack serves (``peer_documents``), and the rows the tests create."""

from __future__ import annotations

import os

from sqlalchemy import Integer, String, Text, create_engine, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DATABASE_URL_ENV = "IFMATCH_PEERS_DATABASE_URL"
TABLE = "peer_documents"


class Base(DeclarativeBase):
    pass


class PeerDocument(Base):
    __tablename__ = TABLE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)


def database_url(driver: str = "psycopg") -> str:
    """The database URL from the environment, for SQLAlchemy with ``driver``."""
    url = os.environ[DATABASE_URL_ENV]
    return url.replace("postgresql://", f"postgresql+{driver}://", 1)


def create_table(url: str) -> None:
    """Create the table (if missing) in the database at ``url`` (a SQLAlchemy URL)."""
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()


def add_row(url: str, title: str, text: str) -> int:
    """Insert a document; return its id."""
    engine = create_engine(url)
    with engine.begin() as connection:
        new_id = connection.execute(
            insert(PeerDocument).values(title=title, text=text).returning(PeerDocument.id)
        ).scalar_one()
    engine.dispose()
    return int(new_id)


def read_row(url: str, doc_id: int) -> tuple[str, str, int]:
    """The title, text and version of a document."""
    engine = create_engine(url)
    with engine.connect() as connection:
        row = connection.execute(
            select(PeerDocument.title, PeerDocument.text, PeerDocument.version).where(
                PeerDocument.id == doc_id
            )
        ).one()
    engine.dispose()
    return row.title, row.text, row.version
