"""The vectorised preview path gives exactly the per-enterprise grades, scores and percentiles."""

from __future__ import annotations

import random
from typing import Any

import polars as pl
import pytest
from carbon_rating import scheme as sc
from carbon_rating.benchmarks import build_table
from carbon_rating.builtin import builtin_documents
from carbon_rating.model import MICRO, Row
from carbon_rating.national import build_index, vectorised
from carbon_rating.synthetic import population
from carbon_rating.vectorised import benchmark_metrics, grade_frame, population_frame, preview

from tests.rating.helpers import document, official

EDGES = [1_200_000, 1_600_000, 2_400_000, 4_000_000, 2_000_000, 600_000]  # K edges at B = 2, L bands


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    base = population(1500, seed=11)
    # Put a share of the C2611 enterprises exactly on (and one millionth around) the Zhejiang edges.
    rng = random.Random(5)

    def nudge(l_va: int | None, code: str) -> int | None:
        if l_va is None or code != "C2611" or rng.random() < 0.3:
            return l_va
        return rng.choice(EDGES) + rng.choice((-1, 0, 0, 1))

    l_va = [nudge(v, c) for v, c in zip(base["l_va"], base["industry"], strict=True)]
    quality = [rng.choice((950_000, 949_999, 900_000, 899_999, 800_000, 600_000)) for _ in range(base.height)]
    return base.with_columns(pl.Series("l_va", l_va, dtype=pl.Int64), pl.Series("quality", quality, dtype=pl.Int64))


def rows_by_enterprise(frame: pl.DataFrame) -> dict[str, dict[str, Row]]:
    out: dict[str, dict[str, Row]] = {}
    fields = list(Row.__dataclass_fields__)
    for record in frame.select(fields).iter_rows(named=True):
        out.setdefault(record["uscc"], {})[record["period"]] = Row(**record)
    return out


def documents() -> list[dict[str, Any]]:
    docs = list(builtin_documents().values())
    # With an official C2611 value, edges are hit exactly.
    docs.append(
        document(
            "zhejiang-carbon-efficiency", benchmark__official=[official("intensity_value_added", "C2611", "2023", "2")]
        )
    )
    docs.append(document("quzhou-four-colour", benchmark__min_sample=50))
    return docs


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['scheme_id']}")
def test_identical_grades_and_scores(frame: pl.DataFrame, doc: dict[str, Any]) -> None:
    scheme = sc.compile_scheme(doc)
    table = build_table(frame, scheme.benchmark, benchmark_metrics(scheme))
    fast = {u: (g, s) for u, _, g, s in grade_frame(scheme, frame, "2023", table=table).iter_rows()}
    slow = {}
    for uscc, periods in rows_by_enterprise(frame).items():
        if "2023" not in periods:
            continue
        outcome = sc.evaluate(scheme, periods["2023"], periods, table)
        slow[uscc] = (outcome.grade, None if outcome.score is None else int(outcome.score * MICRO))
    assert len(slow) == len(fast) > 1000
    assert slow == fast
    assert len({g for g, _ in slow.values()}) >= 3


def test_edges_are_exercised(frame: pl.DataFrame) -> None:
    scheme = sc.compile_scheme(documents()[3])
    graded = grade_frame(scheme, frame, "2023", keep_indicators=True)
    on_edge = pl.any_horizontal([pl.col("K__n") * 10 == pl.col("K__d") * k for k in (6, 8, 12, 20)])
    assert graded.filter(on_edge).height > 20


def test_identical_national_percentiles(frame: pl.DataFrame) -> None:
    index = build_index(frame, min_sample=10)
    fast = dict(
        vectorised(frame.filter(pl.col("period") == "2023"), index).select("uscc", "national_percentile").iter_rows()
    )
    for uscc, periods in rows_by_enterprise(frame).items():
        row = periods.get("2023")
        if row is None:
            continue
        result = index.percentile(row.industry, row.period, row.l_va)
        assert fast[uscc] == (None if result is None else format(result.value, "f")), uscc


def test_preview_counts_moves(frame: pl.DataFrame) -> None:
    old = sc.compile_scheme(builtin_documents()["zhejiang-carbon-efficiency"])
    doc = builtin_documents()["zhejiang-carbon-efficiency"]
    doc["grading"]["bands"][2]["value"] = "1.0"  # grade 3 now needs K <= 1.0
    new = sc.compile_scheme(doc)
    result = preview(old, new, frame)
    before = grade_frame(old, frame, "2023")["grade"].to_list()
    after = grade_frame(new, frame, "2023")["grade"].to_list()
    assert result.moved == sum(a != b for a, b in zip(before, after, strict=True)) > 0
    assert {t.from_grade for t in result.transitions} == {"3"} and {t.to_grade for t in result.transitions} == {"4"}
    assert sum(result.before.values()) == sum(result.after.values()) == result.total
    assert result.after["4"] - result.before["4"] == result.moved
    # the matrix holds the stayers too: its rows add up to the before counts, its columns to the after counts
    for grade in result.grades:
        assert sum(t.count for t in result.matrix if t.from_grade == grade) == result.before.get(grade, 0)
        assert sum(t.count for t in result.matrix if t.to_grade == grade) == result.after.get(grade, 0)


def test_preview_distribution_of_an_indicator(frame: pl.DataFrame) -> None:
    scheme = sc.compile_scheme(builtin_documents()["zhejiang-carbon-efficiency"])
    result = preview(scheme, scheme, frame, indicator="K", marks=(0.6, 0.8, 1.2, 2.0))
    shape = result.distribution
    assert shape is not None and shape.indicator == "K" and len(shape.bins) == 24
    assert shape.bins[0].low < 0.6 and shape.bins[-1].high > 2.0  # every threshold is inside the range
    # every enterprise is counted once: in a bin (by its grade) or as missing
    assert sum(sum(b.counts.values()) for b in shape.bins) + shape.missing == result.total
    graded = sum(sum(n for g, n in b.counts.items() if g != "UNGRADED") for b in shape.bins)
    assert graded == result.total - result.after.get("UNGRADED", 0)
    # below K = 0.6 (the grade-1 threshold) there is no enterprise of grade 5
    assert all(b.counts.get("5", 0) == 0 for b in shape.bins if b.high <= 0.6)
    with pytest.raises(KeyError):
        preview(scheme, scheme, frame, indicator="score")


def test_population_frame_round_trip() -> None:
    row = Row("E1", "2023", "C2611", l_va=5)
    assert population_frame([row]).select("ind3", "ind1", "year").row(0) == ("C26", "C", 2023)
