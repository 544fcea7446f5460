"""The figures of ``docs/performance.md``, drawn with matplotlib from a run's results."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .apps import shapes
from .harness.records import Ratio, Result, Series

IFMATCH = "#1f5fbf"
PEER_COLORS = ["#e07b00", "#b8336a", "#6b8e23", "#7a5195"]
MISSED = "#e07b00"
GREY = "#888888"
SIZES = ("1KB", "100KB", "1MB")
SIZE_LABELS = ("1 KB", "100 KB", "1 MB")
KINDS = (("field", "one text field"), ("nested", "nested objects"))
FRAMEWORK_ORDER = ("drf", "django", "flask", "fastapi")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": "#e6e6e6",
            "grid.linewidth": 0.8,
            "axes.axisbelow": True,
            "legend.frameon": False,
            "figure.dpi": 110,
            "savefig.dpi": 110,
            "savefig.bbox": "tight",
        }
    )
    return plt


def frameworks(results: dict[str, Result]) -> list[Result]:
    return [results[name] for name in FRAMEWORK_ORDER if name in results]


def _impls(result: Result) -> list[str]:
    return ["ifmatch", *result.context.get("peers", {})]


def _series(result: Result, name: str) -> Series | None:
    try:
        return result.get(name)
    except KeyError:
        return None


def _ratio(result: Result, key: str) -> Ratio | None:
    try:
        return result.ratio(key)
    except KeyError:
        return None


def overhead(results: dict[str, Result], path: Path) -> bool:
    """Horizontal bars: every "ifmatch / without ifmatch" throughput ratio, with its spread and
    its target."""
    rows: list[tuple[str, Ratio]] = []
    for result in frameworks(results):
        title = result.title.split(" (")[0]
        for key, label in (
            ("get_overhead.field-1KB", "GET, 1 KB field"),
            ("get_overhead.nested-100KB", "GET, 1,000 objects"),
            ("put", "PUT If-Match vs plain PUT"),
        ):
            ratio = _ratio(result, f"{result.name}.{key}")
            if ratio is not None and ratio.values:
                rows.append((f"{title}: {label}", ratio))
    for name, key, label in (
        ("stores", "stores.guard.statement", "Guarded vs plain UPDATE statement"),
        ("stores", "stores.guard.store", "SQLAlchemyStore vs plain update"),
        ("client", "client.server.GET", "Client: GET through the transport"),
        ("client", "client.server.GET+PUT", "Client: GET + PUT through the transport"),
    ):
        ratio = _ratio(results[name], key) if name in results else None
        if ratio is not None and ratio.values:
            rows.append((label, ratio))
    if not rows:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(rows) + 1.4))
    positions = list(range(len(rows)))[::-1]
    for y, (_, ratio) in zip(positions, rows, strict=True):
        color = IFMATCH if ratio.met in (True, None) else MISSED
        low, high = ratio.spread
        ax.barh(y, ratio.median, color=color, height=0.62, alpha=0.9)
        ax.plot([low, high], [y, y], color="#222222", linewidth=1.1)
        if ratio.target is not None:
            ax.plot([ratio.target.threshold] * 2, [y - 0.38, y + 0.38], color="#222222", lw=2.2)
        ax.text(high + 0.02, y, f"{ratio.median:.2f}", va="center", fontsize=9)
    ax.axvline(1.0, color=GREY, linewidth=1, linestyle="--")
    ax.set_yticks(positions, [label for label, _ in rows])
    ax.set_xlim(0, max(1.3, max(r.spread[1] for _, r in rows) + 0.15))
    ax.set_xlabel("throughput with ifmatch / without (median of interleaved pairs; line: spread)")
    ax.set_title(
        "What ifmatch costs: 1.0 = free; black tick = target; orange = target missed",
        loc="left",
        fontsize=10.5,
    )
    ax.grid(axis="y", visible=False)
    fig.savefig(path)
    plt.close(fig)
    return True


def _by_size(results: dict[str, Result], metric: str, path: Path, ylabel: str, title: str) -> bool:
    columns = [r for r in frameworks(results) if any(".not_modified." in x.key for x in r.ratios)]
    if not columns:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(
        2, len(columns), figsize=(3.1 * len(columns) + 0.8, 6.4), sharey="row", squeeze=False
    )
    for col, result in enumerate(columns):
        for row, (kind, kind_label) in enumerate(KINDS):
            ax = axes[row][col]
            _size_panel(ax, result, kind, metric)
            if row == 0:
                ax.set_title(result.title.split(" (")[0], fontsize=10.5)
            if col == 0:
                ax.set_ylabel(f"{kind_label}\n{ylabel}")
            ax.set_xticks(range(3), SIZE_LABELS)
            ax.set_yscale("log")
            if ax.get_legend_handles_labels()[1]:
                ax.legend(fontsize=8, loc="best")
    fig.suptitle(title, x=0.01, ha="left", fontsize=11.5)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _size_panel(ax: Any, result: Result, kind: str, metric: str) -> None:
    for index, impl in enumerate(_impls(result)):
        xs, ys = [], []
        for x, size in enumerate(SIZES):
            key = f"{kind}-{size}"
            if metric == "ratio":
                ratio = _ratio(result, f"{result.name}.not_modified.{impl}.{key}")
                value = ratio.median if ratio and ratio.values else None
            else:
                series = _series(result, f"{result.name} {impl} 304 {key}")
                value = series.extra_median(metric) / 1000 if series else None
            if value is not None and value == value:
                xs.append(x)
                ys.append(value)
        if not xs:
            continue
        ours = impl == "ifmatch"
        ax.plot(
            xs,
            ys,
            marker="o",
            color=IFMATCH if ours else PEER_COLORS[(index - 1) % len(PEER_COLORS)],
            linewidth=2.6 if ours else 1.5,
            label=impl,
            zorder=3 if ours else 2,
        )
    if metric == "ratio":
        ax.axhline(1.0, color=GREY, linewidth=1, linestyle="--")
    else:  # the 200's cost, for scale
        xs, ys = [], []
        for x, size in enumerate(SIZES):
            series = _series(result, f"{result.name} ifmatch 200 {kind}-{size}")
            if series is not None:
                xs.append(x)
                ys.append(series.extra_median(metric) / 1000)
        if xs:
            ax.plot(xs, ys, color=GREY, linestyle="--", linewidth=1.2, label="the 200")


def not_modified_ratio(results: dict[str, Result], path: Path) -> bool:
    return _by_size(
        results,
        "ratio",
        path,
        "304 / 200 throughput",
        "How much faster a 304 is than the 200, by resource size (log scale; dashed: no gain)",
    )


def not_modified_cost(results: dict[str, Result], path: Path) -> bool:
    return _by_size(
        results,
        "server_cpu_us",
        path,
        "server CPU per 304 (ms)",
        "What a 304 costs the server, by resource size: flat when the tag comes from a version",
    )


def races(results: dict[str, Result], path: Path) -> bool:
    """Committed writes/s and lost updates against the number of concurrent writers."""
    columns = [r for r in [*frameworks(results), results.get("stores")] if r and _race_series(r)]
    if not columns:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(
        2, len(columns), figsize=(3.1 * len(columns) + 0.8, 6.2), squeeze=False
    )
    for col, result in enumerate(columns):
        lines = _race_series(result)
        for index, (impl, points) in enumerate(lines.items()):
            writers = [w for w, _ in points]
            ours = impl == "ifmatch"
            style = {
                "color": IFMATCH if ours else PEER_COLORS[(index - 1) % len(PEER_COLORS)],
                "marker": "o",
                "linewidth": 2.6 if ours else 1.5,
                "label": impl,
            }
            axes[0][col].plot(writers, [s.median for _, s in points], **style)
            lost = [
                100 * sum(s.extra["lost"]) / max(sum(s.extra["acknowledged"]), 1) for _, s in points
            ]
            if any(lost):  # what survived of the acknowledged writes
                kept = [
                    s.median * (1 - share / 100) for (_, s), share in zip(points, lost, strict=True)
                ]
                faint = {**style, "linestyle": ":", "marker": None, "label": f"{impl}, kept"}
                axes[0][col].plot(writers, kept, **faint)
            axes[1][col].plot(writers, lost, **style)
        title = result.title.split(" (")[0]
        axes[0][col].set_title("Store, in process" if result.name == "stores" else title)
        for row in (0, 1):
            ax = axes[row][col]
            ax.set_xscale("log", base=2)
            ax.set_xticks([1, 4, 16, 64], ["1", "4", "16", "64"])
            ax.set_xlabel("concurrent writers" if row else "")
        axes[0][col].set_ylim(bottom=0)
        axes[1][col].set_ylim(-3, 100)
        axes[0][col].legend(fontsize=8)
    axes[0][0].set_ylabel("committed writes / s")
    axes[1][0].set_ylabel("lost updates\n(% of acknowledged writes)")
    fig.suptitle(
        "GET -> PUT If-Match -> retry on one record: ifmatch loses nothing, check-then-write does",
        x=0.01,
        ha="left",
        fontsize=11.5,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _race_series(result: Result) -> dict[str, list[tuple[int, Series]]]:
    lines: dict[str, list[tuple[int, Series]]] = {}
    for series in result.series:
        words = series.name.split()
        if "race" in words and words[-1].isdigit():
            lines.setdefault(words[1], []).append((int(words[-1]), series))
        elif words[0] == "stores" and words[-2:] == ["1", "row"]:
            lines.setdefault(words[1], []).append((int(words[-4]), series))
    return {impl: sorted(points, key=lambda p: p[0]) for impl, points in lines.items()}


GOODPUT_ARMS = {
    "naive": ("naive GET -> PUT, retry at once", PEER_COLORS[0]),
    "update-unlimited": ("client.update, limiter off", PEER_COLORS[3]),
    "update": ("client.update", IFMATCH),
}


def goodput_results(results: dict[str, Result]) -> list[Result]:
    return [results[f"goodput-{n}"] for n in FRAMEWORK_ORDER if f"goodput-{n}" in results]


def goodput_series(result: Result) -> dict[str, list[tuple[int, Series]]]:
    """arm -> [(writers, series)] of one goodput result."""
    lines: dict[str, list[tuple[int, Series]]] = {}
    for series in result.series:
        words = series.name.split()  # "<stack> <arm> goodput <writers>"
        if len(words) == 4 and words[2] == "goodput" and words[3].isdigit():
            lines.setdefault(words[1], []).append((int(words[3]), series))
    return {arm: sorted(points, key=lambda p: p[0]) for arm, points in lines.items()}


def goodput(results: dict[str, Result], path: Path) -> bool:
    """Committed writes/s of each arm, and the client's over the naive loop's, by writers."""
    columns = goodput_results(results)
    if not columns:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(
        2, len(columns), figsize=(3.1 * len(columns) + 0.8, 6.2), squeeze=False
    )
    for col, result in enumerate(columns):
        top, bottom = axes[0][col], axes[1][col]
        for arm, points in goodput_series(result).items():
            label, color = GOODPUT_ARMS.get(arm, (arm, GREY))
            writers = [w for w, _ in points]
            ours = arm == "update"
            style = {"color": color, "marker": "o", "linewidth": 2.6 if ours else 1.5}
            top.plot(writers, [s.median for _, s in points], label=label, **style)
            if arm == "naive":
                continue
            ratios = [r for r in result.ratios if r.key.startswith(f"{result.name[8:]}.goodput.")]
            mine = sorted(
                (int(r.key.rsplit(".", 1)[1]), r)
                for r in ratios
                if r.key.split(".")[2] == arm and r.values
            )
            xs = [w for w, _ in mine]
            bottom.plot(xs, [r.median for _, r in mine], label=label, **style)
            bottom.vlines(
                xs, [r.spread[0] for _, r in mine], [r.spread[1] for _, r in mine], colors=color
            )
        bottom.axhline(2.0, color="#222222", linewidth=1.4, label="target at 16, 64: 2x")
        bottom.axhline(1.0, color=GREY, linewidth=1, linestyle="--")
        top.set_title(result.title.split(": ")[1].split(",")[0])
        for row, ax in ((0, top), (1, bottom)):
            ax.set_xscale("log", base=2)
            ax.set_xticks([1, 4, 16, 64], ["1", "4", "16", "64"])
            ax.set_xlabel("concurrent writers on one row" if row else "")
        top.set_ylim(bottom=0)
        # Ratios on a log scale: a repetition at 40x would flatten everything else.
        bottom.set_yscale("log", base=2)
        ticks = [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64]
        bottom.set_yticks(ticks, [f"{t:g}" for t in ticks])
        bottom.set_ylim(0.25, 64)
    axes[0][0].legend(fontsize=7.5)
    axes[1][0].legend(fontsize=7.5)
    axes[0][0].set_ylabel("committed writes / s")
    axes[1][0].set_ylabel("over the naive loop (x, log scale)\n(median; line: spread)")
    fig.suptitle(
        "Goodput on one contended row: ifmatch's client against the naive read-write loop",
        x=0.01,
        ha="left",
        fontsize=11.5,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def core(results: dict[str, Result], path: Path) -> bool:
    result = results.get("core")
    if result is None or not result.ratios:
        return False
    plt = _pyplot()
    rows: Sequence[Ratio] = result.ratios
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(rows) + 1.3))
    positions = list(range(len(rows)))[::-1]
    for y, ratio in zip(positions, rows, strict=True):
        low, high = ratio.spread
        ax.barh(y, ratio.median, color=IFMATCH if ratio.met else MISSED, height=0.62)
        ax.plot([low, high], [y, y], color="#222222", linewidth=1.1)
        ax.text(high + 0.05, y, f"{ratio.median:.2f}x", va="center", fontsize=9)
    ax.axvline(2.0, color="#222222", linewidth=1.6, label="target: 2x")
    ax.axvline(1.0, color=GREY, linewidth=1, linestyle="--", label="as fast as Django")
    ax.set_yticks(positions, [r.title for r in rows])
    ax.set_xlabel("Django's time per call / ifmatch's (median; line: spread)")
    ax.set_title("The core, per call: evaluate() vs get_conditional_response", loc="left")
    ax.legend(loc="lower right", fontsize=8.5)
    ax.grid(axis="y", visible=False)
    fig.savefig(path)
    plt.close(fig)
    return True


FIGURES = {
    "overhead.png": overhead,
    "not-modified-ratio.png": not_modified_ratio,
    "not-modified-cost.png": not_modified_cost,
    "lost-updates.png": races,
    "goodput.png": goodput,
    "core.png": core,
}


def draw(results: dict[str, Result], folder: Path) -> list[str]:
    """Draw every figure the results allow; return the file names written."""
    folder.mkdir(parents=True, exist_ok=True)
    return [name for name, figure in FIGURES.items() if figure(results, folder / name)]


def shape_label(key: str) -> str:
    return shapes.BY_KEY[key].label if key in shapes.BY_KEY else key
