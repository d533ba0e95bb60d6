"""What would move an enterprise up one grade: gaps to the next grade's thresholds, from the scheme (pure)."""

from __future__ import annotations

from decimal import Decimal

from carbon_rating import scheme as sc
from carbon_rating.engine import RatingResult, to_message

from tests.rating.helpers import document, official, rate, row
from tests.rating.test_schemes import ZJ_B2, quzhou


def test_bands_gap_to_the_better_band() -> None:
    # K = L / 2: L = 2.0 gives K = 1.0, grade 3; grade 2 needs K <= 0.8, i.e. 0.2 lower
    outcome = rate(document("zhejiang-carbon-efficiency", benchmark__official=ZJ_B2), [row("E1", l_va="2.0")], "E1")
    scheme = sc.compile_scheme(document("zhejiang-carbon-efficiency", benchmark__official=ZJ_B2))
    step = sc.next_grade(scheme, outcome)
    assert outcome.grade == "3" and step is not None and step.grade == "2"
    (gap,) = step.gaps
    assert (gap.indicator, gap.op, gap.threshold, gap.value, gap.change) == (
        "K",
        "<=",
        Decimal("0.8"),
        Decimal("1.000000"),
        Decimal("-0.200000"),
    )
    assert "lower it by 0.2" in step.explanation.en and "需降低0.2" in step.explanation.zh
    assert "2级" in step.explanation.zh


def test_best_grade_has_no_next() -> None:
    doc = document("zhejiang-carbon-efficiency", benchmark__official=ZJ_B2)
    outcome = rate(doc, [row("E1", l_va="0.2")], "E1")
    assert outcome.grade == "1" and sc.next_grade(sc.compile_scheme(doc), outcome) is None


def test_rules_a_worse_rule_must_stop_holding() -> None:
    # RED because K > 1.5 (L = 3.2, K = 1.6); YELLOW (the default) needs K <= 1.5
    outcome = quzhou("3.2", {})
    assert outcome.grade == "RED"
    doc = document(
        "quzhou-four-colour",
        benchmark__official=[official("intensity_value_added", "C2611", "2023", "2")],
        benchmark__min_sample=1,
    )
    step = sc.next_grade(sc.compile_scheme(doc), outcome)
    assert step is not None and step.grade == "YELLOW"
    assert [(g.indicator, g.op, g.threshold, g.change) for g in step.gaps] == [
        ("K", "<=", Decimal("1.5"), Decimal("-0.100000"))
    ]


def test_rules_unmet_conditions_of_the_better_rule() -> None:
    # LIGHT_GREEN with D = 0 (L = 1.6 both years): DARK_GREEN also needs D >= 0.05
    outcome = quzhou("1.6", {"2022": "1.6"})
    assert outcome.grade == "LIGHT_GREEN"
    doc = document(
        "quzhou-four-colour",
        benchmark__official=[official("intensity_value_added", "C2611", "2023", "2")],
        benchmark__min_sample=1,
    )
    step = sc.next_grade(sc.compile_scheme(doc), outcome)
    assert step is not None and step.grade == "DARK_GREEN"
    assert [(g.indicator, g.threshold, g.change) for g in step.gaps] == [("D", Decimal("0.05"), Decimal("0.050000"))]
    assert "raise it by 0.05" in step.explanation.en


def test_weighted_score_gap_in_points_and_in_the_rating_message() -> None:
    doc = document("shenzhen-aaa")
    scheme = sc.compile_scheme(doc)
    rows = [row(f"E{i}", l_rev="1", e_rev="1", quality="0.9", industry="C2611") for i in range(5)]
    outcome = rate(doc, rows, "E0")
    step = sc.next_grade(scheme, outcome)
    assert outcome.grade is not None and step is not None
    assert step.grade == scheme.grades[scheme.grades.index(outcome.grade) - 1]
    (gap,) = step.gaps
    assert gap.indicator == "score" and gap.op == ">="
    assert gap.change == gap.threshold - (gap.value or 0) and gap.change is not None and gap.change > 0
    message = to_message(RatingResult(scheme, outcome, None, rows[0], "digest"))
    assert message.next_grade.grade == step.grade
    assert message.next_grade.explanation_zh == step.explanation.zh
    assert message.next_grade.gaps[0].indicator == "score"
