"""Table-driven tests of the built-in schemes, hand-computed at and around every threshold."""

from __future__ import annotations

from decimal import Decimal

import pytest
from carbon_rating import scheme as sc

from tests.rating.helpers import document, official, rate, row

# ---------------------------------------------------------------- Zhejiang carbon-efficiency code
# Industry average fixed by an official benchmark B = 2 (so K = L / 2) to hit every K edge exactly.
ZJ_B2 = [official("intensity_value_added", "C26", "2023", "2")]


@pytest.mark.parametrize(
    ("l_va", "grade", "label_en", "label_zh", "deciding"),
    [
        ("0.2", "1", "low-carbon grade 1", "低碳1级", ["K <= 0.6", "L <= 0.6"]),
        ("1.2", "1", "medium-carbon grade 1", "中碳1级", ["K <= 0.6", "L <= 2.0", "L > 0.6"]),  # K = 0.6 exactly
        ("1.200001", "2", "medium-carbon grade 2", "中碳2级", ["K <= 0.8", "K > 0.6", "L <= 2.0", "L > 0.6"]),
        ("1.6", "2", "medium-carbon grade 2", "中碳2级", ["K <= 0.8", "K > 0.6", "L <= 2.0", "L > 0.6"]),  # K = 0.8
        ("1.600001", "3", "medium-carbon grade 3", "中碳3级", ["K <= 1.2", "K > 0.8", "L <= 2.0", "L > 0.6"]),
        ("2.0", "3", "medium-carbon grade 3", "中碳3级", ["K <= 1.2", "K > 0.8", "L <= 2.0", "L > 0.6"]),  # L = 2.0
        ("2.000001", "3", "high-carbon grade 3", "高碳3级", ["K <= 1.2", "K > 0.8", "L > 2.0"]),
        ("2.4", "3", "high-carbon grade 3", "高碳3级", ["K <= 1.2", "K > 0.8", "L > 2.0"]),  # K = 1.2
        ("2.400001", "4", "high-carbon grade 4", "高碳4级", ["K <= 2.0", "K > 1.2", "L > 2.0"]),
        ("4", "4", "high-carbon grade 4", "高碳4级", ["K <= 2.0", "K > 1.2", "L > 2.0"]),  # K = 2.0
        ("4.000001", "5", "high-carbon grade 5", "高碳5级", ["K > 2.0", "L > 2.0"]),
        ("9", "5", "high-carbon grade 5", "高碳5级", ["K > 2.0", "L > 2.0"]),
    ],
)
def test_zhejiang_k_and_l_edges(l_va: str, grade: str, label_en: str, label_zh: str, deciding: list[str]) -> None:
    doc = document("zhejiang-carbon-efficiency", benchmark__official=ZJ_B2)
    outcome = rate(doc, [row("E1", l_va=l_va)], "E1")
    assert outcome.grade == grade
    assert outcome.label is not None and (outcome.label.en, outcome.label.zh) == (label_en, label_zh)
    assert list(outcome.deciding) == deciding
    k = outcome.indicators[1]
    assert k.value == sc.Fraction(Decimal(l_va)) / 2
    assert k.benchmark is not None and k.benchmark.source == "official" and k.benchmark.scope == "C26"
    assert label_en in outcome.explanation.en and label_zh in outcome.explanation.zh


@pytest.mark.parametrize(
    ("l_va", "qualifier"),
    [("0.6", "low-carbon"), ("0.600001", "medium-carbon"), ("2", "medium-carbon"), ("2.000001", "high-carbon")],
)
def test_zhejiang_band_edges_with_k_1(l_va: str, qualifier: str) -> None:
    # Benchmark equal to L: K = 1 -> grade 3 always; only the L band moves.
    doc = document(
        "zhejiang-carbon-efficiency", benchmark__official=[official("intensity_value_added", "C2611", "2023", l_va)]
    )
    outcome = rate(doc, [row("E1", l_va=l_va)], "E1")
    assert outcome.grade == "3"
    assert outcome.label is not None and outcome.label.en == f"{qualifier} grade 3"


def test_zhejiang_no_value_added_is_ungraded() -> None:
    doc = document("zhejiang-carbon-efficiency", benchmark__official=ZJ_B2)
    outcome = rate(doc, [row("E1", tco2="10")], "E1")
    assert outcome.grade is None and "K" in outcome.missing
    assert "no grade" in outcome.explanation.en and "无法评级" in outcome.explanation.zh


# ---------------------------------------------------------------- Quzhou four colours
# Benchmarks: industry C26/2023 = 2, region 330502/2023 = 2 computed? -> use the region population below.


def quzhou(l_now: str, history: dict[str, str], region_avg_peers: bool = True) -> sc.Outcome:
    doc = document(
        "quzhou-four-colour",
        benchmark__official=[official("intensity_value_added", "C2611", "2023", "2")],
        benchmark__min_sample=1,
    )
    rows = [row("E1", "2023", l_va=l_now, tco2="1", va="10000")]
    # tco2/va only feed the regional average: make it exactly 2 with a peer (E1 adds 1 t / 1e4 CNY).
    rows.append(row("P1", "2023", region="330502", tco2="5", va="20000", l_va="2.5"))  # (1 + 5) / 3 = 2
    rows += [row("E1", period, l_va=value) for period, value in history.items()]
    return rate(doc, rows, "E1")


@pytest.mark.parametrize(
    ("l_now", "history", "grade", "deciding"),
    [
        # K = L/2, C = 2/L, D = (mean - L)/mean
        # dark green: K <= 0.8 (L <= 1.6), C >= 1 (L <= 2), D >= 0.05
        ("1.6", {"2022": "1.684211"}, "DARK_GREEN", ["K <= 0.8", "C >= 1.0", "D >= 0.05"]),  # D = 0.0500002
        ("1.6", {"2022": "1.684210"}, "LIGHT_GREEN", ["D < 0.05", "K <= 1.0", "D >= 0"]),  # D = 0.04999976 < 0.05
        (
            "1.6",
            {"2021": "1.6", "2022": "1.8", "2020": "1.652632"},
            "DARK_GREEN",
            ["K <= 0.8", "C >= 1.0", "D >= 0.05"],
        ),
        ("1.600001", {"2022": "3"}, "LIGHT_GREEN", ["K > 0.8", "K <= 1.0", "D >= 0"]),
        # light green: K <= 1 (L <= 2) and D >= 0 (missing history counts as held)
        ("2", {}, "LIGHT_GREEN", ["K > 0.8", "K <= 1.0", "D >= 0"]),
        ("2", {"2022": "2"}, "LIGHT_GREEN", ["K > 0.8", "K <= 1.0", "D >= 0"]),  # D = 0 exactly
        ("2", {"2022": "1.999999"}, "YELLOW", ["K > 0.8", "D < 0", "K <= 1.5", "D >= -0.1"]),
        ("2.000001", {}, "YELLOW", ["K > 0.8", "K > 1.0", "K <= 1.5", "D missing"]),
        # red: K > 1.5 (L > 3) or D < -0.1
        ("3", {}, "YELLOW", ["K > 0.8", "K > 1.0", "K <= 1.5", "D missing"]),
        ("3.000001", {}, "RED", ["K > 0.8", "K > 1.0", "K > 1.5"]),
        ("2.2", {"2022": "2"}, "YELLOW", ["K > 0.8", "K > 1.0", "K <= 1.5", "D >= -0.1"]),  # D = -0.1 exactly
        ("2.200001", {"2022": "2"}, "RED", ["K > 0.8", "K > 1.0", "D < -0.1"]),
        # history older than the 3-year window is ignored
        ("1.6", {"2019": "9"}, "LIGHT_GREEN", ["D missing", "K <= 1.0", "D >= 0"]),
    ],
)
def test_quzhou_rules(l_now: str, history: dict[str, str], grade: str, deciding: list[str]) -> None:
    outcome = quzhou(l_now, history)
    assert outcome.grade == grade, outcome.explanation.en
    assert list(outcome.deciding) == deciding


def test_quzhou_regional_contribution_edge() -> None:
    # C = 2 / L: L = 2 gives C = 1 exactly (dark green needs C >= 1, but K = 1 > 0.8 anyway), so
    # lower the K bar with an industry benchmark of 4: K = L / 4.
    doc = document(
        "quzhou-four-colour",
        benchmark__official=[official("intensity_value_added", "C2611", "2023", "4")],
        benchmark__min_sample=1,
    )
    base = [row("P1", "2023", tco2="5", va="20000", l_va="2.5"), row("E1", "2022", l_va="3")]
    at = rate(doc, [*base, row("E1", "2023", l_va="2", tco2="1", va="10000")], "E1")
    assert at.grade == "DARK_GREEN" and at.indicators[1].value == 1
    above = rate(doc, [*base, row("E1", "2023", l_va="2.000001", tco2="1", va="10000")], "E1")
    assert above.grade == "LIGHT_GREEN" and "C < 1.0" in above.deciding


# ---------------------------------------------------------------- Shenzhen AAA..C

SZ_B = [
    official("intensity_revenue", "C26", "2023", "1"),
    official("energy_intensity_revenue", "C26", "2023", "1"),
]


def shenzhen(ee: str, ce: str, rt_hist: str | None, cs: str | None, dq: str) -> sc.Outcome:
    doc = document("shenzhen-aaa", benchmark__official=SZ_B)
    rows = [row("E1", "2023", l_rev=ce, e_rev=ee, clean=cs, quality=dq)]
    if rt_hist is not None:
        rows.append(row("E1", "2022", l_rev=rt_hist))
    return rate(doc, rows, "E1")


@pytest.mark.parametrize(
    ("ee", "ce", "hist", "cs", "dq", "score", "grade"),
    [
        # all best: 100
        ("0.6", "0.6", "1", "0.5", "0.95", "100", "AAA"),
        # EE 0.600001 -> 90: 0.25*90 + 0.30*100 + ... = 97.5
        ("0.600001", "0.6", "1", "0.5", "0.95", "97.50", "AAA"),
        # score exactly 90: EE 75 (0.25*25 = 6.25 lost), DQ 85 (0.15*15 = 2.25), CS 85 (1.5): 100 - 10 = 90
        ("1.0", "0.6", "1", "0.3", "0.9", "90", "AAA"),
        # just below 90: CS 0.299999 -> 70 (another 1.5 lost): 88.50
        ("1.0", "0.6", "1", "0.299999", "0.9", "88.50", "AA"),
        # EE 60 (15), CE 90 (27), RT: D = (0.842106 - 0.8) / 0.842106 = 0.0500008 >= 0.05 -> 85 (17),
        # CS 85 (8.5), DQ 85 (12.75) -> 80.25
        ("1.2", "0.8", "0.842106", "0.3", "0.9", "80.25", "AA"),
        # D = (0.842105 - 0.8) / 0.842105 = 0.0499997 < 0.05 -> RT 70 (14): 77.25
        ("1.2", "0.8", "0.842105", "0.3", "0.9", "77.25", "A"),
        # DQ 0.8 -> 65 (9.75): 77.25
        ("1.2", "0.8", "0.842106", "0.3", "0.8", "77.25", "A"),
        # no history: RT missing -> 50 (10); no clean-energy data -> 20 (2); EE 75 (18.75), CE 75 (22.5), DQ 100 (15)
        ("1.0", "1.0", None, None, "0.95", "68.25", "BBB"),
        # 60 exactly: EE 60 (15), CE 60 (18), RT 55 (11), CS 40 (4), DQ 80? no: DQ 0.8 -> 65 (9.75) = 57.75 -> BB
        ("1.2", "1.2", "1.2", "0.000001", "0.8", "57.75", "BB"),
        # worst: EE 0, CE 0, RT 10, CS 20, DQ 10 -> 2 + 2 + 1.5 = 5.5
        ("2.000001", "2.000001", "1", "0", "0.599999", "5.50", "C"),
        # 20 exactly -> CC: EE 20 (5), CE 20 (6), RT 35 (7), CS 20 (2), DQ 0? no DQ min 10 (1.5) = 21.5
        ("2.0", "2.0", "1.904762", "0", "0.599999", "21.50", "CC"),
        # 40 exactly -> B: EE 40 (10), CE 40 (12), RT 55 (11), CS 20 (2), DQ 40 (6) = 41 ; RT 35 (7): 37 -> CCC
        ("1.5", "1.5", "1.5", "0", "0.6", "41", "B"),
        ("1.5", "1.5", "1.428572", "0", "0.6", "37", "CCC"),
    ],
)
def test_shenzhen_weighted_score(
    ee: str, ce: str, hist: str | None, cs: str | None, dq: str, score: str, grade: str
) -> None:
    outcome = shenzhen(ee, ce, hist, cs, dq)
    assert outcome.score_decimal == Decimal(score), outcome.explanation.en
    assert outcome.grade == grade
    assert outcome.label is not None and outcome.label.en == grade


@pytest.mark.parametrize(
    ("cut", "grade_at", "grade_below"),
    [
        ("90", "AAA", "AA"),
        ("80", "AA", "A"),
        ("70", "A", "BBB"),
        ("60", "BBB", "BB"),
        ("50", "BB", "B"),
        ("40", "B", "CCC"),
        ("30", "CCC", "CC"),
        ("20", "CC", "C"),
    ],
)
def test_shenzhen_cutoffs_exact(cut: str, grade_at: str, grade_below: str) -> None:
    # A single component with weight 1 makes the score the band score: hit each cut-off and 0.01 below.
    doc = document("shenzhen-aaa", benchmark__official=SZ_B)
    doc["grading"]["components"] = [
        {
            "indicator": "DQ",
            "weight": "1",
            "bands": [
                {"op": ">=", "value": "0.9", "score": cut},
                {"score": str(Decimal(cut) - Decimal("0.01"))},
            ],
        }
    ]
    at = rate(doc, [row("E1", quality="0.9")], "E1")
    below = rate(doc, [row("E1", quality="0.899999")], "E1")
    assert (at.grade, at.score_decimal) == (grade_at, Decimal(cut))
    assert below.grade == grade_below
    assert f"score >= {cut}" in at.deciding and f"score < {cut}" in below.deciding


def test_every_rating_explains_itself_in_both_languages() -> None:
    outcome = shenzhen("1.0", "1.0", None, None, "0.95")
    assert outcome.explanation.en.count(".") >= 1 and "because" in outcome.explanation.en
    assert "因为" in outcome.explanation.zh and outcome.explanation.zh.endswith("。")
    ce = next(i for i in outcome.indicators if i.spec.id == "CE")
    assert ce.benchmark is not None and ce.score == Decimal("75")
