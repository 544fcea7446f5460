"""What a benchmark returns: series of repeated measurements, ratios between two series
measured side by side, and findings (a measured value next to its target).

Everything here is plain data that round-trips through JSON, so the page can be rendered
from ``benchmarks/results/latest.json`` without re-running anything.
"""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "==": operator.eq,
}


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


@dataclass(frozen=True)
class Target:
    """``value op threshold``, e.g. ``Target(">=", 0.95)``."""

    op: str
    threshold: float

    def met(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.op} {self.threshold:g}"


@dataclass
class Series:
    """One cell measured once per repetition.

    ``values`` is the main metric (requests/s, ns/call, writes/s); ``extra`` holds other
    per-repetition numbers of the same runs (server CPU per request, load generator CPU,
    lost updates, status counts...).
    """

    name: str
    unit: str
    values: list[float] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)

    def add(self, value: float, **extra: float) -> None:
        self.values.append(value)
        for key, number in extra.items():
            self.extra.setdefault(key, []).append(number)

    @property
    def median(self) -> float:
        return median(self.values)

    def extra_median(self, key: str) -> float:
        return median(self.extra.get(key, []))


@dataclass
class Ratio:
    """``numerator / denominator`` per repetition: the two cells ran seconds apart, so the
    ratio cancels most of what the machine did to both."""

    key: str
    title: str
    numerator: str
    denominator: str
    values: list[float]
    target: Target | None = None

    @property
    def median(self) -> float:
        return median(self.values)

    @property
    def spread(self) -> tuple[float, float]:
        return (min(self.values), max(self.values)) if self.values else (float("nan"),) * 2

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.median)

    @classmethod
    def of(
        cls,
        key: str,
        title: str,
        top: Series,
        bottom: Series,
        target: Target | None = None,
        *,
        cost: str | None = None,
    ) -> Ratio:
        """``top / bottom`` of the main values; with ``cost``, ``bottom / top`` of that extra
        metric (a cost per request: its inverse ratio reads like a throughput ratio)."""
        if cost is None:
            pairs = zip(top.values, bottom.values, strict=True)
        else:
            pairs = zip(bottom.extra[cost], top.extra[cost], strict=True)
        values = [a / b for a, b in pairs if b]
        return cls(key, title, top.name, bottom.name, values, target)


@dataclass
class Finding:
    """A measured value beside its target, for a claim that is not a single ratio (lost
    updates, "above every peer")."""

    key: str
    title: str
    value: float
    target: Target
    detail: str = ""

    @property
    def met(self) -> bool:
        return self.target.met(self.value)


@dataclass
class Result:
    """Everything one benchmark measured."""

    name: str
    title: str
    context: dict[str, Any] = field(default_factory=dict)
    series: list[Series] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def get(self, name: str) -> Series:
        for series in self.series:
            if series.name == name:
                return series
        raise KeyError(name)

    def ratio(self, key: str) -> Ratio:
        for ratio in self.ratios:
            if ratio.key == key:
                return ratio
        raise KeyError(key)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        def target(raw: dict[str, Any] | None) -> Target | None:
            return None if raw is None else Target(raw["op"], raw["threshold"])

        return cls(
            name=data["name"],
            title=data["title"],
            context=data.get("context", {}),
            series=[Series(**raw) for raw in data.get("series", [])],
            ratios=[
                Ratio(**{**raw, "target": target(raw.get("target"))})
                for raw in data.get("ratios", [])
            ],
            findings=[
                Finding(**{**raw, "target": target(raw["target"])})
                for raw in data.get("findings", [])
            ],
        )


def fmt(value: float) -> str:
    """A number with about three significant digits."""
    if value != value:  # NaN
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_result(result: Result) -> None:
    """The absolute numbers, the ratios and the findings, as text."""
    print(f"\n== {result.title}")
    if result.series:
        print(f"{'cell':<52} {'unit':>9} {'median':>10} {'min':>10} {'max':>10}  n")
        for series in result.series:
            values = series.values or [float("nan")]
            print(
                f"{series.name:<52} {series.unit:>9} {fmt(series.median):>10} "
                f"{fmt(min(values)):>10} {fmt(max(values)):>10}  {len(series.values)}"
            )
    if result.ratios:
        print(f"\n{'ratio':<62} {'median':>7} {'spread':>13}  target")
        for ratio in result.ratios:
            low, high = ratio.spread
            verdict = "" if ratio.met is None else ("met" if ratio.met else "MISSED")
            target = "" if ratio.target is None else str(ratio.target)
            print(
                f"{ratio.title:<62} {fmt(ratio.median):>7} {fmt(low):>6}-{fmt(high):<6}  "
                f"{target} {verdict}"
            )
    for finding in result.findings:
        verdict = "met" if finding.met else "MISSED"
        print(f"{finding.title:<62} {fmt(finding.value):>7}  {finding.target} {verdict}")
