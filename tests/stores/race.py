"""The multi-process lost-update harness (parent side); see ``race_worker`` for one process.

``run_race`` starts N worker processes, releases them together, collects what each one was
told, and compares it with what the record holds at the end. A lost update is a token whose
write was acknowledged but which is missing; a phantom is a token present although its write
was never acknowledged. Zero of both is the only passing result.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services import PYTHON, subprocess_env


@dataclass(frozen=True)
class RaceReport:
    acked: frozenset[str]
    errors: frozenset[str]
    gave_up: frozenset[str]
    present: tuple[str, ...]
    attempts: int
    lost_results: int

    @property
    def lost_updates(self) -> frozenset[str]:
        return self.acked - set(self.present)

    @property
    def phantoms(self) -> frozenset[str]:
        return frozenset(self.present) - self.acked

    @property
    def duplicates(self) -> list[str]:
        return [token for token, n in Counter(self.present).items() if n > 1]

    def assert_no_lost_updates(self) -> None:
        """Every acknowledged token present exactly once, nothing unacknowledged present."""
        assert self.acked, "no write was acknowledged: the race did not run"
        assert not self.lost_updates, f"{len(self.lost_updates)} acknowledged writes lost"
        assert not self.phantoms, f"unacknowledged writes present: {sorted(self.phantoms)[:5]}"
        assert not self.duplicates, f"tokens applied twice: {self.duplicates[:5]}"
        assert not self.gave_up, f"{len(self.gave_up)} tokens hit the attempt bound"

    def summary(self) -> str:
        return (
            f"acked={len(self.acked)} lost_updates={len(self.lost_updates)} "
            f"errors={len(self.errors)} attempts={self.attempts} lost_results={self.lost_results}"
        )


def run_race(
    spec: dict[str, Any],
    final_body: Callable[[], str],
    *,
    processes: int = 4,
    threads: int = 8,
    tokens: int = 2,
    timeout: float = 120,
) -> RaceReport:
    """Run ``processes`` × ``threads`` writers, each appending ``tokens`` unique tokens."""
    workers = []
    for number in range(processes):
        worker_spec = {**spec, "process": number, "threads": threads, "tokens": tokens}
        workers.append(
            subprocess.Popen(
                [PYTHON, "-m", "stores.race_worker", json.dumps(worker_spec)],
                env=subprocess_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        for worker in workers:  # every process imported and connected: start them together
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready", (
                worker.stderr.read() if worker.stderr else ""
            )
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        summaries = [_collect(worker, timeout) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    return RaceReport(
        acked=frozenset(t for s in summaries for t in s["acked"]),
        errors=frozenset(t for s in summaries for t in s["errors"]),
        gave_up=frozenset(t for s in summaries for t in s["gave_up"]),
        present=tuple(final_body().split()),
        attempts=sum(s["attempts"] for s in summaries),
        lost_results=sum(s["lost"] for s in summaries),
    )


def _collect(worker: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    out, err = worker.communicate(timeout=timeout)
    assert worker.returncode == 0, err[-2000:]
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return summary
