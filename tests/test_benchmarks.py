"""The benchmark suite's own logic: records, ratios, and rendering the performance page.

The measurements themselves are never run here (``python -m benchmarks --quick`` is CI's smoke
test of those); these tests use hand-made results and assert nothing about time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness.records import Finding, Ratio, Result, Series, Target  # noqa: E402


def series(name: str, values: list[float], **extra: list[float]) -> Series:
    return Series(name, "req/s", values, dict(extra))


def test_ratio_pairs_the_repetitions_and_reads_its_target() -> None:
    top = series("a", [10, 30, 20])
    bottom = series("b", [10, 10, 40])
    ratio = Ratio.of("k", "a / b", top, bottom, Target(">=", 0.95))
    assert ratio.values == [1.0, 3.0, 0.5]
    assert ratio.median == 1.0
    assert ratio.spread == (0.5, 3.0)
    assert ratio.met is True
    slower = Ratio.of("k", "slower", series("c", [5, 5, 5]), bottom, Target(">=", 0.95))
    assert slower.median == 0.5 and slower.met is False


def test_a_cost_ratio_is_inverted_into_a_throughput_ratio() -> None:
    guarded = series("guarded", [1, 1], cpu_us=[200.0, 100.0])
    plain = series("plain", [1, 1], cpu_us=[100.0, 100.0])
    ratio = Ratio.of("k", "guarded / plain", guarded, plain, cost="cpu_us")
    assert ratio.values == [0.5, 1.0]


def test_a_result_survives_json() -> None:
    result = Result(
        "drf",
        "Django REST framework",
        context={"peers": {"drf-extensions": "body hash"}},
        series=[series("x", [1.0, 2.0], server_cpu_us=[5.0, 6.0])],
        ratios=[Ratio("r", "R", "x", "x", [1.0], Target(">=", 0.9))],
        findings=[Finding("drf.lost.ifmatch.4", "lost", 0.0, Target("==", 0), "0 of 9")],
    )
    again = Result.from_json(json.loads(json.dumps(result.to_json())))
    assert again == result
    assert again.findings[0].met and again.ratios[0].met


def synthetic_run() -> dict[str, object]:
    """A run with one framework (two sizes, one peer, a race) and the core."""
    from benchmarks.web import APPS, analyse

    framework = APPS["flask"].frameworks[0]
    cells = []
    for key, ours, peer in (("field-1KB", 2.0, 1.0), ("field-1MB", 30.0, 0.9)):
        for impl, gain in (("ifmatch", ours), ("flask-smorest", peer), ("werkzeug", peer)):
            cells.append(series(f"flask {impl} 200 {key}", [100, 110], server_cpu_us=[900, 950]))
            cells.append(
                series(f"flask {impl} 304 {key}", [100 * gain, 110 * gain], server_cpu_us=[90, 95])
            )
    cells.append(series("flask bare 200 field-1KB", [101, 109]))
    cells += [series("flask bare PUT", [50, 52]), series("flask ifmatch PUT", [40, 51])]
    for writers in (1, 4):
        for impl, lost in (("ifmatch", 0.0), ("flask-smorest", 3.0)):
            cells.append(
                series(
                    f"flask {impl} race {writers}",
                    [20, 22],
                    acknowledged=[40.0, 44.0],
                    lost=[lost, lost],
                )
            )
    result = Result(
        "flask",
        "Flask (gunicorn, 2 workers)",
        context={"peers": {"flask-smorest": "body hash", "werkzeug": "body hash"}},
        series=cells,
    )
    analyse(framework, result)
    core = Result(
        "core",
        "Core",
        series=[series("core ifmatch a", [1.0]), series("core django a", [3.0])],
    )
    core.ratios.append(Ratio.of("core.a", "GET", core.series[1], core.series[0], Target(">=", 2)))
    return {"quick": True, "machine": {}, "benchmarks": [result.to_json(), core.to_json()]}


def test_the_analysis_finds_the_targets_and_the_peers_it_beats() -> None:
    run = synthetic_run()
    flask = Result.from_json(run["benchmarks"][0])  # type: ignore[index]
    assert flask.ratio("flask.not_modified.ifmatch.field-1MB").median == 30.0
    assert flask.ratio("flask.not_modified.ifmatch.field-1MB").met is True
    assert flask.ratio("flask.put").median == pytest.approx((0.8 + 51 / 52) / 2)
    beats = {f.key: f.met for f in flask.findings if ".beats." in f.key}
    assert beats["flask.beats.werkzeug.field-1MB"] is True
    lost = {f.key: f.value for f in flask.findings if ".lost." in f.key}
    assert lost == {
        "flask.lost.ifmatch.1": 0.0,
        "flask.lost.flask-smorest.1": 6.0,
        "flask.lost.ifmatch.4": 0.0,
        "flask.lost.flask-smorest.4": 6.0,
    }


def test_the_page_states_each_target_with_its_measured_value(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from benchmarks.report import render

    render(synthetic_run(), tmp_path)
    page = (tmp_path / "performance.md").read_text()
    assert "ifmatch 304 / 200, 1 MB field >= 10 | **30.0×** (30.0–30.0) | met" in page
    assert "zero lost updates at every concurrency level | **0** lost" in page
    assert "quick** smoke run" in page
    for figure in ("not-modified-ratio.png", "lost-updates.png", "core.png"):
        assert (tmp_path / "performance" / figure).stat().st_size > 10_000
        assert f"(performance/{figure})" in page


def synthetic_goodput() -> dict[str, object]:
    """A goodput run of one stack: the naive loop, the client without and with its limiter."""
    from benchmarks.goodput import STACKS, analyse

    stack = STACKS[0]
    cells = []
    for writers, naive in ((1, 100.0), (16, 20.0)):
        for arm, gain in (("naive", 1.0), ("update-unlimited", 1.5), ("update", 3.0)):
            cells.append(
                series(
                    f"{stack.name} {arm} goodput {writers}",
                    [naive * gain, naive * gain * 1.2],
                    acknowledged=[50.0, 60.0],
                    lost=[0.0, 0.0],
                    duplicated=[0.0, 1.0 if arm == "update-unlimited" else 0.0],
                    gets_per_write=[1.0, 1.0],
                    puts_per_write=[2.0, 2.0],
                )
            )
    result = Result(f"goodput-{stack.name}", f"Goodput: {stack.title}, x", series=cells)
    analyse(stack, result)
    return {"started": "2026-01-01T00:00:00+00:00", "benchmarks": [result.to_json()]}


def test_goodput_ratios_and_findings() -> None:
    result = Result.from_json(synthetic_goodput()["benchmarks"][0])  # type: ignore[index]
    ratio = result.ratio("drf.goodput.update.16")
    assert ratio.median == pytest.approx(3.0)
    assert ratio.met is True
    assert result.ratio("drf.goodput.update.1").target is None, "no target at one writer"
    doubled = {f.key: f.met for f in result.findings}
    assert doubled["drf.goodput_lost.update-unlimited.16"] is False
    assert doubled["drf.goodput_lost.update.16"] is True


def test_a_separate_goodput_run_joins_the_page(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from benchmarks.goodput_report import merge_separate_run
    from benchmarks.report import render

    separate = tmp_path / "goodput.json"
    separate.write_text(json.dumps(synthetic_goodput()))
    run = merge_separate_run(synthetic_run(), separate)
    assert merge_separate_run(run, separate) == run, "a run with goodput results keeps them"
    render(run, tmp_path)
    page = (tmp_path / "performance.md").read_text()
    assert "## Goodput under contention" in page
    assert "Measured in a run of its own" in page
    assert "update / naive, 16 writers >= 2 | **3.00×** (3.00–3.00) | met" in page
    assert "| Django REST framework | 16 | 22.0 | 33.0 | 66.0 | **3.00×**" in page
    assert "zero lost updates at every concurrency level | **2** lost" in page  # doubled
    assert (tmp_path / "performance" / "goodput.png").stat().st_size > 10_000


def test_a_rerun_of_one_part_replaces_it_and_is_named_on_the_page(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from benchmarks.report import merge_rerun, render

    run = synthetic_run()
    run["quick"] = False
    names = [r["name"] for r in run["benchmarks"]]  # type: ignore[attr-defined]
    rerun = {
        "started": "2026-01-02T00:00:00+00:00",
        "seconds": 400.0,
        "machine": {"commit": "abc1234", "dirty": False},
        "conditions": {"load_average_before": [0.5], "load_average_after": [2.0], "busy_pct": 90},
        "benchmarks": [run["benchmarks"][0]],  # type: ignore[index]
    }
    merged = merge_rerun(run, rerun)
    assert [r["name"] for r in merged["benchmarks"]] == names, "the parts keep their order"
    assert merged["reruns"] == [
        {
            "parts": [names[0]],
            "started": "2026-01-02T00:00:00+00:00",
            "commit": "abc1234",
            "seconds": 400.0,
            "conditions": rerun["conditions"],
            "dirty": False,
        }
    ]
    again = merge_rerun(merged, {**rerun, "started": "2026-01-03T00:00:00+00:00"})
    assert [r["started"] for r in again["reruns"]] == ["2026-01-03T00:00:00+00:00"]
    with pytest.raises(ValueError, match="quick"):
        merge_rerun(run, {**rerun, "quick": True})
    render(merged, tmp_path)
    page = (tmp_path / "performance.md").read_text()
    assert f"- Rerun of {names[0]}: 2026-01-02T00:00:00+00:00, commit `abc1234`, 400.0 s" in page


def test_the_profile_table_lists_the_top_frames_per_request() -> None:
    import cProfile

    from benchmarks.profile_fastapi import report

    def leaf(n: int) -> int:
        return sum(range(n))

    def request() -> int:
        return leaf(20_000) + leaf(10)

    profile = cProfile.Profile()
    profile.enable()
    for _ in range(10):
        request()
    profile.disable()
    lines = report(profile, 10, 2)
    calls = int(lines[0].split()[0])
    assert lines[0].endswith("function calls per request") and 3 <= calls <= 6
    assert len(lines) == 3
    # The built-in sum takes most of the time, called twice per request.
    assert lines[1].startswith("| `builtins.sum` |") and lines[1].endswith("| 2.0 |")
    shares = [float(line.split("|")[2].strip(" %")) for line in lines[1:]]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 100
