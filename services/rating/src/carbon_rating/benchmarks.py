"""Industry and regional benchmarks from the population (pure).

Industry benchmark of an intensity (e.g. L = tCO2 / 10^4 CNY value added)
for an industry class and period = ratio of sums over the enterprises of
that class and period in the benchmark population:

    B = sum(tCO2) / sum(value added / 10^4 CNY)

rounded ROUND_HALF_EVEN to 6 decimals. Only enterprises with a positive
denominator count, and the sample must hold at least `min_sample` of them;
otherwise the parent class is tried (C2611 -> C261 -> C26 -> C -> all).
An officially published value (scheme configuration) for a class and period
overrides the computed one at that class.

The regional average (for "regional contribution") is the same ratio over
all industries of the enterprise's region, falling back to its province,
then to the whole benchmark population.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

import polars as pl

from carbon_rating import industry
from carbon_rating.model import round_half_even


@dataclass(frozen=True)
class Base:
    """A benchmarkable intensity: its row column, numerator and denominator columns."""

    column: str
    numerator: str
    denominator: str
    unit: str


BASES: dict[str, Base] = {
    "intensity_value_added": Base("l_va", "tco2", "va", "tCO2/10^4 CNY"),
    "intensity_revenue": Base("l_rev", "tco2", "revenue", "tCO2/10^4 CNY"),
    "intensity_tax": Base("l_tax", "tco2", "tax", "tCO2/10^4 CNY"),
    "energy_intensity_value_added": Base("e_va", "tce", "va", "tce/10^4 CNY"),
    "energy_intensity_revenue": Base("e_rev", "tce", "revenue", "tce/10^4 CNY"),
}


@dataclass(frozen=True)
class OfficialBenchmark:
    metric: str
    industry: str
    period: str
    value_micro: int
    source: str


@dataclass(frozen=True)
class BenchmarkConfig:
    min_sample: int = 5
    # Region-code prefixes of the benchmark population; empty = everybody.
    region_prefixes: tuple[str, ...] = ()
    official: tuple[OfficialBenchmark, ...] = ()

    def key(self) -> tuple[object, ...]:
        return (self.min_sample, self.region_prefixes, self.official)


@dataclass(frozen=True)
class Benchmark:
    value_micro: int
    scope: str  # industry class ("C26", "*") or region code
    period: str
    source: str  # "official" | "computed"
    sample_size: int | None = None
    note: str = ""

    def describe(self) -> str:
        if self.source == "history":
            return f"{self.scope}, {self.period}"
        if self.source == "official":
            return (
                f"{self.scope} {self.period} official ({self.note})"
                if self.note
                else f"{self.scope} {self.period} official"
            )
        return f"{self.scope} {self.period} computed from {self.sample_size} enterprises"


LEVEL_COLUMNS = {5: "ind5", 4: "ind4", 3: "ind3", 1: "ind1", 0: "ind0"}


def with_industry_levels(frame: pl.DataFrame) -> pl.DataFrame:
    """Adds ind5/ind4/ind3/ind1/ind0: the row's class at each GB/T 4754 level (null when less specific)."""
    code = pl.col("industry").str.to_uppercase().str.strip_chars()
    valid = code.str.contains(r"^[A-T](\d{2}(\d(\d)?)?)?$")
    columns = []
    for length, name in LEVEL_COLUMNS.items():
        if length == 0:
            columns.append(pl.lit(industry.ALL).alias(name))
        else:
            columns.append(
                pl.when(valid & (code.str.len_chars() >= length))
                .then(code.str.slice(0, length))
                .otherwise(None)
                .alias(name)
            )
    return frame.with_columns(columns)


def in_population(frame: pl.DataFrame, prefixes: tuple[str, ...]) -> pl.DataFrame:
    if not prefixes:
        return frame
    condition = pl.lit(False)
    for prefix in prefixes:
        condition = condition | pl.col("region").str.starts_with(prefix)
    return frame.filter(condition)


@dataclass
class BenchmarkTable:
    """Sums per (metric, class, period) and per (metric, region, period); resolves with fallback."""

    config: BenchmarkConfig
    industry_sums: dict[tuple[str, str, str], tuple[int, int, int]] = field(default_factory=dict)
    region_sums: dict[tuple[str, str, str], tuple[int, int, int]] = field(default_factory=dict)
    _official: dict[tuple[str, str, str], OfficialBenchmark] = field(default_factory=dict)
    _cache: dict[tuple[str, ...], Benchmark | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._official = {(o.metric, o.industry, o.period): o for o in self.config.official}

    def _computed(self, sums: tuple[int, int, int] | None, scope: str, period: str) -> Benchmark | None:
        if sums is None:
            return None
        numerator, denominator, n = sums
        if n < self.config.min_sample or denominator <= 0:
            return None
        return Benchmark(round_half_even(Fraction(numerator) * 1_000_000 / denominator), scope, period, "computed", n)

    def industry(self, metric: str, code: str, period: str) -> Benchmark | None:
        key = ("i", metric, code, period)
        if key in self._cache:
            return self._cache[key]
        result = None
        for cls in industry.chain(code):
            official = self._official.get((metric, cls, period))
            if official is not None:
                result = Benchmark(official.value_micro, cls, period, "official", None, official.source)
                break
            result = self._computed(self.industry_sums.get((metric, cls, period)), cls, period)
            if result is not None:
                break
        self._cache[key] = result
        return result

    def regional(self, metric: str, region: str, province: str, period: str) -> Benchmark | None:
        key = ("r", metric, region, province, period)
        if key in self._cache:
            return self._cache[key]
        result = None
        for scope in (region, province, industry.ALL):
            if not scope:
                continue
            result = self._computed(self.region_sums.get((metric, scope, period)), scope, period)
            if result is not None:
                break
        self._cache[key] = result
        return result


def build_table(frame: pl.DataFrame, config: BenchmarkConfig, metrics: Iterable[str] = tuple(BASES)) -> BenchmarkTable:
    """Group sums of the benchmark population (frame must carry the ind* level columns)."""
    table = BenchmarkTable(config)
    population = in_population(frame, config.region_prefixes)
    for metric in metrics:
        base = BASES[metric]
        usable = population.filter(
            pl.col(base.numerator).is_not_null()
            & pl.col(base.denominator).is_not_null()
            & (pl.col(base.denominator) > 0)
        )
        aggregations = [
            pl.col(base.numerator).cast(pl.Int128).sum().alias("num"),
            pl.col(base.denominator).cast(pl.Int128).sum().alias("den"),
            pl.len().alias("n"),
        ]
        for column in LEVEL_COLUMNS.values():
            grouped = usable.filter(pl.col(column).is_not_null()).group_by(column, "period").agg(aggregations)
            for cls, period, num, den, n in grouped.iter_rows():
                table.industry_sums[(metric, cls, period)] = (int(num), int(den), int(n))
        for column in ("region", "province"):
            grouped = usable.filter(pl.col(column) != "").group_by(column, "period").agg(aggregations)
            for scope, period, num, den, n in grouped.iter_rows():
                table.region_sums[(metric, scope, period)] = (int(num), int(den), int(n))
        grouped = usable.group_by("period").agg(aggregations)
        for period, num, den, n in grouped.iter_rows():
            table.region_sums[(metric, industry.ALL, period)] = (int(num), int(den), int(n))
    return table
