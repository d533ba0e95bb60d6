"""Book re-pricing: the run's figures computed by hand, and a run end to end through the real pricing core
(real Redis, real Rego policy bundle): progress, distribution, interest effect, decision log, isolation."""

from __future__ import annotations

from decimal import Decimal as D

from carbon_pricing.portfolio.repricing import summarize, summary_doc, tenor_months


def _priced(pid: str, amount: str, bp: int, decision: str = "APPROVE") -> dict[str, object]:
    return {"position_id": pid, "amount_cny": amount, "rate_adjustment_bp": bp, "decision": decision}


def test_summary_golden() -> None:
    results = [
        _priced("A", "1000000.00", -25),
        _priced("B", "333333.33", -25),
        _priced("C", "500000.00", 50, "REFER"),
        {"position_id": "D", "not_priced": "CONSENT_REQUIRED"},
        _priced("E", "200000.01", 0),
    ]
    doc = summary_doc(summarize(results))
    assert (doc["priced"], doc["not_priced"], doc["decisions"]) == (
        4,
        {"CONSENT_REQUIRED": 1},
        {"APPROVE": 3, "REFER": 1},
    )
    by_bp = {b["rate_adjustment_bp"]: b for b in doc["rate_adjustments"]}
    assert list(by_bp) == [-25, 0, 50]
    # -25 bp: 1,000,000.00 + 333,333.33 = 1,333,333.33 CNY = 133,333,333 fen;
    # x -25 / 10,000 = -333,333.3325 fen -> -333,333 fen (half-even, once) = -3,333.33 CNY a year
    assert (by_bp[-25]["positions"], by_bp[-25]["outstanding_cny"], by_bp[-25]["annual_interest_effect_cny"]) == (
        2,
        "1333333.33",
        "-3333.33",
    )
    # +50 bp on 500,000.00 = 2,500.00 CNY a year; 0 bp: 0
    assert by_bp[50]["annual_interest_effect_cny"] == "2500.00" and by_bp[0]["annual_interest_effect_cny"] == "0.00"
    # total: (133,333,333 x -25 + 50,000,000 x 50) / 10,000 = -83,333.3325 fen -> -83,333 fen = -833.33 CNY
    assert doc["annual_interest_effect_cny"] == "-833.33"
    # priced outstanding 1,333,333.33 + 500,000.00 + 200,000.01
    assert doc["priced_outstanding_cny"] == "2033333.34"
    assert D(doc["annual_interest_effect_cny"]) == D("-833.33")


def test_tenor_from_the_position_dates() -> None:
    assert tenor_months("2024-01-31", "2025-01-30", 12) == 11  # one day short of 12 months
    assert tenor_months("2024-01-31", "2025-01-31", 12) == 12
    assert tenor_months("2024-01-15", "2024-01-20", 12) == 1  # at least a month
    assert tenor_months("", "2025-01-31", 24) == 24  # no drawn date: the run's default
    assert tenor_months("2000-01-01", "2099-01-01", 12) == 600  # at most the quote's bound
