"""The in-memory store against the shared contract."""

from __future__ import annotations

import threading

import pytest

from ifmatch.stores import Expectation, Outcome
from ifmatch.stores.memory import MemoryStore

from .contract import Backend, ContractSuite, IdempotencySuite


class TestMemoryContract(ContractSuite, IdempotencySuite):
    @pytest.fixture
    def backend(self) -> Backend:
        return Backend("memory", MemoryStore())


def test_threads_racing_on_one_version_have_exactly_one_winner() -> None:
    store = MemoryStore()
    store.compare_and_set("doc", Expectation(exists=False), {"body": ""})
    barrier = threading.Barrier(16)
    outcomes: list[Outcome] = []

    def write(name: str) -> None:
        barrier.wait()
        outcomes.append(
            store.compare_and_set("doc", Expectation.version(1), {"body": name}).outcome
        )

    threads = [threading.Thread(target=write, args=(str(i),)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(Outcome.WON) == 1
    assert outcomes.count(Outcome.LOST) == 15
