"""Industry benchmarks: ratio of sums, minimum sample, parent-class fallback, official overrides; national scale."""

from __future__ import annotations

from decimal import Decimal

from carbon_rating import industry
from carbon_rating.benchmarks import BenchmarkConfig, OfficialBenchmark, build_table
from carbon_rating.model import to_micro
from carbon_rating.national import build_index, vectorised
from carbon_rating.vectorised import population_frame

from tests.rating.helpers import row

M = "intensity_value_added"


def peers(
    code: str, n: int, start: int = 0, period: str = "2023", tco2: str = "2", va: str = "10000", **kw: str
) -> list:
    return [row(f"{code}-{start + i}", period, code, tco2=tco2, va=va, **kw) for i in range(n)]


def table(rows: list, **config: object) -> object:
    return build_table(population_frame(rows), BenchmarkConfig(**config))  # type: ignore[arg-type]


def test_industry_chain() -> None:
    assert industry.chain("C2611") == ("C2611", "C261", "C26", "C", "*")
    assert industry.chain("c26") == ("C26", "C", "*")
    assert industry.chain("bogus") == ("*",)


def test_ratio_of_sums_rounded_half_even() -> None:
    # 5 enterprises: sum tCO2 = 1+1+1+1+1 = 5, sum value added = 15 x 10^4 CNY -> 1/3 -> 0.333333
    rows = [row(f"E{i}", tco2="1", va="30000") for i in range(5)]
    bench = table(rows, min_sample=5).industry(M, "C2611", "2023")
    assert (bench.value_micro, bench.scope, bench.source, bench.sample_size) == (333333, "C2611", "computed", 5)
    # not an average of intensities: 4 x (1 t / 1e4) + 1 x (6 t / 5e4) -> 10 / 9 = 1.111111 (mean would be 1.04)
    rows = [row(f"E{i}", tco2="1", va="10000") for i in range(4)] + [row("E9", tco2="6", va="50000")]
    assert table(rows, min_sample=5).industry(M, "C2611", "2023").value_micro == 1111111


def test_half_even_tie() -> None:
    # 1 t / 8e6 x 10^4 CNY... choose sums giving exactly ...5 at the 7th place: 1 / 16 * 10^-? -> 0.0000625 -> 0.000062
    rows = [row(f"E{i}", tco2="0.000001", va="160") for i in range(5)]  # 5e-6 t / (800 CNY = 0.08 x 1e4) = 0.0000625
    assert table(rows, min_sample=5).industry(M, "C2611", "2023").value_micro == 62


def test_fallback_to_parent_class_when_sample_too_small() -> None:
    rows = peers("C2611", 2, tco2="1") + peers("C2612", 3, tco2="4")  # C261: (2 + 12) / 5 = 2.8
    t = table(rows, min_sample=5)
    bench = t.industry(M, "C2611", "2023")
    assert (bench.scope, bench.value_micro, bench.sample_size) == ("C261", 2800000, 5)
    # C2612 has 3 -> also C261
    assert t.industry(M, "C2612", "2023").scope == "C261"


def test_fallback_all_the_way_and_none() -> None:
    rows = peers("C2611", 2) + peers("C3011", 2) + peers("D4411", 1)
    t = table(rows, min_sample=5)
    assert t.industry(M, "C2611", "2023").scope == "*"  # C has 4 < 5; all industries 5
    assert t.industry(M, "C2611", "2023").sample_size == 5
    assert table(peers("C2611", 2), min_sample=5).industry(M, "C2611", "2023") is None


def test_period_and_denominator_filters() -> None:
    rows = peers("C2611", 5) + peers("C2611", 5, start=10, period="2022", tco2="9") + [row("X", tco2="100")]  # no va
    bench = table(rows, min_sample=5).industry(M, "C2611", "2023")
    assert (bench.value_micro, bench.sample_size) == (2000000, 5)


def test_official_overrides_computed_at_its_class() -> None:
    rows = peers("C2611", 5)
    official = (OfficialBenchmark(M, "C2611", "2023", to_micro(Decimal("1.5")), "Huzhou 2023 notice"),)
    bench = table(rows, min_sample=5, official=official).industry(M, "C2611", "2023")
    assert (bench.value_micro, bench.source, bench.note) == (1500000, "official", "Huzhou 2023 notice")
    # other periods still computed
    assert (
        table(rows + peers("C2611", 5, 10, "2022"), min_sample=5, official=official).industry(M, "C2611", "2022").source
        == "computed"
    )


def test_official_parent_value_used_when_child_sample_too_small() -> None:
    official = (OfficialBenchmark(M, "C26", "2023", 3_000_000, "provincial table"),)
    t = table(peers("C2611", 2) + peers("C2612", 2), min_sample=5, official=official)
    bench = t.industry(M, "C2611", "2023")
    assert (bench.scope, bench.value_micro, bench.source) == ("C26", 3_000_000, "official")
    # a computable specific class wins over a parent's official value
    t = table(peers("C2611", 5), min_sample=5, official=official)
    assert t.industry(M, "C2611", "2023").scope == "C2611"


def test_population_region_prefixes() -> None:
    rows = peers("C2611", 5, region="330502") + peers("C2611", 5, 10, region="440300", tco2="8")
    assert table(rows, min_sample=5, region_prefixes=("44",)).industry(M, "C2611", "2023").value_micro == 8_000_000
    assert table(rows, min_sample=5).industry(M, "C2611", "2023").value_micro == 5_000_000


def test_regional_average_with_province_fallback() -> None:
    rows = peers("C2611", 2, region="330502", tco2="1") + peers("C3011", 3, 10, region="330521", tco2="6")
    t = table(rows, min_sample=5)
    bench = t.regional(M, "330502", "330000", "2023")
    assert (bench.scope, bench.value_micro) == ("330000", 4_000_000)  # (2 + 18) / 5


def test_national_percentile_mid_rank_and_vectorised() -> None:
    rows = [row(f"E{i}", l_va=v) for i, v in enumerate(["1", "2", "2", "3"])]
    frame = population_frame(rows)
    index = build_index(frame, min_sample=4)
    got = {r.uscc: index.percentile(r.industry, r.period, r.l_va) for r in rows}
    assert {k: str(v.value) for k, v in got.items()} == {"E0": "87.50", "E1": "50.00", "E2": "50.00", "E3": "12.50"}
    assert got["E0"].peer_class == "C2611"
    vec = dict(vectorised(frame, index).select("uscc", "national_percentile").iter_rows())
    assert vec == {k: str(v.value) for k, v in got.items()}


def test_national_percentile_falls_back_to_parent() -> None:
    rows = [row("A", l_va="1"), row("B", "2023", "C2612", l_va="2"), row("C", "2023", "C2612", l_va="3")]
    index = build_index(population_frame(rows), min_sample=3)
    result = index.percentile("C2611", "2023", rows[0].l_va)
    assert (result.peer_class, result.peers, str(result.value)) == ("C261", 3, "83.33")  # (2 + 0.5) / 3
