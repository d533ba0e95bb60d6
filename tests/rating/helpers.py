"""Builders for rating tests: population rows, scheme documents with overrides."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from carbon_rating import scheme as sc
from carbon_rating.benchmarks import build_table
from carbon_rating.builtin import builtin_documents
from carbon_rating.model import Row, intensity, to_cents, to_micro
from carbon_rating.vectorised import benchmark_metrics, population_frame


def row(
    uscc: str,
    period: str = "2023",
    industry: str = "C2611",
    *,
    l_va: str | None = None,
    l_rev: str | None = None,
    e_rev: str | None = None,
    tco2: str | None = None,
    va: str | None = None,
    revenue: str | None = None,
    tce: str | None = None,
    clean: str | None = None,
    quality: str | None = None,
    region: str = "330502",
    province: str = "330000",
) -> Row:
    """A population row; intensities from tco2/va when not given."""
    tco2_m = to_micro(Decimal(tco2)) if tco2 is not None else None
    tce_m = to_micro(Decimal(tce)) if tce is not None else None
    va_c = to_cents(Decimal(va)) if va is not None else None
    rev_c = to_cents(Decimal(revenue)) if revenue is not None else None
    return Row(
        uscc=uscc,
        period=period,
        industry=industry,
        region=region,
        province=province,
        tco2=tco2_m,
        tce=tce_m,
        va=va_c,
        revenue=rev_c,
        l_va=to_micro(Decimal(l_va)) if l_va is not None else intensity(tco2_m, va_c),
        l_rev=to_micro(Decimal(l_rev)) if l_rev is not None else intensity(tco2_m, rev_c),
        e_rev=to_micro(Decimal(e_rev)) if e_rev is not None else intensity(tce_m, rev_c),
        clean=to_micro(Decimal(clean)) if clean is not None else None,
        quality=to_micro(Decimal(quality)) if quality is not None else None,
    )


def document(scheme_id: str, /, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(builtin_documents()[scheme_id])
    for path, value in changes.items():
        target = doc
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[keys[-1]] = value
    return doc


def official(metric: str, industry: str, period: str, value: str) -> dict[str, str]:
    return {"metric": metric, "industry": industry, "period": period, "value": value, "source": "test"}


def rate(doc: dict[str, Any], rows: list[Row], target: str, period: str = "2023") -> sc.Outcome:
    scheme = sc.compile_scheme(doc)
    frame = population_frame(rows)
    table = build_table(frame, scheme.benchmark, benchmark_metrics(scheme))
    own = {r.period: r for r in rows if r.uscc == target}
    return sc.evaluate(scheme, own[period], own, table)
