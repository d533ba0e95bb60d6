"""The vectorised (polars) financed emissions equal the per-position domain, field by field."""

from __future__ import annotations

import random
from decimal import Decimal as D

import polars as pl
import pytest
from carbon_pricing.portfolio import frames
from carbon_pricing.portfolio.domain import Access, BorrowerAccount, Position, book_emissions, portfolio

from tests.portfolio.test_domain_golden import ACCOUNTS, BENCH, PCAF, POSITIONS, _access

FIELDS = ["position_id", *frames.CALCULATION_COLUMNS]


def _frames(positions, access: dict[str, Access], accounts: dict[str, BorrowerAccount]):
    access_frame = pl.DataFrame(
        [{"uscc": u, "allowed": a.allowed, "consent": a.consent, "reason": a.reason} for u, a in access.items()],
        schema=frames.ACCESS_SCHEMA,
    )
    return frames.positions_frame(positions), frames.accounts_frame(accounts.values()), access_frame


def _compare(positions, access, accounts):
    expected = book_emissions(positions, access, accounts, BENCH, PCAF)
    rows = frames.financed(*_frames(positions, access, accounts), BENCH, PCAF)
    got = {r["position_id"]: r for r in rows.iter_rows(named=True)}
    assert len(got) == len(expected)
    for e in expected:
        row = got[e.position_id]
        for name in FIELDS:
            value = getattr(e, name)
            value = value.value if hasattr(value, "value") else value
            assert row[name] == value, (e.position_id, name)
    figures = portfolio("2024", expected)
    totals = frames.totals(rows)
    assert (totals.financed_micro, totals.intensity_micro, totals.weighted_score_centi) == (
        figures.financed_micro,
        figures.intensity_micro,
        figures.weighted_score_centi,
    )
    assert totals.attributable_reduction_micro == figures.attributable_reduction_micro
    assert totals.by_industry == {
        b.key: (b.positions, b.outstanding_fen, b.financed_micro) for b in figures.by_industry
    }
    assert totals.by_region == {b.key: (b.positions, b.outstanding_fen, b.financed_micro) for b in figures.by_region}


def test_golden_book_matches_domain():
    _compare(POSITIONS, {p.uscc: _access(p.uscc) for p in POSITIONS if p.uscc != POSITIONS[2].uscc}, ACCOUNTS)


@pytest.mark.parametrize("seed", range(5))
def test_random_books_match_domain(seed):
    rng = random.Random(seed)
    industries = [*BENCH.industries, "Z9999"]
    positions, access, accounts = [], {}, {}
    for i in range(300):
        uscc = f"91{i:015d}X"
        listed = rng.random() < 0.2
        denominator = D(rng.randint(1, 10**11)) / 100
        positions.append(
            Position(
                f"p{i}",
                uscc,
                "loan",
                D(rng.randint(1, 10**10)) / 100,
                denominator,
                rng.choice(industries),
                rng.choice(["330000", "510000"]),
                listed=listed,
                evic_cny=D(rng.randint(1, 10**11)) / 100 if listed else None,
                revenue_cny=D(rng.randint(0, 10**11)) / 100 if rng.random() < 0.6 else None,
            )
        )
        if rng.random() < 0.7:
            access[uscc] = Access(
                rng.random() < 0.7, f"enterprises/{uscc}/consents/c", rng.choice(["", "CONSENT_DATA_WINDOW"])
            )
        if rng.random() < 0.8:
            accounts[uscc] = BorrowerAccount(
                uscc,
                "2024",
                D(rng.randint(0, 10**13)) / 10**6,
                f"d{i}",
                "f1",
                D(rng.randint(-(10**9), 10**9)) / 10**6 if rng.random() < 0.5 else None,
                rng.random() < 0.1,
            )
    _compare(positions, access, accounts)


def test_grade_totals_match_domain():
    """By grade (covered positions, UNRATED without a visible grade) and high-carbon exposure, as the domain."""
    from tests.portfolio.test_domain_golden import GRADES

    access = {p.uscc: _access(p.uscc) for p in POSITIONS}
    expected = book_emissions(POSITIONS, access, ACCOUNTS, BENCH, PCAF, GRADES)
    high = {"huzhou": frozenset({"4", "5"})}
    figures = portfolio("2024", expected, schemes=["huzhou"], high_carbon=high)
    rows = frames.financed(*_frames(POSITIONS, access, ACCOUNTS), BENCH, PCAF)
    graded = pl.DataFrame(
        [{"uscc": u, "scheme_id": s, "grade": g} for u, by in GRADES.items() for s, g in by.items()],
        schema=frames.GRADE_SCHEMA,
    )
    got = frames.grade_totals(rows, graded, high)
    assert got.by_grade == {
        s: {b.key: (b.positions, b.outstanding_fen, b.financed_micro) for b in buckets}
        for s, buckets in figures.by_grade.items()
    }
    assert (got.high_carbon_outstanding_fen, got.high_carbon_financed_micro) == (
        figures.high_carbon_outstanding_fen,
        figures.high_carbon_financed_micro,
    )
    assert got.high_carbon_outstanding_fen > 0 and "UNRATED" in got.by_grade["huzhou"]
