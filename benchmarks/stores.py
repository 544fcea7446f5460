"""Benchmark the SQLAlchemy compare-and-set store on PostgreSQL.

1. Cost of the guard: a conditional UPDATE (``WHERE id = ? AND version = ?``) against a plain
   unconditional UPDATE of the same row, one writer, A/B interleaved; first as bare statements on
   one psycopg connection, then through ``SQLAlchemyStore`` against an equivalent unconditional
   SQLAlchemy update, both committing every write. Target ratio >= 0.9.
2. Contention: committed writes per second with 1, 4 and 16 writers on one row and 16 writers
   on 16 rows. Every writer loops GET (read) -> PUT (write) -> retry on conflict, incrementing
   a counter; ``ifmatch`` writes through the store, ``check-then-write`` re-reads the version,
   compares it in Python and then updates unconditionally (what popular helpers do). Lost
   updates = acknowledged increments missing from the final counters.

Usage: ``python benchmarks/stores.py [--quick] [--url postgresql://...]``. The database URL
defaults to ``$IFMATCH_POSTGRES_URL`` or ``postgresql://postgres@127.0.0.1:5432/test``; a
scratch database is created and dropped. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from sqlalchemy import Integer, String, create_engine, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ifmatch.stores import Expectation
from ifmatch.stores.sqlalchemy import NextLastModified, SQLAlchemyStore, Versioned


class Base(DeclarativeBase):
    pass


class Counter(Versioned, Base):
    __tablename__ = "bench_counters"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


# --- 1. the cost of the guard ----------------------------------------------------------------


def statement_pair(dsn: str, key: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """Bare statements on one autocommit connection (each UPDATE is its own transaction)."""
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("SET synchronous_commit = off")
    version = [
        conn.execute("SELECT version FROM bench_counters WHERE id = %s", (key,)).fetchone()[0]
    ]  # type: ignore[index]

    def conditional() -> None:
        row = conn.execute(
            "UPDATE bench_counters SET value = value + 1, version = version + 1 "
            "WHERE id = %s AND version = %s RETURNING version",
            (key, version[0]),
        ).fetchone()
        assert row is not None
        version[0] = row[0]

    def unconditional() -> None:
        row = conn.execute(
            "UPDATE bench_counters SET value = value + 1, version = version + 1 "
            "WHERE id = %s RETURNING version",
            (key,),
        ).fetchone()
        version[0] = row[0]  # type: ignore[index]

    return conditional, unconditional


def store_pair(
    factory: sessionmaker[Session], key: str
) -> tuple[Callable[[], None], Callable[[], None]]:
    """The store (own transaction, commit per write) against the same work unguarded."""
    store = SQLAlchemyStore(Counter, factory)
    version = [store.read(key).version]  # type: ignore[union-attr]

    def conditional() -> None:
        result = store.compare_and_set(key, Expectation.version(version[0]), {"value": 1})
        assert result.won and result.snapshot is not None
        version[0] = result.snapshot.version

    table = Counter.__table__
    plain = (
        update(table)
        .where(table.c.id == key)
        .values(
            value=1,
            version=table.c.version + 1,
            last_modified=NextLastModified(table.c.last_modified),
        )
        .returning(table.c.version, table.c.last_modified)
    )

    def unconditional() -> None:
        with factory() as session, session.begin():
            version[0] = session.execute(plain).one()[0]

    return conditional, unconditional


def interleaved(
    pairs: dict[str, tuple[Callable[[], None], Callable[[], None]]], batch: int, reps: int
) -> None:
    for name, (a, b) in pairs.items():
        rates: dict[str, list[float]] = {"conditional": [], "unconditional": []}
        for rep in range(reps):
            order = [("conditional", a), ("unconditional", b)]
            for label, fn in order if rep % 2 == 0 else order[::-1]:
                start = time.perf_counter()
                for _ in range(batch):
                    fn()
                rates[label].append(batch / (time.perf_counter() - start))
        cond, uncond = (
            statistics.median(rates["conditional"]),
            statistics.median(rates["unconditional"]),
        )
        print(
            f"  {name:<10} conditional {fmt(rates['conditional'])}   unconditional "
            f"{fmt(rates['unconditional'])}   ratio {cond / uncond:.3f}"
        )


def fmt(rates: list[float]) -> str:
    return f"{statistics.median(rates):8.0f}/s [{min(rates):.0f}-{max(rates):.0f}]"


# --- 2. contention -------------------------------------------------------------------------


def ifmatch_writer(factory: sessionmaker[Session]) -> Callable[[str], bool]:
    store = SQLAlchemyStore(Counter, factory)

    def write(key: str) -> bool:
        snapshot, values = store.get(key)  # type: ignore[misc]  # GET
        result = store.compare_and_set(  # PUT If-Match
            key, Expectation.version(snapshot.version), {"value": values["value"] + 1}
        )
        return result.won

    return write


def naive_writer(factory: sessionmaker[Session]) -> Callable[[str], bool]:
    table = Counter.__table__
    row_of = select(table.c.version, table.c.value)

    def write(key: str) -> bool:
        with factory() as session:  # GET
            seen = session.execute(row_of.where(table.c.id == key)).one()
        with factory() as session, session.begin():  # PUT If-Match, checked then written
            current = session.execute(select(table.c.version).where(table.c.id == key)).scalar()
            if current != seen.version:
                return False  # 412
            session.execute(
                update(table)
                .where(table.c.id == key)
                .values(
                    value=seen.value + 1,
                    version=table.c.version + 1,
                    last_modified=NextLastModified(table.c.last_modified),
                )
            )
        return True

    return write


def contend(
    factory: sessionmaker[Session],
    make: Callable[[sessionmaker[Session]], Callable[[str], bool]],
    keys: list[str],
    writers: int,
    seconds: float,
) -> Cell:
    """Run ``writers`` threads for ``seconds``; count acknowledged, kept and lost writes."""
    store = SQLAlchemyStore(Counter, factory)
    before = {key: store.get(key)[1]["value"] for key in keys}  # type: ignore[index]
    acked = [0] * writers
    stop = time.perf_counter() + seconds

    def run(number: int) -> None:
        write, key = make(factory), keys[number % len(keys)]
        while time.perf_counter() < stop:
            if write(key):
                acked[number] += 1

    threads = [threading.Thread(target=run, args=(n,)) for n in range(writers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    after = {key: store.get(key)[1]["value"] for key in keys}  # type: ignore[index]
    applied = sum(after[key] - before[key] for key in keys)
    return Cell(sum(acked) / elapsed, applied / elapsed, sum(acked) - applied, sum(acked))


@dataclass
class Cell:
    acked_rate: float  # acknowledged (2xx) writes per second
    kept_rate: float  # writes per second still present at the end
    lost: int  # acknowledged but overwritten
    acked: int


def contention(factory: sessionmaker[Session], keys: list[str], seconds: float, reps: int) -> None:
    cases = [
        ("1 writer, 1 row", 1, 1),
        ("4 writers, 1 row", 4, 1),
        ("16 writers, 1 row", 16, 1),
        ("16 writers, 16 rows", 16, 16),
    ]
    impls = [("ifmatch", ifmatch_writer), ("check-then-write", naive_writer)]
    print(
        f"\n  {'case':<20} {'implementation':<17} {'acknowledged writes/s':<26} "
        f"{'kept writes/s':<26} lost updates"
    )
    for label, writers, rows in cases:
        cells: dict[str, list[Cell]] = {name: [] for name, _ in impls}
        for rep in range(reps):
            for name, make in impls if rep % 2 == 0 else impls[::-1]:
                cells[name].append(contend(factory, make, keys[:rows], writers, seconds))
        for name, runs in cells.items():
            lost, acked = sum(c.lost for c in runs), sum(c.acked for c in runs)
            print(
                f"  {label:<20} {name:<17} {fmt([c.acked_rate for c in runs]):<26} "
                f"{fmt([c.kept_rate for c in runs]):<26} {lost} of {acked}"
            )
        ours, theirs = (statistics.median(c.kept_rate for c in cells[n]) for n, _ in impls)
        print(f"  {label:<20} {'ratio (kept)':<17} {ours / theirs:.3f}")


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--url",
        default=os.environ.get("IFMATCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args(argv)
    batch, reps, seconds = (100, 5, 1.0) if args.quick else (200, 21, 3.0)
    admin = args.url.replace("postgresql+psycopg://", "postgresql://")
    name = f"ifmatch_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    dsn = urlsplit(admin)._replace(path=f"/{name}").geturl()
    engine = create_engine(
        dsn.replace("postgresql://", "postgresql+psycopg://"), pool_size=20, max_overflow=4
    )
    # Part 1 measures the statements, not the disk: commits there do not wait for the WAL flush.
    fast = create_engine(
        dsn.replace("postgresql://", "postgresql+psycopg://"),
        connect_args={"options": "-c synchronous_commit=off"},
    )
    try:
        Base.metadata.create_all(engine)
        factory = sessionmaker(engine)
        keys = [f"row{i}" for i in range(16)]
        with factory() as session:
            session.add_all(Counter(id=key, value=0) for key in keys)
            session.commit()
        print(
            f"PostgreSQL {engine.dialect.server_version_info}, batch {batch}, {reps} reps, "
            f"{seconds}s per contention cell, {'quick' if args.quick else 'full'} run"
        )
        print(
            "\n1. cost of the guard, one writer, A/B interleaved, synchronous_commit=off "
            "(writes/s median [min-max])"
        )
        interleaved(
            {
                "statement": statement_pair(dsn, keys[0]),
                "store": store_pair(sessionmaker(fast), keys[1]),
            },
            batch,
            reps,
        )
        print("\n2. contention: GET -> PUT If-Match -> retry on conflict")
        contention(factory, keys, seconds, 1 if args.quick else 5)
    finally:
        engine.dispose()
        fast.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
