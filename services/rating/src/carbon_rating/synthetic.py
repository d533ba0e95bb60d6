"""Seeded synthetic population frames for tests, previews in dev mode and the benchmark (pure)."""

from __future__ import annotations

import random
from fractions import Fraction

import polars as pl

from carbon_rating.model import MICRO, round_half_even
from carbon_rating.vectorised import population_frame, schema

# GB/T 4754 classes with a rough share of enterprises; a few tiny ones exercise the parent fallback.
INDUSTRIES = [
    ("C2611", 8),
    ("C2612", 3),
    ("C2614", 1),
    ("C2619", 2),
    ("C2631", 2),
    ("C3011", 6),
    ("C3021", 3),
    ("C3041", 1),
    ("C3110", 2),
    ("C3120", 3),
    ("C3130", 2),
    ("C3211", 1),
    ("C3311", 4),
    ("C3331", 3),
    ("C3411", 4),
    ("C3512", 3),
    ("C3811", 4),
    ("C3831", 3),
    ("C3912", 3),
    ("C1711", 6),
    ("C1713", 4),
    ("C1751", 3),
    ("C1810", 5),
    ("C2211", 2),
    ("C2221", 3),
    ("C2231", 2),
    ("C2922", 5),
    ("C2927", 2),
    ("C1331", 2),
    ("C1391", 1),
    ("C2110", 4),
    ("C2412", 1),
    ("C2710", 2),
    ("C2761", 1),
    ("C4190", 1),
    ("D4411", 1),
    ("D4430", 1),
    ("E4710", 1),
]
REGIONS = [
    ("330502", "330000"),
    ("330503", "330000"),
    ("330521", "330000"),
    ("330802", "330000"),
    ("330881", "330000"),
    ("440304", "440000"),
    ("440305", "440000"),
]


def population(n: int, years: tuple[str, ...] = ("2021", "2022", "2023"), seed: int = 7) -> pl.DataFrame:
    """n enterprises, one row per year, realistic-ish spreads; integer columns as in model.Row."""
    rng = random.Random(seed)
    names = [c for c, w in INDUSTRIES for _ in range(w)]
    cols: dict[str, list[object]] = {c: [] for c in schema()}
    for i in range(n):
        uscc = f"E{i:08d}"
        code = rng.choice(names)
        region, province = rng.choice(REGIONS)
        base_va = rng.randint(500_000, 500_000_000) * 100  # cents
        base_l = Fraction(rng.randint(50_000, 4_000_000), MICRO) * Fraction(rng.choice((1, 1, 1, 2, 3)))
        clean = rng.choice((None, 0, 0, 50_000, 150_000, 300_000, 500_000, rng.randint(0, MICRO)))
        for k, year in enumerate(years):
            va = base_va * rng.randint(90, 115) // 100
            drift = Fraction(rng.randint(85, 110), 100) ** k
            l_va = round_half_even(base_l * drift * MICRO) if rng.random() > 0.01 else None
            tco2 = None if l_va is None else l_va * va // MICRO  # micro-t: L [micro] x va [cents] / 1e6
            revenue = va * rng.randint(2, 6)
            tce = None if tco2 is None else tco2 * rng.randint(30, 45) // 100
            row = {
                "uscc": uscc,
                "period": year,
                "industry": code,
                "region": region,
                "province": province,
                "tco2": tco2,
                "tce": tce,
                "va": va if l_va is not None else None,
                "revenue": revenue,
                "tax": revenue // 13,
                "l_va": l_va,
                "l_rev": None if tco2 is None else round_half_even(Fraction(tco2 * MICRO, revenue)),
                "l_tax": None if tco2 is None else round_half_even(Fraction(tco2 * MICRO, revenue // 13)),
                "e_va": None if tce is None or l_va is None else round_half_even(Fraction(tce * MICRO, va)),
                "e_rev": None if tce is None else round_half_even(Fraction(tce * MICRO, revenue)),
                "clean": clean,
                "quality": rng.choice((MICRO, 980_000, 950_000, 900_000, 850_000, 800_000, 600_000, 400_000)),
                "reduction": None,
                "reduction_tco2": None,
                "account_digest": "",
                "factor_set_version": "synthetic",
            }
            for c in cols:
                cols[c].append(row[c])
    return population_frame(pl.DataFrame(cols, schema=schema()))
