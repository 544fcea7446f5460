"""The SQLAlchemy compare-and-set store on PostgreSQL, without any web framework.

1. The cost of the guard, one writer, interleaved: a conditional UPDATE
   (``... WHERE id = %s AND version = %s``) against the same UPDATE without the version
   predicate, as bare psycopg statements and through ``SQLAlchemyStore.compare_and_set``
   against the equivalent unguarded SQLAlchemy update; each write commits. Target >= 0.9.
2. Contention: 1, 4, 16 and 64 threads on one row (and 16 on 16 rows), each looping read ->
   write -> retry on conflict, incrementing a counter. ``ifmatch`` writes through the store;
   ``check-then-write`` re-reads the version, compares it in Python and then updates without
   the predicate, as popular helpers do. Lost updates = acknowledged increments missing from
   the final counters.

    python -m benchmarks --only stores
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import psycopg
from sqlalchemy import Engine, Integer, String, create_engine, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ifmatch.stores import Expectation
from ifmatch.stores.sqlalchemy import NextLastModified, SQLAlchemyStore, Versioned

from .harness.cells import Cell, Options, Sample, interleave
from .harness.machine import Conditions
from .harness.records import Finding, Ratio, Result, Target
from .harness.servers import Database, scratch_database

ROWS = 16
WRITERS = (1, 4, 16, 64)


class Base(DeclarativeBase):
    pass


class Counter(Versioned, Base):
    __tablename__ = "bench_counters"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


def timed(write: Callable[[], None], db: Database) -> Callable[[int], Sample]:
    """A cell measure: call ``write`` for ``seconds``; writes per second, and the CPU time per
    write of this thread plus the database backends (a cost other tenants of a shared VM
    disturb less than they disturb the wall clock)."""

    def measure(seconds: float) -> Sample:
        backends, cpu = db.backend_cpu_seconds(), time.thread_time()
        count, started = 0, time.perf_counter()
        stop = started + seconds
        while time.perf_counter() < stop:
            write()
            count += 1
        rate = count / (time.perf_counter() - started)
        used = time.thread_time() - cpu + db.backend_cpu_seconds() - backends
        return Sample(rate, {"cpu_us": used / max(count, 1) * 1e6})

    return measure


# --- 1. the cost of the guard ------------------------------------------------------------------


def statement_cells(db: Database, key: str) -> list[Cell]:
    """Bare statements on one autocommit connection (each UPDATE its own transaction)."""
    conn = psycopg.connect(db.url(), autocommit=True)
    conn.execute("SET synchronous_commit = off")
    row = conn.execute("SELECT version FROM bench_counters WHERE id = %s", (key,)).fetchone()
    version = [row[0] if row else 0]
    base = "UPDATE bench_counters SET value = value + 1, version = version + 1 WHERE id = %s"

    def conditional() -> None:
        found = conn.execute(base + " AND version = %s RETURNING version", (key, version[0]))
        version[0] = found.fetchone()[0]  # type: ignore[index]

    def unconditional() -> None:
        version[0] = conn.execute(base + " RETURNING version", (key,)).fetchone()[0]  # type: ignore[index]

    return [
        Cell("stores statement guarded", timed(conditional, db), "writes/s"),
        Cell("stores statement plain", timed(unconditional, db), "writes/s"),
    ]


def store_cells(factory: sessionmaker[Session], db: Database, key: str) -> list[Cell]:
    """The store (its own transaction, one commit per write) against the same work unguarded."""
    store = SQLAlchemyStore(Counter, factory)
    snapshot = store.read(key)
    version = [snapshot.version if snapshot else 0]

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

    return [
        Cell("stores store guarded", timed(conditional, db), "writes/s"),
        Cell("stores store plain", timed(unconditional, db), "writes/s"),
    ]


# --- 2. contention -----------------------------------------------------------------------------


def ifmatch_writer(factory: sessionmaker[Session]) -> Callable[[str], bool]:
    store = SQLAlchemyStore(Counter, factory)

    def write(key: str) -> bool:
        found = store.get(key)  # GET
        assert found is not None
        snapshot, values = found
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
        with factory() as session, session.begin():  # PUT If-Match: checked, then written
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


def values_of(factory: sessionmaker[Session], keys: list[str]) -> int:
    with factory() as session:
        rows = session.execute(select(Counter.value).where(Counter.id.in_(keys)))
        return sum(value for (value,) in rows)


def contention_cell(
    name: str,
    factory: sessionmaker[Session],
    make: Callable[[sessionmaker[Session]], Callable[[str], bool]],
    keys: list[str],
    writers: int,
) -> Cell:
    def measure(seconds: float) -> Sample:
        before = values_of(factory, keys)
        acked = [0] * writers
        attempts = [0] * writers
        start = threading.Barrier(writers + 1)
        stop: list[float] = []

        def run(number: int) -> None:
            write, key = make(factory), keys[number % len(keys)]
            start.wait()
            while time.perf_counter() < stop[0]:
                attempts[number] += 1
                acked[number] += write(key)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(writers)]
        for thread in threads:
            thread.start()
        stop.append(time.perf_counter() + seconds)
        started = time.perf_counter()
        start.wait()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        applied = values_of(factory, keys) - before
        return Sample(
            sum(acked) / elapsed,
            {
                "acknowledged": float(sum(acked)),
                "applied": float(applied),
                "lost": float(sum(acked) - applied),
                "refused": float(sum(attempts) - sum(acked)),
            },
        )

    return Cell(name, measure, "writes/s")


# --- main --------------------------------------------------------------------------------------


@contextmanager
def engines(db: Database) -> Iterator[tuple[Engine, Engine]]:
    """A pooled engine for the contention threads, and one whose commits do not wait for the
    WAL flush (part 1 measures the statements, not the disk)."""
    url = db.url("psycopg")
    engine = create_engine(url, pool_size=70, max_overflow=4)
    fast = create_engine(url, connect_args={"options": "-c synchronous_commit=off"})
    try:
        yield engine, fast
    finally:
        engine.dispose()
        fast.dispose()


def run(options: Options) -> list[Result]:
    conditions = Conditions()
    result = Result("stores", "Stores: the SQLAlchemy compare-and-set store on PostgreSQL")
    with scratch_database() as db, engines(db) as (engine, fast):
        Base.metadata.create_all(engine)
        factory = sessionmaker(engine)
        keys = [f"row{i}" for i in range(ROWS)]
        with factory() as session:
            session.add_all(Counter(id=key, value=0) for key in keys)
            session.commit()
        guard = statement_cells(db, keys[0]) + store_cells(sessionmaker(fast), db, keys[1])
        # Short cells, many repetitions: the two arms of a pair run a fraction of a second
        # apart, so the VM's drift hits both alike.
        fine = replace(options, seconds=0.25, repetitions=options.repetitions * 12)
        result.series += interleave(guard, options if options.quick else fine, "stores guard")
        for kind in ("statement", "store"):
            guarded, plain = (
                result.get(f"stores {kind} guarded"),
                result.get(f"stores {kind} plain"),
            )
            title = f"Stores: guarded / plain UPDATE ({kind}), one writer"
            result.ratios += [
                Ratio.of(f"stores.guard.{kind}", title, guarded, plain, Target(">=", 0.9)),
                Ratio.of(
                    f"stores.guard_cpu.{kind}",
                    title + ", by CPU per write",
                    guarded,
                    plain,
                    cost="cpu_us",
                ),
            ]
        cases = [(w, 1) for w in ((16,) if options.quick else WRITERS)] + [(ROWS, ROWS)]
        contended = replace(options, repetitions=min(options.repetitions, 3))
        for writers, rows in cases:
            label = f"{writers} on {rows} row{'s' if rows > 1 else ''}"
            block = [
                contention_cell(f"stores {impl} {label}", factory, make, keys[:rows], writers)
                for impl, make in (("ifmatch", ifmatch_writer), ("check-then-write", naive_writer))
            ]
            result.series += interleave(block, contended, f"stores {label}")
            for impl in ("ifmatch", "check-then-write"):
                series = result.get(f"stores {impl} {label}")
                lost = sum(series.extra["lost"])
                result.findings.append(
                    Finding(
                        f"stores.lost.{impl}.{writers}.{rows}",
                        f"Stores: {impl} lost updates, {label}",
                        lost,
                        Target("==", 0) if impl == "ifmatch" else Target(">=", 0),
                        f"{lost:.0f} of {sum(series.extra['acknowledged']):.0f} acknowledged",
                    )
                )
        result.context = {
            "postgresql": ".".join(map(str, engine.dialect.server_version_info or ())),
            "guard_commits": "synchronous_commit=off",
            "conditions": conditions.finish(),
        }
    return [result]
