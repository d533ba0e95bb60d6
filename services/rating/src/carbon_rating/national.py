"""Common national scale (pure): within-industry percentile of carbon efficiency.

For an enterprise with intensity L (tCO2 / 10^4 CNY value added) in period
P, its peers are every enterprise in the national population with the same
industry class and period (falling back to the parent class while fewer than
`min_sample` peers have an L; the last resort is all industries). With
`worse` = peers with a higher L and `equal` = peers with the same L (the
enterprise included), n = peers:

    percentile = 100 * (worse + equal / 2) / n

rounded ROUND_HALF_EVEN to 2 decimals: 0..100, higher is better (mid-rank,
so a lone enterprise scores 50). See services/rating/README.md.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

import polars as pl

from carbon_rating import industry
from carbon_rating.benchmarks import LEVEL_COLUMNS
from carbon_rating.model import fraction_decimal

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then

PLACES = Decimal("0.01")


@dataclass(frozen=True)
class Percentile:
    value: Decimal
    peer_class: str
    peers: int


def percentile_value(worse: int, equal: int, n: int) -> Decimal:
    return fraction_decimal(Fraction(100 * (2 * worse + equal), 2 * n), PLACES)


@dataclass
class PercentileIndex:
    min_sample: int
    # (class, period) -> ascending intensities (micro)
    values: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def peer_class(self, code: str, period: str) -> str | None:
        for cls in industry.chain(code):
            peers = self.values.get((cls, period))
            if peers and (len(peers) >= self.min_sample or cls == industry.ALL):
                return cls
        return None

    def percentile(self, code: str, period: str, l_micro: int | None) -> Percentile | None:
        if l_micro is None:
            return None
        cls = self.peer_class(code, period)
        if cls is None:
            return None
        peers = self.values[(cls, period)]
        lower = bisect.bisect_left(peers, l_micro)
        upper = bisect.bisect_right(peers, l_micro)
        equal = upper - lower
        if equal == 0:  # not itself a member (should not happen): count it
            equal = 1
            n = len(peers) + 1
        else:
            n = len(peers)
        worse = len(peers) - upper
        return Percentile(percentile_value(worse, equal, n), cls, n)


def build_index(frame: pl.DataFrame, min_sample: int) -> PercentileIndex:
    """frame: population with ind* level columns."""
    index = PercentileIndex(min_sample)
    usable = frame.filter(pl.col("l_va").is_not_null())
    for column in LEVEL_COLUMNS.values():
        grouped = (
            usable.filter(pl.col(column).is_not_null())
            .group_by(column, "period")
            .agg(pl.col("l_va").sort().alias("values"))
        )
        for cls, period, values in grouped.iter_rows():
            index.values[(cls, period)] = list(values)
    return index


def vectorised(frame: pl.DataFrame, index: PercentileIndex) -> pl.DataFrame:
    """Adds `national_percentile` (Decimal string) and `peer_class` to a frame with ind* columns.

    Ranks within every level, then takes the level the index resolves for the
    row's (industry, period); exact integer arithmetic, same rounding.
    """
    pairs = frame.select("industry", "period").unique()
    resolved = pl.DataFrame(
        {
            "industry": pairs["industry"],
            "period": pairs["period"],
            "peer_class": [index.peer_class(code, period) for code, period in pairs.iter_rows()],
        },
        schema={"industry": pl.Utf8, "period": pl.Utf8, "peer_class": pl.Utf8},
    )
    out = frame.join(resolved, on=["industry", "period"], how="left")
    has = pl.col("l_va").is_not_null()
    worse_exprs, equal_exprs, n_exprs = [], [], []
    for column in LEVEL_COLUMNS.values():
        part = [column, "period"]
        valid = has & pl.col(column).is_not_null()
        rmin = pl.when(valid).then(pl.col("l_va")).rank("min", descending=True).over(part)
        rmax = pl.when(valid).then(pl.col("l_va")).rank("max", descending=True).over(part)
        count = pl.when(valid).then(pl.col("l_va")).count().over(part)
        chosen = pl.col("peer_class") == pl.col(column)
        worse_exprs.append((chosen, (rmin - 1).cast(pl.Int128)))
        equal_exprs.append((chosen, (rmax - rmin + 1).cast(pl.Int128)))
        n_exprs.append((chosen, count.cast(pl.Int128)))

    def pick(options: list[tuple[pl.Expr, pl.Expr]]) -> pl.Expr:
        expr: Then | ChainedThen = pl.when(options[0][0]).then(options[0][1])
        for condition, value in options[1:]:
            expr = expr.when(condition).then(value)
        return expr.otherwise(None)

    out = out.with_columns(pick(worse_exprs).alias("_w"), pick(equal_exprs).alias("_e"), pick(n_exprs).alias("_n"))
    # value*100 = 10000 * (2w + e) / (2n), rounded half-even to an integer (hundredths).
    num = pl.lit(10000, pl.Int128) * (2 * pl.col("_w") + pl.col("_e"))
    den = 2 * pl.col("_n")
    q = num // den
    r = num - q * den
    up = (2 * r > den) | ((2 * r == den) & (q % 2 == 1))
    hundredths = pl.when(up).then(q + 1).otherwise(q)
    out = out.with_columns(pl.when(has & pl.col("_n").is_not_null()).then(hundredths).otherwise(None).alias("_p")).drop(
        "_w", "_e", "_n"
    )
    return out.with_columns(
        pl.col("_p")
        .map_elements(lambda v: format((Decimal(v) / 100).quantize(PLACES), "f"), return_dtype=pl.Utf8)
        .alias("national_percentile")
    ).drop("_p")
