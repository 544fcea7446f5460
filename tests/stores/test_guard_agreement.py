"""The header check and the store's guard give the same verdict, for generated tag lists.

The core decides a PUT by comparing opaque strings with the current tag ``"v<N>"``; a store
decides the same write by comparing version numbers, read from the same tags by
``Expectation.from_condition``. For every generated If-Match / If-None-Match (canonical and
non-canonical version tags, variants, weak tags, foreign tags, ``*``), If-Unmodified-Since,
current version and policy, the store applies the write if and only if the core said Proceed:
in the reference semantics (``Expectation.allows``), in the memory store and in the SQLAlchemy
store on SQLite.

When the core refuses (412), the store is handed the request's preconditions themselves, as
it would be had another writer changed the resource between the check and the write.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, update
from sqlalchemy.orm import sessionmaker

from ifmatch.core import (
    ANY,
    ETag,
    ETagList,
    Policy,
    Preconditions,
    Proceed,
    ResourceState,
    WriteCondition,
    evaluate,
    format_etag_list,
    format_http_date,
    version_etag,
)
from ifmatch.stores import Expectation, Outcome, Snapshot
from ifmatch.stores.memory import MemoryStore
from ifmatch.stores.sqlalchemy import SQLAlchemyStore

from .sa_support import Doc, create_tables, make_engine

VARIANTS = [None, "application/json"]
LAST_MODIFIED = [
    datetime(2024, 6, 13, 12, 0, 0, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC),
]
FAR = [
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),
]
# Current versions: small ones, and the edges of 32-bit, exact-double and 64-bit integers (a
# write bumps the version, so SQLite's 64-bit column stops one short of its maximum).
VERSIONS = st.one_of(
    st.integers(min_value=0, max_value=12),
    st.sampled_from([2**31 - 1, 2**31, 2**53 - 1, 2**53, 2**53 + 1, 2**63 - 2]),
)


def _digest(variant: str) -> str:
    return version_etag(0, variant=variant).opaque.partition("~")[2]


@st.composite
def tags(draw: st.DrawFn, current: int, variant: str | None) -> ETag:
    """A tag near ``current``: canonical or not, of this variant or another, weak or strong,
    or no version tag at all."""
    if draw(st.integers(0, 9)) == 0:
        opaque = draw(st.sampled_from(["abc", "c.3q2-7w", "V1", "v", "*x", "vv1", "\xb9"]))
        return ETag(opaque, weak=draw(st.booleans()))
    number = draw(
        st.sampled_from(
            [current, current, current + 1, max(current - 1, 0), 0, 2**31, 2**53 + 1, 10**20]
        )
    )
    text = draw(
        st.sampled_from(
            [str(number)] * 4
            + [f"0{number}", f"+{number}", f"-{number}", f"{number}.0", f"{number}_", f"{number:e}"]
        )
    )
    suffix = draw(
        st.sampled_from(
            [
                "" if variant is None else f"~{_digest(variant)}",
                "" if variant is None else f"~{_digest(variant)}",
                "",
                f"~{_digest('text/html')}",
                "~",
            ]
        )
    )
    return ETag(f"v{text}{suffix}", weak=draw(st.integers(0, 3)) == 0)


def tag_lists(current: int, variant: str | None) -> st.SearchStrategy[ETagList | None]:
    return st.one_of(
        st.none(),
        st.just(ANY),
        st.lists(tags(current, variant), min_size=1, max_size=5).map(tuple),
    )


@dataclass(frozen=True)
class Case:
    version: int
    variant: str | None
    last_modified: datetime
    headers: dict[str, str]
    policy: Policy

    @property
    def snapshot(self) -> Snapshot:
        return Snapshot(self.version, self.last_modified)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    version = draw(VERSIONS)
    variant = draw(st.sampled_from(VARIANTS))
    last_modified = draw(st.sampled_from(LAST_MODIFIED))
    if_match = draw(tag_lists(version, variant))
    if_none_match = draw(tag_lists(version, variant))
    since = draw(
        st.one_of(
            st.none(),
            st.sampled_from(FAR),
            st.sampled_from([-1, 0, 1]).map(lambda s: last_modified + timedelta(seconds=s)),
        )
    )
    headers: dict[str, str] = {}
    if if_match is not None:
        headers["If-Match"] = format_etag_list(if_match)
    if if_none_match is not None:
        headers["If-None-Match"] = format_etag_list(if_none_match)
    if since is not None and since.year >= 1:
        headers["If-Unmodified-Since"] = format_http_date(since)
    policy = Policy(accept_weak_echo=draw(st.booleans()))
    return Case(version, variant, last_modified, headers, policy)


def verdict(case: Case) -> tuple[bool | None, Expectation]:
    """The core's verdict (True: Proceed, False: 412, None: neither) and the expectation the
    store's guard is given."""
    resource = ResourceState(version_etag(case.version, variant=case.variant), case.last_modified)
    decision = evaluate("PUT", case.headers, resource, case.policy)
    if isinstance(decision, Proceed):
        return True, Expectation.from_condition(decision.condition, variant=case.variant)
    parsed = Preconditions.from_headers(case.headers)
    ius = parsed.if_unmodified_since if parsed.if_match is None else None
    condition = WriteCondition(parsed.if_match, parsed.if_none_match, ius)
    direct = Expectation.from_condition(condition, variant=case.variant)
    return (False if decision.status == 412 else None), direct


@settings(max_examples=600, deadline=None)
@given(cases())
def test_the_reference_semantics_agree_with_the_header_check(case: Case) -> None:
    proceed, expect = verdict(case)
    if proceed is not None:
        assert expect.allows(case.snapshot) is proceed, (case, expect)


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('agree') / 'agree.db'}")
    create_tables(engine)
    yield engine
    engine.dispose()


def _seed_memory(store: MemoryStore, key: str, snapshot: Snapshot) -> None:
    store._records[key] = (snapshot, {"body": "original"})


def _seed_sqlite(engine: Engine, store: SQLAlchemyStore[Any], key: str, snapshot: Snapshot) -> None:
    created = store.compare_and_set(key, Expectation(exists=False), {"body": "original"})
    assert created.won
    table = Doc.__table__
    with engine.begin() as connection:
        connection.execute(
            update(table)
            .where(table.c.id == key)
            .values(version=snapshot.version, last_modified=snapshot.last_modified)
        )
    assert store.read(key) == snapshot


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=cases())
def test_stores_apply_the_write_exactly_when_the_header_check_proceeds(
    sqlite_engine: Engine, case: Case
) -> None:
    proceed, expect = verdict(case)
    if proceed is None:
        return  # 428: no store is asked
    key = uuid.uuid4()  # a fresh record each time (not drawn: keys are not part of the case)
    memory = MemoryStore()
    sqlite: SQLAlchemyStore[Any] = SQLAlchemyStore(Doc, sessionmaker(sqlite_engine))
    _seed_memory(memory, key.hex, case.snapshot)
    _seed_sqlite(sqlite_engine, sqlite, key.hex, case.snapshot)
    for store in (memory, sqlite):
        result = store.compare_and_set(key.hex, expect, {"body": "written"})
        assert result.outcome is (Outcome.WON if proceed else Outcome.LOST), (store, case)
        after = store.read(key.hex)
        assert after is not None
        assert after.version == case.version + (1 if proceed else 0)
