"""The financed-emissions figures as published: the JSON face of carbon.v1.FinancedEmissions (field names
as the proto's JSON names), built once from a core result (core.Financed). The REST router serves it;
the gRPC edge converts it to the message (tests/foundation/test_rest_proto_contract.py compares them).
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from pydantic import BaseModel, Field

from carbon_pricing.portfolio.core import Financed
from carbon_pricing.portfolio.domain import EstimateReason, Method, change_between, cny, economic_intensity_micro


class Bucket(BaseModel):
    key: str
    positions: int
    outstandingCny: str
    financedTco2: str | None
    intensity: str | None


class PositionOut(BaseModel):
    positionId: str
    enterprise: str
    attributionFactor: str | None
    attributionCapped: bool
    method: Method
    estimated: bool
    estimateReason: EstimateReason
    consentReason: str
    consent: str
    pcafOption: str
    dataQualityScore: int | None
    borrowerScope12Tco2: str | None
    financedTco2: str | None
    attributableReductionTco2: str | None
    accountDigest: str
    factorSetVersion: str
    benchmarkVersion: str


class YearOnYearOut(BaseModel):
    previousSnapshot: str
    previousPeriod: str
    previousFinancedTco2: str | None
    previousEconomicIntensity: str | None
    financedChangeTco2: str | None
    financedChangeRatio: str | None
    economicIntensityChange: str | None
    economicIntensityChangeRatio: str | None


class GradeBreakdownOut(BaseModel):
    schemeId: str
    buckets: list[Bucket]


class FinancedOut(BaseModel):
    snapshot: str
    reportingPeriod: str
    positions: int
    covered: int
    fromAccounts: int
    estimated: int
    outstandingCny: str
    financedTco2: str | None
    economicIntensity: str | None
    weightedDataQualityScore: str | None
    attributableReductionTco2: str | None
    byIndustry: list[Bucket]
    byRegion: list[Bucket]
    pcafTableVersion: str
    benchmarkVersion: str
    benchmarkIllustrative: bool
    positionEmissions: list[PositionOut] | None = None
    yearOnYear: YearOnYearOut | None = None
    byGrade: list[GradeBreakdownOut] | None = Field(
        default=None, description="Grades only of borrowers whose RATING consent to the bank allows it (else UNRATED)"
    )
    highCarbonOutstandingCny: str | None = None
    highCarbonFinancedTco2: str | None = None
    highCarbonGradesVersion: str | None = None


def _micro_text(value: int | None) -> str | None:
    return None if value is None else format(Decimal(value).scaleb(-6), "f")


def financed_out(result: Financed, include_positions: bool = True) -> FinancedOut:
    """The published figures of a result. Optional parts are set only when present, so
    `model_dump(exclude_unset=True)` leaves them out of the JSON (as the API always has)."""
    t = result.totals

    def bucket(key: str, v: tuple[int, int, int]) -> Bucket:
        return Bucket(
            key=key,
            positions=v[0],
            outstandingCny=format(cny(v[1]), "f"),
            financedTco2=_micro_text(v[2]),
            intensity=_micro_text(economic_intensity_micro(v[2], v[1])),
        )

    doc: dict[str, object] = {
        "snapshot": result.snapshot,
        "reportingPeriod": result.period,
        "positions": t.positions,
        "covered": t.covered,
        "fromAccounts": int(result.rows.filter(pl.col("method") == "ACCOUNT").height),
        "estimated": int(result.rows.filter(pl.col("estimated") & pl.col("financed_micro").is_not_null()).height),
        "outstandingCny": format(cny(t.outstanding_fen), "f"),
        "financedTco2": _micro_text(t.financed_micro),
        "economicIntensity": _micro_text(t.intensity_micro),
        "weightedDataQualityScore": None
        if t.weighted_score_centi is None
        else format(cny(t.weighted_score_centi), "f"),
        "attributableReductionTco2": _micro_text(t.attributable_reduction_micro),
        "byIndustry": [bucket(k, v) for k, v in sorted(t.by_industry.items())],
        "byRegion": [bucket(k, v) for k, v in sorted(t.by_region.items())],
        "pcafTableVersion": result.pcaf_version,
        "benchmarkVersion": result.benchmark_version,
        "benchmarkIllustrative": result.benchmark_illustrative,
    }
    if result.grades is not None:
        g = result.grades
        doc["byGrade"] = [
            GradeBreakdownOut(schemeId=scheme, buckets=[bucket(k, v) for k, v in sorted(buckets.items())])
            for scheme, buckets in sorted(g.by_grade.items())
        ]
        doc["highCarbonOutstandingCny"] = format(cny(g.high_carbon_outstanding_fen), "f")
        doc["highCarbonFinancedTco2"] = _micro_text(g.high_carbon_financed_micro)
        doc["highCarbonGradesVersion"] = result.high_carbon_version
    if result.previous is not None:
        before = result.previous.totals
        change = change_between(t.financed_micro, before.financed_micro, t.intensity_micro, before.intensity_micro)
        doc["yearOnYear"] = YearOnYearOut(
            previousSnapshot=result.previous.snapshot,
            previousPeriod=result.previous.period,
            previousFinancedTco2=_micro_text(before.financed_micro),
            previousEconomicIntensity=_micro_text(before.intensity_micro),
            financedChangeTco2=_micro_text(change.financed_change_micro),
            financedChangeRatio=_micro_text(change.financed_change_ratio_micro),
            economicIntensityChange=_micro_text(change.intensity_change_micro),
            economicIntensityChangeRatio=_micro_text(change.intensity_change_ratio_micro),
        )
    if include_positions:
        doc["positionEmissions"] = [
            PositionOut.model_validate(
                {
                    "positionId": r["position_id"],
                    "enterprise": f"enterprises/{r['uscc']}",
                    "attributionFactor": _micro_text(r["attribution_micro"]),
                    "attributionCapped": r["attribution_capped"],
                    "method": r["method"],
                    "estimated": r["estimated"],
                    "estimateReason": r["estimate_reason"],
                    "consentReason": r["consent_reason"],
                    "consent": r["consent"],
                    "pcafOption": r["pcaf_option"],
                    "dataQualityScore": r["data_quality_score"],
                    "borrowerScope12Tco2": _micro_text(r["borrower_micro"]),
                    "financedTco2": _micro_text(r["financed_micro"]),
                    "attributableReductionTco2": _micro_text(r["reduction_micro"]),
                    "accountDigest": r["account_digest"],
                    "factorSetVersion": r["factor_set_version"],
                    "benchmarkVersion": r["benchmark_version"],
                }
            )
            for r in result.rows.iter_rows(named=True)
        ]
    return FinancedOut.model_validate(doc)
