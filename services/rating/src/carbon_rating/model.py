"""The normalised population row: one enterprise, one period (pure).

Every number is an integer at a fixed scale so the per-enterprise path
(Python Fractions) and the vectorised path (polars Int128) see exactly the
same inputs:

- emissions `tco2` and energy `tce` in millionths (micro-tCO2, micro-tce);
- money `va`, `revenue`, `tax` in CNY cents;
- intensities (tCO2 or tce per 10^4 CNY), shares and rates in millionths,
  rounded ROUND_HALF_EVEN to 6 decimals when the account is normalised.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any, overload

MICRO = 1_000_000
CENTS = 100
_MICRO_PLACES = Decimal("0.000001")
_CENT_PLACES = Decimal("0.01")


def to_micro(value: Decimal | None) -> int | None:
    if value is None:
        return None
    return int(value.quantize(_MICRO_PLACES, rounding=ROUND_HALF_EVEN) * MICRO)


def to_cents(value: Decimal | None) -> int | None:
    if value is None:
        return None
    return int(value.quantize(_CENT_PLACES, rounding=ROUND_HALF_EVEN) * CENTS)


def micro_decimal(value: int | None) -> Decimal | None:
    return None if value is None else (Decimal(value) / MICRO).quantize(_MICRO_PLACES)


@overload
def fraction_decimal(value: Fraction, places: Decimal = ...) -> Decimal: ...
@overload
def fraction_decimal(value: None, places: Decimal = ...) -> None: ...
@overload
def fraction_decimal(value: Fraction | None, places: Decimal = ...) -> Decimal | None: ...
def fraction_decimal(value: Fraction | None, places: Decimal = _MICRO_PLACES) -> Decimal | None:
    """Exact rational -> Decimal rounded ROUND_HALF_EVEN at `places` (display only)."""
    if value is None:
        return None
    exponent = places.as_tuple().exponent
    if not isinstance(exponent, int):
        raise ValueError(f"places must be a finite Decimal, not {places}")
    scale: int = 10**-exponent
    scaled = value * scale
    q, r = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * r
    if twice > scaled.denominator or (twice == scaled.denominator and q % 2 == 1):
        q += 1
    return (Decimal(q) / scale).quantize(places)


@dataclass(frozen=True)
class Row:
    uscc: str
    period: str
    industry: str
    region: str = ""
    province: str = ""
    tco2: int | None = None
    tce: int | None = None
    va: int | None = None
    revenue: int | None = None
    tax: int | None = None
    l_va: int | None = None
    l_rev: int | None = None
    l_tax: int | None = None
    e_va: int | None = None
    e_rev: int | None = None
    clean: int | None = None
    quality: int | None = None
    reduction: int | None = None
    reduction_tco2: int | None = None
    account_digest: str = ""
    factor_set_version: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Row:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


ROW_COLUMNS = [f.name for f in fields(Row)]
INT_COLUMNS = [f.name for f in fields(Row) if f.type == "int | None"]
STR_COLUMNS = [c for c in ROW_COLUMNS if c not in INT_COLUMNS]


def intensity(numerator_micro: int | None, denominator_cents: int | None) -> int | None:
    """Micro-units per 10^4 CNY from micro-units and cents: (n / 1e6) / (d / 1e2 / 1e4) = n / d, rounded to 6 places."""
    if numerator_micro is None or not denominator_cents or denominator_cents <= 0:
        return None
    return round_half_even(Fraction(numerator_micro) * MICRO / denominator_cents)


def round_half_even(value: Fraction) -> int:
    """Nearest integer, ties to even (exact, no float)."""
    q, r = divmod(value.numerator, value.denominator)
    twice = 2 * r
    if twice > value.denominator or (twice == value.denominator and q % 2 == 1):
        q += 1
    return q


def year_of(period: str) -> int:
    return int(period[:4])
