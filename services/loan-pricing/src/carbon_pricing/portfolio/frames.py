"""The financed-emissions rule of `domain` over whole books at once (polars).

Same integer steps as `domain.position_emissions` (fen, micro-tonnes, one half-even rounding per
quotient, Int128 so outstanding x emissions cannot overflow), so a 49,000-position book is one
vectorised pass; tests/portfolio checks it equals the per-position domain on the golden book and on
random books. Inputs are frames read in bulk (no per-position calls):

    positions: position_id, uscc, product, industry, region (str), outstanding_fen,
               equity_debt_fen (i64), listed (bool), evic_fen, revenue_fen (i64, nullable)
    accounts:  uscc, scope12_micro (i64), reduction_micro (i64, nullable), input_digest,
               factor_set_version (str), verified (bool)   — accounts of the reporting period
    access:    uscc, allowed (bool), consent, reason (str) — consent decisions for the period
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from carbon_pricing.portfolio.domain import (
    CNY_PER_MILLION,
    FEN_PER_CNY,
    MICRO_PER_TONNE,
    SCORE_SCALE,
    Benchmarks,
    BorrowerAccount,
    EstimateReason,
    Method,
    PcafTable,
    Position,
    fen,
    micro,
)

BIG = pl.Int128

POSITION_SCHEMA = {
    "position_id": pl.String,
    "uscc": pl.String,
    "product": pl.String,
    "industry": pl.String,
    "region": pl.String,
    "outstanding_fen": pl.Int64,
    "equity_debt_fen": pl.Int64,
    "listed": pl.Boolean,
    "evic_fen": pl.Int64,
    "revenue_fen": pl.Int64,
}
ACCOUNT_SCHEMA = {
    "uscc": pl.String,
    "scope12_micro": pl.Int64,
    "reduction_micro": pl.Int64,
    "input_digest": pl.String,
    "factor_set_version": pl.String,
    "verified": pl.Boolean,
}
ACCESS_SCHEMA = {"uscc": pl.String, "allowed": pl.Boolean, "consent": pl.String, "reason": pl.String}
# Grades the bank may see (RATING consent), one row per (enterprise, scheme).
GRADE_SCHEMA = {"uscc": pl.String, "scheme_id": pl.String, "grade": pl.String}

# One row per position: who it is, then the calculation (the domain's PositionEmissions fields).
POSITION_KEYS = ("position_id", "uscc", "product", "industry", "region")
CALCULATION_COLUMNS = (
    "outstanding_fen",
    "denominator_fen",
    "attribution_micro",
    "attribution_capped",
    "method",
    "estimated",
    "estimate_reason",
    "consent_reason",
    "consent",
    "pcaf_option",
    "data_quality_score",
    "borrower_micro",
    "financed_micro",
    "reduction_micro",
    "account_digest",
    "factor_set_version",
    "benchmark_version",
)
POSITION_COLUMNS = (*POSITION_KEYS, *CALCULATION_COLUMNS)


def half_even(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator rounded half-even (denominator > 0), as `domain.div_half_even`."""
    n, d = numerator.cast(BIG), denominator.cast(BIG)
    quotient = n // d
    twice = 2 * (n - quotient * d)
    up = (twice > d) | ((twice == d) & (quotient % 2 == 1))
    return quotient + up.cast(BIG)


def positions_frame(positions: Iterable[Position]) -> pl.DataFrame:
    rows = [
        {
            "position_id": p.position_id,
            "uscc": p.uscc,
            "product": p.product,
            "industry": p.industry,
            "region": p.region,
            "outstanding_fen": fen(p.outstanding_cny),
            "equity_debt_fen": fen(p.equity_plus_debt_cny),
            "listed": p.listed,
            "evic_fen": None if p.evic_cny is None else fen(p.evic_cny),
            "revenue_fen": None if p.revenue_cny is None else fen(p.revenue_cny),
        }
        for p in positions
    ]
    return pl.DataFrame(rows, schema=POSITION_SCHEMA)


def accounts_frame(accounts: Iterable[BorrowerAccount]) -> pl.DataFrame:
    rows = [
        {
            "uscc": a.uscc,
            "scope12_micro": micro(a.scope12_tco2),
            "reduction_micro": None if a.reduction_tco2 is None else micro(a.reduction_tco2),
            "input_digest": a.input_digest,
            "factor_set_version": a.factor_set_version,
            "verified": a.verified,
        }
        for a in accounts
    ]
    return pl.DataFrame(rows, schema=ACCOUNT_SCHEMA)


def benchmarks_frame(benchmarks: Benchmarks) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "industry": list(benchmarks.industries),
            "revenue_intensity_micro": [micro(i.revenue) for i in benchmarks.industries.values()],
            "asset_intensity_micro": [micro(i.assets) for i in benchmarks.industries.values()],
        },
        schema={"industry": pl.String, "revenue_intensity_micro": pl.Int64, "asset_intensity_micro": pl.Int64},
    )


def financed(
    positions: pl.DataFrame,
    accounts: pl.DataFrame,
    access: pl.DataFrame,
    benchmarks: Benchmarks,
    pcaf: PcafTable,
) -> pl.DataFrame:
    """One row per position with the columns of `domain.PositionEmissions` (integer units)."""
    score = pcaf.scores
    lazy = (
        positions.lazy()
        .join(access.lazy(), on="uscc", how="left")
        .join(accounts.lazy(), on="uscc", how="left")
        .join(benchmarks_frame(benchmarks).lazy(), on="industry", how="left")
        .with_columns(
            denominator_fen=pl.when(pl.col("listed")).then(pl.col("evic_fen")).otherwise(pl.col("equity_debt_fen")),
            allowed=pl.col("allowed").fill_null(False),
            reason=pl.col("reason").fill_null("CONSENT_REQUIRED"),
            consent=pl.col("consent").fill_null(""),
        )
        .with_columns(
            use_account=pl.col("allowed") & pl.col("scope12_micro").is_not_null(),
            by_revenue=pl.col("revenue_fen").is_not_null() & (pl.col("revenue_fen") > 0),
        )
        .with_columns(
            method=pl.when(pl.col("use_account"))
            .then(pl.lit(Method.ACCOUNT.value))
            .when(pl.col("revenue_intensity_micro").is_null())
            .then(pl.lit(Method.NONE.value))
            .when(pl.col("by_revenue"))
            .then(pl.lit(Method.REVENUE_ESTIMATE.value))
            .otherwise(pl.lit(Method.ASSET_ESTIMATE.value)),
            estimate=pl.when(pl.col("by_revenue"))
            .then(
                half_even(
                    pl.col("revenue_fen").cast(BIG) * pl.col("revenue_intensity_micro"),
                    pl.lit(FEN_PER_CNY * CNY_PER_MILLION),
                )
            )
            .otherwise(
                half_even(
                    pl.col("denominator_fen").cast(BIG) * pl.col("asset_intensity_micro"),
                    pl.lit(FEN_PER_CNY * CNY_PER_MILLION),
                )
            ),
        )
        .with_columns(
            borrower_micro=pl.when(pl.col("use_account"))
            .then(pl.col("scope12_micro").cast(BIG))
            .otherwise(pl.col("estimate")),
            capped=pl.col("outstanding_fen") >= pl.col("denominator_fen"),
        )
        .with_columns(
            financed_micro=pl.when(pl.col("capped"))
            .then(pl.col("borrower_micro"))
            .otherwise(
                half_even(pl.col("outstanding_fen").cast(BIG) * pl.col("borrower_micro"), pl.col("denominator_fen"))
            ),
            reduction_micro=pl.when(pl.col("use_account") & pl.col("reduction_micro").is_not_null())
            .then(
                pl.when(pl.col("capped"))
                .then(pl.col("reduction_micro").cast(BIG))
                .otherwise(
                    half_even(
                        pl.col("outstanding_fen").cast(BIG) * pl.col("reduction_micro"), pl.col("denominator_fen")
                    )
                )
            )
            .otherwise(None),
            attribution_micro=half_even(
                pl.min_horizontal("outstanding_fen", "denominator_fen").cast(BIG) * MICRO_PER_TONNE,
                pl.col("denominator_fen"),
            ),
            attribution_capped=pl.col("outstanding_fen") > pl.col("denominator_fen"),
            pcaf_option=pl.when(pl.col("use_account"))
            .then(pl.when(pl.col("verified")).then(pl.lit("1a")).otherwise(pl.lit("2a")))
            .when(pl.col("revenue_intensity_micro").is_null())
            .then(pl.lit(""))
            .when(pl.col("by_revenue"))
            .then(pl.lit("3a"))
            .otherwise(pl.lit("3b")),
            estimated=~pl.col("use_account"),
            estimate_reason=pl.when(pl.col("use_account"))
            .then(pl.lit(EstimateReason.NONE.value))
            .when(pl.col("allowed"))
            .then(pl.lit(EstimateReason.NO_ACCOUNT.value))
            .otherwise(pl.lit(EstimateReason.NO_CONSENT.value)),
            consent_reason=pl.when(pl.col("allowed")).then(pl.lit("")).otherwise(pl.col("reason")),
        )
        .with_columns(
            data_quality_score=pl.col("pcaf_option").replace_strict(
                {**score, "": None}, return_dtype=pl.Int8, default=None
            ),
            account_digest=pl.when(pl.col("use_account")).then(pl.col("input_digest")).otherwise(pl.lit("")),
            factor_set_version=pl.when(pl.col("use_account")).then(pl.col("factor_set_version")).otherwise(pl.lit("")),
            benchmark_version=pl.when(pl.col("use_account") | pl.col("borrower_micro").is_null())
            .then(pl.lit(""))
            .otherwise(pl.lit(benchmarks.version)),
        )
        .select(*POSITION_COLUMNS)
    )
    return lazy.collect()


@dataclass(frozen=True)
class FrameTotals:
    positions: int
    covered: int
    outstanding_fen: int
    covered_outstanding_fen: int
    financed_micro: int
    intensity_micro: int | None
    weighted_score_centi: int | None
    attributable_reduction_micro: int
    by_industry: Mapping[str, tuple[int, int, int]]
    by_region: Mapping[str, tuple[int, int, int]]


def _div(numerator: int, denominator: int) -> int | None:
    from carbon_pricing.portfolio.domain import div_half_even

    return div_half_even(numerator, denominator) if denominator > 0 else None


def totals(rows: pl.DataFrame) -> FrameTotals:
    """Book totals and breakdowns as `domain.portfolio` defines them (grades are joined by the caller)."""
    covered = rows.filter(pl.col("financed_micro").is_not_null())
    sums = covered.select(
        pl.len().alias("n"),
        pl.col("outstanding_fen").cast(BIG).sum().alias("out"),
        pl.col("financed_micro").sum().alias("fin"),
        (pl.col("outstanding_fen").cast(BIG) * pl.col("data_quality_score")).sum().alias("score"),
    ).row(0)
    covered_n, covered_fen, financed_sum, score_sum = (int(v or 0) for v in sums)

    def buckets(key: str) -> dict[str, tuple[int, int, int]]:
        grouped = covered.group_by(key).agg(
            pl.len().alias("n"),
            pl.col("outstanding_fen").sum().alias("out"),
            pl.col("financed_micro").sum().alias("fin"),
        )
        return {k: (int(n), int(o), int(f)) for k, n, o, f in grouped.iter_rows()}

    return FrameTotals(
        positions=rows.height,
        covered=covered_n,
        outstanding_fen=int(rows["outstanding_fen"].cast(BIG).sum() or 0),
        covered_outstanding_fen=covered_fen,
        financed_micro=financed_sum,
        intensity_micro=_div(financed_sum * CNY_PER_MILLION * FEN_PER_CNY, covered_fen),
        weighted_score_centi=_div(score_sum * SCORE_SCALE, covered_fen),
        attributable_reduction_micro=int(rows["reduction_micro"].sum() or 0),
        by_industry=buckets("industry"),
        by_region=buckets("region"),
    )


@dataclass(frozen=True)
class GradeTotals:
    by_grade: Mapping[str, Mapping[str, tuple[int, int, int]]]  # scheme -> grade -> (positions, fen, micro-t)
    high_carbon_outstanding_fen: int
    high_carbon_financed_micro: int


def grade_totals(rows: pl.DataFrame, grades: pl.DataFrame, high_carbon: Mapping[str, frozenset[str]]) -> GradeTotals:
    """As `domain.portfolio`: by grade under each scheme present in `grades` (covered positions; UNRATED
    for a borrower without a grade the bank may see), and high-carbon exposure over every position graded
    in `high_carbon[scheme]` under any scheme (each position counted once)."""
    from carbon_pricing.portfolio.domain import UNRATED

    covered = rows.filter(pl.col("financed_micro").is_not_null()).select("uscc", "outstanding_fen", "financed_micro")
    by_grade: dict[str, dict[str, tuple[int, int, int]]] = {}
    for scheme in sorted(set(grades["scheme_id"].unique().to_list())):
        graded = grades.filter(pl.col("scheme_id") == scheme).select("uscc", "grade").unique("uscc")
        grouped = (
            covered.join(graded, on="uscc", how="left")
            .with_columns(pl.col("grade").fill_null(UNRATED))
            .group_by("grade")
            .agg(pl.len().alias("n"), pl.col("outstanding_fen").sum(), pl.col("financed_micro").sum())
        )
        by_grade[scheme] = {g: (int(n), int(o), int(f)) for g, n, o, f in grouped.iter_rows()}
    hot_pairs = [(s, g) for s, gs in high_carbon.items() for g in gs]
    hot_usccs = (
        grades.join(
            pl.DataFrame(hot_pairs, schema={"scheme_id": pl.String, "grade": pl.String}, orient="row"),
            on=["scheme_id", "grade"],
            how="inner",
        )["uscc"]
        .unique()
        .to_list()
        if hot_pairs
        else []
    )
    hot = rows.filter(pl.col("uscc").is_in(hot_usccs))
    return GradeTotals(
        by_grade=by_grade,
        high_carbon_outstanding_fen=int(hot["outstanding_fen"].cast(BIG).sum() or 0),
        high_carbon_financed_micro=int(hot["financed_micro"].sum() or 0),
    )
