"""Golden financed-emissions figures, every number computed by hand in the comments.

Reporting period 2024 (China time). Bank banks/b1. Consent decisions come from the consent rule
itself (carbon_consent.domain.decide) over real consent records, so a window that misses the
period is refused exactly as on every other read path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from carbon_common.consent_gate import PERIOD_ZONE, period_span
from carbon_consent import domain as consent
from carbon_pricing.portfolio.domain import (
    Access,
    Benchmarks,
    BorrowerAccount,
    EstimateReason,
    IndustryIntensity,
    Method,
    PcafTable,
    Position,
    book_emissions,
    div_half_even,
    portfolio,
    position_doc,
    year_on_year,
)

BANK = "banks/b1"
NOW = datetime(2025, 3, 1, tzinfo=UTC)
PERIOD = "2024"
U1, U2, U3, U4, U5, U6 = (f"9133000000000000{i}X" for i in range(1, 7))
BENCH = Benchmarks(
    version="test-bench-v1",
    status="test",
    industries={
        "C3011": IndustryIntensity(revenue=D("1900"), assets=D("900")),
        "C3311": IndustryIntensity(revenue=D("95"), assets=D("70")),
        "C2611": IndustryIntensity(revenue=D("620"), assets=D("340")),
    },
)
PCAF = PcafTable.load()


def _consent(uscc: str, start: datetime, end: datetime, scopes=(consent.Scope.CARBON_ACCOUNT,)) -> consent.Consent:
    return consent.Consent(
        id=f"c-{uscc[-2]}",
        enterprise=uscc,
        grantee=BANK,
        scopes=tuple(scopes),
        purpose=consent.Purpose.CREDIT_ASSESSMENT,
        data_start=start,
        data_end=end,
        expire_time=datetime(2025, 12, 31, tzinfo=UTC),
        state=consent.State.AUTHORIZED,
        create_time=datetime(2025, 1, 1, tzinfo=UTC),
        update_time=datetime(2025, 1, 1, tzinfo=UTC),
    )


Y2023 = datetime(2023, 1, 1, tzinfo=PERIOD_ZONE)
Y2024 = datetime(2024, 1, 1, tzinfo=PERIOD_ZONE)
Y2025 = datetime(2025, 1, 1, tzinfo=PERIOD_ZONE)
CONSENTS = [
    _consent(U1, Y2024, Y2025),  # exactly 2024: covers the period
    _consent(U2, Y2023, Y2025),
    # U3: no consent at all
    _consent(U4, Y2023, Y2024),  # 2023 only: misses the 2024 period
    _consent(U5, Y2024, Y2025),
    _consent(U6, Y2024, Y2025),
]


def _access(uscc: str) -> Access:
    start, end = period_span(PERIOD)
    decision = consent.decide(
        CONSENTS,
        enterprise=uscc,
        grantee=BANK,
        scope=consent.Scope.CARBON_ACCOUNT,
        period=consent.DataPeriod(start, end),
        now=NOW,
    )
    return Access(decision.allowed, decision.consent, decision.reason)


def _account(uscc: str, tco2: str, reduction: str | None = None, verified: bool = False) -> BorrowerAccount:
    return BorrowerAccount(
        uscc, PERIOD, D(tco2), f"sha256:{uscc[-2]}", "factors-2024.1", D(reduction) if reduction else None, verified
    )


POSITIONS = [
    # P1 unlisted, consented account 12,345.678901 t, reduction 1,000.5 t
    Position("P1", U1, "loan", D("2000000.00"), D("50000000.00"), "C3011", "330000"),
    # P2 listed: EVIC 8,000,000 is the denominator, not equity+debt 3,000,000
    Position(
        "P2", U2, "loan", D("1000000.00"), D("3000000.00"), "C2611", "330000", listed=True, evic_cny=D("8000000.00")
    ),
    # P3 no consent; revenue 30,000,000
    Position("P3", U3, "loan", D("1500000.00"), D("60000000.00"), "C3011", "330000", revenue_cny=D("30000000.00")),
    # P4 consent window is 2023 only; no revenue -> asset-based
    Position("P4", U4, "loan", D("500000.00"), D("10000000.00"), "C3311", "510000"),
    # P5 consented, but no account for 2024; revenue 12,345,678.91
    Position("P5", U5, "loan", D("3000000.00"), D("4000000.00"), "C3311", "510000", revenue_cny=D("12345678.91")),
    # P6 outstanding above equity+debt: attribution capped at 1
    Position("P6", U6, "equity", D("5000000.00"), D("4000000.00"), "C2611", "510000"),
]
ACCOUNTS = {
    U1: _account(U1, "12345.678901", "1000.5"),
    U2: _account(U2, "800.000004", verified=True),
    # U4 has an account, but the bank's window misses 2024: it must not be read
    U4: _account(U4, "999999"),
    U6: _account(U6, "10"),
}
GRADES = {U1: {"huzhou": "4"}, U2: {"huzhou": "2"}, U6: {"huzhou": "5"}}


@pytest.fixture(scope="module")
def results():
    access = {p.uscc: _access(p.uscc) for p in POSITIONS}
    return {r.position_id: r for r in book_emissions(POSITIONS, access, ACCOUNTS, BENCH, PCAF, GRADES)}


def test_consent_decisions_follow_the_rule():
    assert _access(U1).allowed and _access(U1).consent.endswith("/consents/c-1")
    assert (_access(U3).allowed, _access(U3).reason) == (False, "CONSENT_REQUIRED")
    assert (_access(U4).allowed, _access(U4).reason) == (False, "CONSENT_DATA_WINDOW")


def test_account_positions(results):
    p1 = results["P1"]
    # attribution 2,000,000 / 50,000,000 = 0.04; 0.04 x 12,345.678901 = 493.82715604 -> 493.827156
    assert p1.method == Method.ACCOUNT and not p1.estimated
    assert p1.attribution == D("0.040000")
    assert p1.financed_tco2 == D("493.827156")
    # reduction: 0.04 x 1,000.5 = 40.02
    assert p1.reduction_micro == 40_020_000
    assert (p1.pcaf_option, p1.data_quality_score) == ("2a", 2)
    assert (p1.account_digest, p1.factor_set_version, p1.benchmark_version) == ("sha256:1", "factors-2024.1", "")

    p2 = results["P2"]
    # listed: 1,000,000 / EVIC 8,000,000 = 0.125; 0.125 x 800.000004 = 100.0000005 -> tie, half-even -> 100.000000
    assert p2.attribution == D("0.125000")
    assert p2.financed_tco2 == D("100.000000")
    assert (p2.pcaf_option, p2.data_quality_score) == ("1a", 1)

    p6 = results["P6"]
    # 5,000,000 > 4,000,000: attribution capped at 1, financed = the whole 10 t
    assert p6.attribution_capped and p6.attribution == D("1.000000")
    assert p6.financed_tco2 == D("10.000000")


def test_estimated_positions(results):
    p3 = results["P3"]
    # revenue 30 MCNY x 1,900 t/MCNY = 57,000 t; attribution 1.5/60 = 0.025; 0.025 x 57,000 = 1,425 t
    assert (p3.method, p3.estimated, p3.estimate_reason, p3.consent_reason) == (
        Method.REVENUE_ESTIMATE,
        True,
        EstimateReason.NO_CONSENT,
        "CONSENT_REQUIRED",
    )
    assert p3.borrower_micro == 57_000_000_000
    assert p3.financed_tco2 == D("1425.000000")
    assert (p3.pcaf_option, p3.data_quality_score, p3.benchmark_version) == ("3a", 4, "test-bench-v1")
    assert p3.account_digest == "" and p3.reduction_micro is None

    p4 = results["P4"]
    # window misses 2024: the stored 999,999 t account is NOT used.
    # assets 10 MCNY x 70 t/MCNY = 700 t; attribution 0.5/10 = 0.05; 0.05 x 700 = 35 t
    assert (p4.method, p4.consent_reason) == (Method.ASSET_ESTIMATE, "CONSENT_DATA_WINDOW")
    assert p4.borrower_micro == 700_000_000
    assert p4.financed_tco2 == D("35.000000")
    assert (p4.pcaf_option, p4.data_quality_score, p4.account_digest) == ("3b", 5, "")

    p5 = results["P5"]
    # consented but no account: revenue 12.34567891 MCNY x 95 = 1,172.83949645 t -> 1,172.839496;
    # attribution 3/4 = 0.75; 0.75 x 1,172.839496 = 879.629622 t
    assert (p5.method, p5.estimate_reason, p5.consent_reason) == (
        Method.REVENUE_ESTIMATE,
        EstimateReason.NO_ACCOUNT,
        "",
    )
    assert p5.borrower_micro == 1_172_839_496
    assert p5.financed_tco2 == D("879.629622")
    assert p5.data_quality_score == 4


def test_portfolio_figures(results):
    figures = portfolio(PERIOD, results.values(), schemes=["huzhou"], high_carbon={"huzhou": frozenset({"4", "5"})})
    # outstanding 2 + 1 + 1.5 + 0.5 + 3 + 5 = 13 MCNY
    assert figures.outstanding_fen == 1_300_000_000 == figures.covered_outstanding_fen
    # 493.827156 + 100 + 1,425 + 35 + 879.629622 + 10 = 2,943.456778 t
    assert figures.financed_micro == 2_943_456_778
    # 2,943.456778 / 13 = 226.41975215... -> 226.419752 t per million CNY
    assert figures.intensity_micro == 226_419_752
    # (2x2 + 1x1 + 1.5x4 + 0.5x5 + 3x4 + 5x2) / 13 = 35.5 / 13 = 2.7307... -> 2.73
    assert figures.weighted_score_centi == 273
    assert (figures.positions, figures.covered, figures.from_accounts, figures.estimated) == (6, 6, 3, 3)
    # only P1 has a base-year reduction: 0.04 x 1,000.5 = 40.02
    assert figures.attributable_reduction_micro == 40_020_000
    industries = {b.key: (b.positions, b.outstanding_fen, b.financed_micro) for b in figures.by_industry}
    assert industries == {
        "C2611": (2, 600_000_000, 110_000_000),  # P2 100 + P6 10
        "C3011": (2, 350_000_000, 1_918_827_156),  # P1 493.827156 + P3 1,425
        "C3311": (2, 350_000_000, 914_629_622),  # P4 35 + P5 879.629622
    }
    regions = {b.key: (b.outstanding_fen, b.financed_micro) for b in figures.by_region}
    assert regions == {"330000": (450_000_000, 2_018_827_156), "510000": (850_000_000, 924_629_622)}
    grades = {b.key: (b.positions, b.financed_micro) for b in figures.by_grade["huzhou"]}
    assert grades == {"2": (1, 100_000_000), "4": (1, 493_827_156), "5": (1, 10_000_000), "UNRATED": (3, 2_339_629_622)}
    # high-carbon grades 4 and 5: P1 + P6 = 7 MCNY, 503.827156 t
    assert (figures.high_carbon_outstanding_fen, figures.high_carbon_financed_micro) == (700_000_000, 503_827_156)
    assert figures.versions == {"factor_set": ("factors-2024.1",), "benchmark": ("test-bench-v1",)}


def test_year_on_year(results):
    current = portfolio(PERIOD, results.values())
    previous = portfolio("2023", [results["P1"], results["P3"]])
    # previous: 493.827156 + 1,425 = 1,918.827156 t over 3.5 MCNY -> 548.236330 t/MCNY (548.2363302857)
    assert previous.intensity_micro == 548_236_330
    change = year_on_year(current, previous)
    # 2,943.456778 - 1,918.827156 = 1,024.629622 t; / 1,918.827156 = 0.53398745 -> 0.533987
    assert change.financed_change_micro == 1_024_629_622
    assert change.financed_change_ratio_micro == 533_987
    # 226.419752 - 548.236330 = -321.816578; / 548.236330 = -0.58700338 -> -0.587003
    assert change.intensity_change_micro == -321_816_578
    assert change.intensity_change_ratio_micro == -587_003


def test_position_document_carries_inputs_and_versions(results):
    doc = position_doc(results["P4"])
    assert doc["financed_tco2"] == "35.000000"
    assert doc["estimated"] is True and doc["consent_reason"] == "CONSENT_DATA_WINDOW"
    assert (doc["pcaf_option"], doc["data_quality_score"], doc["benchmark_version"]) == ("3b", 5, "test-bench-v1")
    assert doc["attribution_denominator_cny"] == "10000000.00"


def test_unknown_industry_is_not_estimated():
    p = Position("PX", U3, "loan", D("1.00"), D("100.00"), "Z9999", "330000", revenue_cny=D("5.00"))
    (r,) = book_emissions([p], {}, {}, BENCH, PCAF)
    assert (r.method, r.financed_micro, r.data_quality_score) == (Method.NONE, None, None)
    figures = portfolio(PERIOD, [r])
    assert (figures.covered, figures.intensity_micro, figures.weighted_score_centi) == (0, None, None)


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(5, 2, 2), (7, 2, 4), (-5, 2, -2), (-7, 2, -4), (10, 3, 3), (11, 3, 4), (-11, 3, -4)],
)
def test_half_even_division(numerator, denominator, expected):
    assert div_half_even(numerator, denominator) == expected


def test_listed_borrower_needs_evic():
    p = Position("PL", U1, "loan", D("1.00"), D("100.00"), "C3011", "330000", listed=True)
    with pytest.raises(ValueError, match="EVIC"):
        book_emissions([p], {}, {}, BENCH, PCAF)


def test_published_files_load():
    bench = Benchmarks.load()
    assert bench.status == "illustrative" and bench.version
    assert PCAF.scores == {"1a": 1, "1b": 2, "2a": 2, "2b": 3, "3a": 4, "3b": 5, "3c": 5}


def test_every_industry_of_the_synthetic_region_has_a_benchmark() -> None:
    # `make demo`'s and the benchmark's borrowers without consent get an estimate, not a gap.
    from carbon_synth.region import INDUSTRIES

    assert {industry.code for industry in INDUSTRIES} <= set(Benchmarks.load().industries)
