"""The vectorised path: a whole population under one scheme version with polars (pure).

Same semantics as `scheme.evaluate`, bit for bit: every indicator is a pair
of Int128 columns (numerator, denominator > 0) built from the same integer
inputs, and `value op threshold` is decided by cross-multiplication
`num * t.den  op  t.num * den`, so no float is ever compared. Benchmarks are
resolved by the same BenchmarkTable as the per-enterprise path.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import polars as pl

from carbon_rating import scheme as sc
from carbon_rating.benchmarks import BASES, BenchmarkTable, build_table, with_industry_levels
from carbon_rating.model import INT_COLUMNS, MICRO, ROW_COLUMNS, Row

UNGRADED = "UNGRADED"
_EXPR_OPS: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


def schema() -> pl.Schema:
    """The population frame's columns: integers at their fixed scale, text."""
    return pl.Schema({c: (pl.Int64() if c in INT_COLUMNS else pl.Utf8()) for c in ROW_COLUMNS})


def population_frame(rows: Iterable[Row] | pl.DataFrame) -> pl.DataFrame:
    """One row per (enterprise, period) with the GB/T 4754 level columns and `year`."""
    if isinstance(rows, pl.DataFrame):
        frame = rows
    else:
        rows = list(rows)
        frame = pl.DataFrame({c: [getattr(r, c) for r in rows] for c in ROW_COLUMNS}, schema=schema())
    frame = with_industry_levels(frame)
    return frame.with_columns(pl.col("period").str.slice(0, 4).cast(pl.Int32).alias("year"))


def benchmark_metrics(scheme: sc.SchemeVersion) -> set[str]:
    out = set()
    for spec in scheme.indicators:
        kind, base = sc.split_metric(spec.metric)
        if kind in ("relative", "regional"):
            out.add(base)
    return out


def _indicator_columns(
    frame: pl.DataFrame, target: pl.DataFrame, spec: sc.IndicatorSpec, table: BenchmarkTable
) -> pl.DataFrame:
    """Adds `{id}__n` and `{id}__d` (Int128; null = missing) to target."""
    n_col, d_col = f"{spec.id}__n", f"{spec.id}__d"
    kind, base_name = sc.split_metric(spec.metric)
    micro = pl.lit(MICRO, pl.Int128)
    if kind == "ratio":
        column = pl.col(sc.RATIO_METRICS[base_name]).cast(pl.Int128)
        return target.with_columns(column.alias(n_col), pl.when(column.is_not_null()).then(micro).alias(d_col))
    base = BASES[base_name]
    own = pl.col(base.column).cast(pl.Int128)
    if kind == "base":
        return target.with_columns(own.alias(n_col), pl.when(own.is_not_null()).then(micro).alias(d_col))
    if kind in ("relative", "regional"):
        keys = ["industry", "period"] if kind == "relative" else ["region", "province", "period"]
        pairs = target.select(keys).unique()
        values = []
        for key in pairs.iter_rows():
            bench = table.industry(base_name, *key) if kind == "relative" else table.regional(base_name, *key)
            values.append(bench.value_micro if bench is not None else None)
        lookup = pairs.with_columns(pl.Series("_b", values, dtype=pl.Int64))
        out = target.join(lookup, on=keys, how="left", nulls_equal=True)
        bench_col = pl.col("_b").cast(pl.Int128)
        if kind == "relative":
            ok = own.is_not_null() & bench_col.is_not_null() & (bench_col > 0)
            num, den = own, bench_col
        else:
            ok = own.is_not_null() & bench_col.is_not_null() & (own > 0)
            num, den = bench_col, own
        return out.with_columns(pl.when(ok).then(num).alias(n_col), pl.when(ok).then(den).alias(d_col)).drop("_b")
    # decline: previous `window` years of the same enterprise
    history = frame.select("uscc", "year", pl.col(base.column).cast(pl.Int128).alias("_h"))
    out = target
    sums, counts = [], []
    for back in range(1, spec.window + 1):
        name = f"_h{back}"
        shifted = history.with_columns((pl.col("year") + back).alias("year")).rename({"_h": name})
        out = out.join(shifted, on=["uscc", "year"], how="left")
        sums.append(pl.col(name).fill_null(0))
        counts.append(pl.col(name).is_not_null().cast(pl.Int128))
    total = pl.sum_horizontal(sums)
    count = pl.sum_horizontal(counts)
    ok = own.is_not_null() & (count > 0) & (total > 0)
    return out.with_columns(
        pl.when(ok).then(total - count * own).alias(n_col), pl.when(ok).then(total).alias(d_col)
    ).drop([f"_h{b}" for b in range(1, spec.window + 1)])


def _holds(condition: sc.Condition) -> pl.Expr:
    fraction = condition.fraction
    num, den = pl.col(f"{condition.indicator}__n"), pl.col(f"{condition.indicator}__d")
    compare = _EXPR_OPS[condition.op](num * fraction.denominator, den * fraction.numerator)
    return pl.when(num.is_null()).then(pl.lit(condition.if_missing)).otherwise(compare)


def _band_chain(bands: Iterable[sc.Band], indicator: str, result: Callable[[sc.Band], pl.Expr]) -> pl.Expr:
    expr: Any = None
    for band in bands:
        condition = band.condition(indicator)
        if condition is None:
            return result(band) if expr is None else expr.otherwise(result(band))
        expr = (pl.when if expr is None else expr.when)(_holds(condition)).then(result(band))
    raise AssertionError("validated bands end with an otherwise band")


def grade_frame(
    scheme: sc.SchemeVersion,
    frame: pl.DataFrame,
    period: str | None = None,
    *,
    table: BenchmarkTable | None = None,
    plugins: Mapping[str, Any] | None = None,
    keep_indicators: bool = False,
) -> pl.DataFrame:
    """Grades every row of `frame` (or of one period): uscc, period, grade (null = ungraded), score_micro."""
    target = frame if period is None else frame.filter(pl.col("period") == period)
    if table is None:
        # benchmarks are per period: only the rated period's rows matter
        table = build_table(target, scheme.benchmark, benchmark_metrics(scheme))
    for spec in scheme.indicators:
        target = _indicator_columns(frame, target, spec, table)
    score = pl.lit(None, pl.Int128)
    if scheme.method == "bands":
        grade = (
            pl.when(pl.col(f"{scheme.indicator}__n").is_null())
            .then(pl.lit(None, pl.Utf8))
            .otherwise(_band_chain(scheme.bands, scheme.indicator, lambda b: pl.lit(b.grade)))
        )
    elif scheme.method == "rules":
        grade_expr: Any = None
        for rule in scheme.rules:
            if rule.all:
                condition = pl.all_horizontal([_holds(c) for c in rule.all])
            elif rule.any:
                condition = pl.any_horizontal([_holds(c) for c in rule.any])
            else:
                grade = pl.lit(rule.grade) if grade_expr is None else grade_expr.otherwise(pl.lit(rule.grade))
                break
            grade_expr = (pl.when if grade_expr is None else grade_expr.when)(condition).then(pl.lit(rule.grade))
    elif scheme.method == "weighted_score":
        # points in hundredths, weights in 1/10^4: the total is in millionths of a point.
        terms = []
        for component in scheme.components:
            points = _band_chain(
                component.bands,
                component.indicator,
                lambda b: pl.lit(int(b.score * 100), pl.Int128),  # type: ignore[operator]  # validate() requires a component band's score
            )
            points = (
                pl.when(pl.col(f"{component.indicator}__n").is_null())
                .then(pl.lit(int(component.missing_score * 100), pl.Int128))
                .otherwise(points)
            )
            terms.append(points * int(component.weight * 10_000))
        target = target.with_columns(
            pl.sum_horizontal(terms).alias("score__n"), pl.lit(MICRO, pl.Int128).alias("score__d")
        )
        score = pl.col("score__n")
        grade = _band_chain(scheme.cutoffs, "score", lambda b: pl.lit(b.grade))
    else:
        return _plugin_frame(scheme, target, plugins, keep_indicators)
    out = target.with_columns(grade.alias("grade"), score.alias("score_micro"))
    if keep_indicators:
        return out
    return out.select("uscc", "period", "grade", "score_micro")


def _plugin_frame(
    scheme: sc.SchemeVersion, target: pl.DataFrame, plugins: Mapping[str, Any] | None, keep: bool
) -> pl.DataFrame:
    """Exotic logic: per row, through the plug-in (a plug-in may add its own vectorised path later)."""
    plugin = (plugins or {})[scheme.plugin]
    ids = [s.id for s in scheme.indicators]
    grades, scores = [], []
    for row in target.select([c for i in ids for c in (f"{i}__n", f"{i}__d")]).iter_rows():
        values = {
            i: (None if row[2 * k] is None else Fraction(int(row[2 * k]), int(row[2 * k + 1])))
            for k, i in enumerate(ids)
        }
        decision = plugin.grade(scheme.params, values)
        grades.append(decision.grade)
        scores.append(None if decision.score is None else int(decision.score * MICRO))
    out = target.with_columns(
        pl.Series("grade", grades, dtype=pl.Utf8), pl.Series("score_micro", scores, dtype=pl.Int128)
    )
    return out if keep else out.select("uscc", "period", "grade", "score_micro")


def latest_period(frame: pl.DataFrame) -> str | None:
    annual = frame.filter(pl.col("period").str.len_chars() == 4)
    if annual.is_empty():
        return None
    return str(annual["period"].max())


@dataclass(frozen=True)
class Transition:
    from_grade: str
    to_grade: str
    count: int


@dataclass(frozen=True)
class Bin:
    """Enterprises whose indicator value is in [low, high), by their grade under the new version."""

    low: float
    high: float
    counts: Mapping[str, int]


@dataclass(frozen=True)
class Distribution:
    """Where the population lies on one indicator (or "score"); floats for drawing only, never for grading.

    The range is the 1st..99th percentile widened to every threshold shown; values outside it are counted in
    the first or last bin (`clipped_low` / `clipped_high` say how many).
    """

    indicator: str
    bins: tuple[Bin, ...]
    missing: int
    clipped_low: int = 0
    clipped_high: int = 0


@dataclass(frozen=True)
class PreviewResult:
    """Grade distribution before/after a version for one period, and who moves where."""

    period: str | None
    total: int
    moved: int
    grades: tuple[str, ...]
    before: Mapping[str, int]
    after: Mapping[str, int]
    transitions: tuple[Transition, ...]  # the movers only, largest first
    matrix: tuple[Transition, ...] = ()  # every (before, after) pair with enterprises, stayers included
    before_version: str | None = None
    after_version: str | None = None
    distribution: Distribution | None = None


def preview(
    before: sc.SchemeVersion | None,
    after: sc.SchemeVersion,
    frame: pl.DataFrame,
    period: str | None = None,
    plugins: Mapping[str, Any] | None = None,
    *,
    indicator: str | None = None,
    marks: Sequence[float] = (),
    bins: int = 24,
) -> PreviewResult:
    """Grade distribution before/after and how many enterprises move, for one period (default: latest).

    With `indicator` (an indicator id of `after`, or "score"), also where the population lies on it
    (`marks`: threshold values the range must include).
    """
    period = period or latest_period(frame)
    if period is None:
        return PreviewResult(None, 0, 0, tuple(after.grades), {}, {}, (), after_version=after.version)
    current = frame.filter(pl.col("period") == period)
    after_table = build_table(current, after.benchmark, benchmark_metrics(after))
    before_table = after_table
    if before is not None and (before.benchmark.key(), benchmark_metrics(before)) != (
        after.benchmark.key(),
        benchmark_metrics(after),
    ):
        before_table = build_table(current, before.benchmark, benchmark_metrics(before))
    graded = grade_frame(after, frame, period, table=after_table, plugins=plugins, keep_indicators=True)
    new = graded.select("uscc", pl.col("grade").fill_null(UNGRADED).alias("after"))
    if before is not None:
        old = grade_frame(before, frame, period, table=before_table, plugins=plugins).select(
            "uscc", pl.col("grade").fill_null(UNGRADED).alias("before")
        )
        joined = old.join(new, on="uscc", how="full", coalesce=True).with_columns(
            pl.col("before").fill_null(UNGRADED), pl.col("after").fill_null(UNGRADED)
        )
    else:
        joined = new.with_columns(pl.lit(UNGRADED).alias("before"))
    pairs = (
        joined.group_by("before", "after")
        .agg(pl.len().alias("count"))
        .sort("count", "before", "after", descending=[True, False, False])
    )
    matrix = tuple(Transition(a, b, int(n)) for a, b, n in pairs.iter_rows())
    moved = tuple(t for t in matrix if t.from_grade != t.to_grade)
    grades = (*_union_grades(before, after), UNGRADED)

    def distribution(column: str) -> dict[str, int]:
        counts = dict(joined.group_by(column).agg(pl.len()).iter_rows())
        return {g: int(counts.get(g, 0)) for g in grades if counts.get(g, 0) or g != UNGRADED}

    return PreviewResult(
        period=period,
        total=joined.height,
        moved=sum(t.count for t in moved),
        grades=grades,
        before=distribution("before") if before is not None else {},
        after=distribution("after"),
        transitions=moved,
        matrix=matrix,
        before_version=before.version if before is not None else None,
        after_version=after.version,
        distribution=_distribution(graded, after, indicator, marks, bins) if indicator else None,
    )


def _distribution(
    graded: pl.DataFrame, scheme: sc.SchemeVersion, indicator: str, marks: Sequence[float], bins: int
) -> Distribution:
    if indicator == "score":
        if not scheme.has_score:
            raise KeyError(indicator)
        num, den = pl.col("score__n"), pl.col("score__d")
    else:
        scheme.indicator_spec(indicator)  # KeyError when the version has no such indicator
        num, den = pl.col(f"{indicator}__n"), pl.col(f"{indicator}__d")
    values = graded.select(
        (num.cast(pl.Float64) / den.cast(pl.Float64)).alias("value"), pl.col("grade").fill_null(UNGRADED)
    )
    present = values.filter(pl.col("value").is_not_null())
    missing = values.height - present.height
    if present.is_empty():
        return Distribution(indicator, (), missing)
    low = min([float(present["value"].quantile(0.01) or 0.0), *marks])
    high = max([float(present["value"].quantile(0.99) or 0.0), *marks])
    span = high - low or abs(high) or 1.0
    low, high = low - span * 0.05, high + span * 0.05
    width = (high - low) / bins
    index = ((pl.col("value") - low) / width).floor().cast(pl.Int64).clip(0, bins - 1).alias("bin")
    counts: dict[int, dict[str, int]] = {}
    for bucket, grade, n in present.select(index, "grade").group_by("bin", "grade").agg(pl.len()).iter_rows():
        counts.setdefault(int(bucket), {})[str(grade)] = int(n)
    return Distribution(
        indicator,
        tuple(Bin(low + i * width, low + (i + 1) * width, counts.get(i, {})) for i in range(bins)),
        missing,
        present.filter(pl.col("value") < low).height,
        present.filter(pl.col("value") >= high).height,
    )


def _union_grades(before: sc.SchemeVersion | None, after: sc.SchemeVersion) -> list[str]:
    grades = list(after.grades)
    for grade in before.grades if before is not None else ():
        if grade not in grades:
            grades.append(grade)
    return grades
