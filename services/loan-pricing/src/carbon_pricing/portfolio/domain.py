"""Financed emissions of a bank's loan book (PCAF Part A, business loans and unlisted equity), pure.

Per position, for one reporting period (an account period, "2024"):

    attribution = outstanding / (total equity + debt)        unlisted borrowers
                = outstanding / EVIC                         listed borrowers
                  (capped at 1: a bank cannot finance more than the whole company)
    financed    = attribution x borrower Scope 1+2 (tCO2e) of the reporting period

The borrower's Scope 1+2 comes from its platform carbon account for the period only when the
bank's consent decision for (enterprise, CARBON_ACCOUNT scope, that period) allowed it — the
decision is made by the consent rule (`carbon_consent.domain.decide`, or the consent service) and
handed in; this module never reads data it was not given. Otherwise the emissions are *estimated*
from the bank's own figures and the platform's published industry intensity benchmark:
revenue x revenue intensity (PCAF option 3a), or, without revenue, equity+debt x asset
intensity (option 3b). Every position carries its PCAF option and data-quality score
(`PcafTable`, data file pcaf_methods.yaml) and the versions it used.

Arithmetic is exact: money in fen and emissions in micro-tonnes as integers, every quotient
rounded once, half-even (`div_half_even`). The vectorised implementations (polars, DuckDB in
bench/) do the same integer steps, so all three agree to the last micro-tonne.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

DATA_DIR = Path(__file__).with_name("data")
FEN_PER_CNY = 100
MICRO_PER_TONNE = 1_000_000
MICRO_TONNE = Decimal("0.000001")  # the book keeps tonnes to six places (micro-tonnes)
CNY_PER_MILLION = 1_000_000
SCORE_SCALE = 100  # weighted data-quality score reported with 2 decimals
UNRATED = "UNRATED"


# ---------------------------------------------------------------- exact integer units


def div_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, ties to even (denominator > 0)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def _scaled(value: Decimal, scale: int, what: str) -> int:
    scaled = value * scale
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what} has more decimal places than its unit allows")
    return int(scaled)


def fen(value: Decimal) -> int:
    return _scaled(value, FEN_PER_CNY, "an amount in CNY")


def micro(value: Decimal) -> int:
    return _scaled(value, MICRO_PER_TONNE, "a quantity in tCO2e")


def tco2(micro_tonnes: int) -> Decimal:
    return Decimal(micro_tonnes).scaleb(-6)


def cny(fen_amount: int) -> Decimal:
    return Decimal(fen_amount).scaleb(-2)


# ---------------------------------------------------------------- reference data


class Method(StrEnum):
    ACCOUNT = "ACCOUNT"  # the borrower's platform carbon account (consented)
    REVENUE_ESTIMATE = "REVENUE_ESTIMATE"  # revenue x industry revenue intensity
    ASSET_ESTIMATE = "ASSET_ESTIMATE"  # equity+debt x industry asset intensity
    NONE = "NONE"  # no account, no benchmark for the industry: not estimated


class EstimateReason(StrEnum):
    """Why a position is estimated rather than computed from the borrower's account."""

    NONE = ""  # not estimated
    NO_CONSENT = "NO_CONSENT"  # the consent decision refused (reason kept on the position)
    NO_ACCOUNT = "NO_ACCOUNT"  # consented, but the platform has no account for the period


@dataclass(frozen=True)
class PcafTable:
    """PCAF option -> data-quality score (data/pcaf_methods.yaml, with its source)."""

    version: str
    source: str
    scores: Mapping[str, int]
    basis: Mapping[str, str] = field(default_factory=dict)  # option -> what the option computes from
    note: str = ""  # how far the table has been checked (printed with it)

    @classmethod
    def load(cls, path: Path | None = None) -> PcafTable:
        doc = yaml.safe_load((path or DATA_DIR / "pcaf_methods.yaml").read_text(encoding="utf-8"))
        return cls(
            version=str(doc["version"]),
            source=str(doc["source"]),
            scores={str(k): int(v["score"]) for k, v in doc["options"].items()},
            basis={str(k): str(v.get("basis", "")) for k, v in doc["options"].items()},
            note=str(doc.get("note", "")),
        )


@dataclass(frozen=True)
class IndustryIntensity:
    revenue: Decimal  # tCO2e per million CNY revenue
    assets: Decimal  # tCO2e per million CNY equity + debt


@dataclass(frozen=True)
class Benchmarks:
    """The platform's published industry intensity benchmarks (data/industry_benchmarks.yaml)."""

    version: str
    status: str
    industries: Mapping[str, IndustryIntensity]
    source: str = ""

    @classmethod
    def load(cls, path: Path | None = None) -> Benchmarks:
        doc = yaml.safe_load((path or DATA_DIR / "industry_benchmarks.yaml").read_text(encoding="utf-8"))
        return cls(
            version=str(doc["version"]),
            status=str(doc.get("status", "")),
            source=str(doc.get("source", "")),
            industries={
                str(code): IndustryIntensity(Decimal(str(v["revenue"])), Decimal(str(v["assets"])))
                for code, v in doc["industries"].items()
            },
        )


@dataclass(frozen=True)
class HighCarbonGrades:
    """Grades counted as high-carbon exposure, per scheme (data/high_carbon_grades.yaml, with its source)."""

    version: str
    status: str
    schemes: Mapping[str, frozenset[str]]

    @classmethod
    def load(cls, path: Path | None = None) -> HighCarbonGrades:
        doc = yaml.safe_load((path or DATA_DIR / "high_carbon_grades.yaml").read_text(encoding="utf-8"))
        return cls(
            version=str(doc["version"]),
            status=str(doc.get("status", "")),
            schemes={str(k): frozenset(str(g) for g in v) for k, v in doc["schemes"].items()},
        )


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Position:
    """One loan or unlisted-equity position of a book snapshot, as the bank states it."""

    position_id: str
    uscc: str
    product: str
    outstanding_cny: Decimal
    equity_plus_debt_cny: Decimal  # total equity + debt of the borrower (book values)
    industry: str  # GB/T 4754 class, e.g. C3011
    region: str  # administrative division code, e.g. 330000
    listed: bool = False
    evic_cny: Decimal | None = None  # enterprise value including cash, listed borrowers
    revenue_cny: Decimal | None = None

    def denominator_fen(self) -> int:
        if self.listed:
            if self.evic_cny is None or self.evic_cny <= 0:
                raise ValueError(f"position {self.position_id}: a listed borrower needs a positive EVIC")
            return fen(self.evic_cny)
        if self.equity_plus_debt_cny <= 0:
            raise ValueError(f"position {self.position_id}: equity + debt must be positive")
        return fen(self.equity_plus_debt_cny)


@dataclass(frozen=True)
class BorrowerAccount:
    """What the financed-emissions computation reads of a platform carbon account."""

    uscc: str
    period: str
    scope12_tco2: Decimal
    input_digest: str
    factor_set_version: str
    reduction_tco2: Decimal | None = None  # reduction against the base year (positive = fewer tonnes)
    verified: bool = False  # third-party verified (PCAF 1a) rather than computed from activity data (2a)

    @classmethod
    def of_figures(
        cls,
        uscc: str,
        period: str,
        total_tco2: Decimal | None,
        input_digest: str,
        factor_set_version: str,
        reduction_tco2: Decimal | None,
    ) -> BorrowerAccount | None:
        """From an account's own figures (a fetched Account or its AccountStored message), kept to the
        book's micro-tonnes; None for an account without a total."""
        if total_tco2 is None:
            return None
        return cls(
            uscc=uscc,
            period=period,
            scope12_tco2=total_tco2.quantize(MICRO_TONNE),
            input_digest=input_digest,
            factor_set_version=factor_set_version,
            reduction_tco2=None if reduction_tco2 is None else reduction_tco2.quantize(MICRO_TONNE),
        )


@dataclass(frozen=True)
class Access:
    """The consent decision for (enterprise, bank, CARBON_ACCOUNT scope, reporting period)."""

    allowed: bool
    consent: str = ""  # the consent that allowed (or best explains the refusal)
    reason: str = ""  # denial reason from the consent rule (CONSENT_DATA_WINDOW, ...)


DENIED = Access(False, "", "CONSENT_REQUIRED")


# ---------------------------------------------------------------- per position


@dataclass(frozen=True)
class PositionEmissions:
    position_id: str
    uscc: str
    product: str
    industry: str
    region: str
    outstanding_fen: int
    denominator_fen: int
    attribution_micro: int  # attribution factor x 10^6, rounded half-even (display; financed uses the exact ratio)
    attribution_capped: bool
    method: Method
    estimated: bool
    estimate_reason: EstimateReason
    consent_reason: str  # the consent rule's denial reason when not allowed
    consent: str
    pcaf_option: str
    data_quality_score: int | None
    borrower_micro: int | None  # borrower Scope 1+2 (account) or its estimate, micro-tCO2e
    financed_micro: int | None
    reduction_micro: int | None  # attribution x base-year reduction (accounts only)
    account_digest: str
    factor_set_version: str
    benchmark_version: str
    grades: Mapping[str, str] = field(default_factory=dict)  # scheme -> grade the bank may see

    @property
    def financed_tco2(self) -> Decimal | None:
        return None if self.financed_micro is None else tco2(self.financed_micro)

    @property
    def attribution(self) -> Decimal:
        return tco2(self.attribution_micro)  # same 10^-6 grid


def attribute(outstanding_fen: int, denominator_fen: int, emissions_micro: int) -> tuple[int, bool]:
    """Financed micro-tonnes = outstanding / denominator x emissions, one half-even rounding; capped at 1."""
    if outstanding_fen >= denominator_fen:
        return emissions_micro, outstanding_fen > denominator_fen
    return div_half_even(outstanding_fen * emissions_micro, denominator_fen), False


def estimate_micro(position: Position, benchmarks: Benchmarks) -> tuple[Method, int | None]:
    """Borrower Scope 1+2 estimated from the bank's figures: revenue (3a), else equity+debt (3b)."""
    intensity = benchmarks.industries.get(position.industry)
    if intensity is None:
        return Method.NONE, None
    if position.revenue_cny is not None and position.revenue_cny > 0:
        # fen x micro-t per million CNY / (100 fen x 10^6 CNY)
        base, per_million = fen(position.revenue_cny), micro(intensity.revenue)
        method = Method.REVENUE_ESTIMATE
    else:
        base, per_million = position.denominator_fen(), micro(intensity.assets)
        method = Method.ASSET_ESTIMATE
    return method, div_half_even(base * per_million, FEN_PER_CNY * CNY_PER_MILLION)


_OPTION = {Method.REVENUE_ESTIMATE: "3a", Method.ASSET_ESTIMATE: "3b"}


def position_emissions(
    position: Position,
    access: Access,
    account: BorrowerAccount | None,
    benchmarks: Benchmarks,
    pcaf: PcafTable,
    grades: Mapping[str, str] | None = None,
) -> PositionEmissions:
    outstanding = fen(position.outstanding_cny)
    if outstanding <= 0:
        raise ValueError(f"position {position.position_id}: outstanding amount must be positive")
    denominator = position.denominator_fen()
    capped_outstanding = min(outstanding, denominator)
    attribution_micro = div_half_even(capped_outstanding * MICRO_PER_TONNE, denominator)
    reduction = None
    digest = factor_set = benchmark_version = ""
    if access.allowed and account is not None:
        method, estimated, reason = Method.ACCOUNT, False, EstimateReason.NONE
        option = "1a" if account.verified else "2a"
        borrower: int | None = micro(account.scope12_tco2)
        digest, factor_set = account.input_digest, account.factor_set_version
        if account.reduction_tco2 is not None:
            reduction, _ = attribute(outstanding, denominator, micro(account.reduction_tco2))
    else:
        reason = EstimateReason.NO_CONSENT if not access.allowed else EstimateReason.NO_ACCOUNT
        estimated = True
        method, borrower = estimate_micro(position, benchmarks)
        option = _OPTION.get(method, "")
        benchmark_version = benchmarks.version if borrower is not None else ""
    financed, capped = (
        (None, outstanding > denominator) if borrower is None else attribute(outstanding, denominator, borrower)
    )
    return PositionEmissions(
        position_id=position.position_id,
        uscc=position.uscc,
        product=position.product,
        industry=position.industry,
        region=position.region,
        outstanding_fen=outstanding,
        denominator_fen=denominator,
        attribution_micro=attribution_micro,
        attribution_capped=capped,
        method=method,
        estimated=estimated,
        estimate_reason=reason,
        consent_reason="" if access.allowed else access.reason,
        consent=access.consent,
        pcaf_option=option,
        data_quality_score=pcaf.scores[option] if option else None,
        borrower_micro=borrower,
        financed_micro=financed,
        reduction_micro=reduction,
        account_digest=digest,
        factor_set_version=factor_set,
        benchmark_version=benchmark_version,
        grades=dict(grades or {}),
    )


def book_emissions(
    positions: Iterable[Position],
    access: Mapping[str, Access],
    accounts: Mapping[str, BorrowerAccount],
    benchmarks: Benchmarks,
    pcaf: PcafTable,
    grades: Mapping[str, Mapping[str, str]] | None = None,
) -> list[PositionEmissions]:
    """Every position; `access`, `accounts` and `grades` are keyed by USCC (read in bulk by the caller)."""
    grades = grades or {}
    return [
        position_emissions(p, access.get(p.uscc, DENIED), accounts.get(p.uscc), benchmarks, pcaf, grades.get(p.uscc))
        for p in positions
    ]


# ---------------------------------------------------------------- portfolio figures


@dataclass(frozen=True)
class Bucket:
    """A slice of the book (an industry, a region, a grade under one scheme)."""

    key: str
    positions: int
    outstanding_fen: int
    financed_micro: int

    def intensity_micro(self) -> int | None:
        return economic_intensity_micro(self.financed_micro, self.outstanding_fen)


def economic_intensity_micro(financed_micro: int, outstanding_fen: int) -> int | None:
    """tCO2e per million CNY lent, in micro-tCO2e: financed_t x 10^6 / outstanding_CNY."""
    if outstanding_fen <= 0:
        return None
    return div_half_even(financed_micro * CNY_PER_MILLION * FEN_PER_CNY, outstanding_fen)


@dataclass(frozen=True)
class PortfolioFigures:
    period: str
    positions: int
    covered: int  # positions with a financed figure (account or estimate)
    outstanding_fen: int  # of every position
    covered_outstanding_fen: int
    financed_micro: int
    intensity_micro: int | None  # over covered outstanding
    weighted_score_centi: int | None  # outstanding-weighted PCAF score x 100 (covered positions)
    from_accounts: int
    estimated: int
    attributable_reduction_micro: int
    by_industry: tuple[Bucket, ...]
    by_region: tuple[Bucket, ...]
    by_grade: Mapping[str, tuple[Bucket, ...]]  # scheme -> grade buckets (UNRATED for positions without)
    high_carbon_outstanding_fen: int
    high_carbon_financed_micro: int
    versions: Mapping[str, tuple[str, ...]]


def _buckets(items: Iterable[tuple[str, PositionEmissions]]) -> tuple[Bucket, ...]:
    sums: dict[str, list[int]] = {}
    for key, p in items:
        row = sums.setdefault(key, [0, 0, 0])
        row[0] += 1
        row[1] += p.outstanding_fen
        row[2] += p.financed_micro or 0
    return tuple(Bucket(k, *v) for k, v in sorted(sums.items()))


def portfolio(
    period: str,
    results: Iterable[PositionEmissions],
    schemes: Iterable[str] = (),
    high_carbon: Mapping[str, frozenset[str]] | None = None,
) -> PortfolioFigures:
    """Book totals. Intensity and the weighted score cover the positions with a financed figure.
    High-carbon exposure: positions graded in `high_carbon[scheme]` under any scheme (counted once)."""
    rows = list(results)
    covered = [r for r in rows if r.financed_micro is not None]
    covered_fen = sum(r.outstanding_fen for r in covered)
    financed = sum(r.financed_micro or 0 for r in covered)
    weighted = (
        div_half_even(sum(r.outstanding_fen * (r.data_quality_score or 0) for r in covered) * SCORE_SCALE, covered_fen)
        if covered_fen
        else None
    )
    high_carbon = high_carbon or {}
    hot = [r for r in rows if any(r.grades.get(s) in grades for s, grades in high_carbon.items())]
    scheme_list = sorted(set(schemes) | set(high_carbon))
    versions: dict[str, set[str]] = {"factor_set": set(), "benchmark": set()}
    for r in rows:
        if r.factor_set_version:
            versions["factor_set"].add(r.factor_set_version)
        if r.benchmark_version:
            versions["benchmark"].add(r.benchmark_version)
    return PortfolioFigures(
        period=period,
        positions=len(rows),
        covered=len(covered),
        outstanding_fen=sum(r.outstanding_fen for r in rows),
        covered_outstanding_fen=covered_fen,
        financed_micro=financed,
        intensity_micro=economic_intensity_micro(financed, covered_fen),
        weighted_score_centi=weighted,
        from_accounts=sum(1 for r in rows if r.method == Method.ACCOUNT),
        estimated=sum(1 for r in covered if r.estimated),
        attributable_reduction_micro=sum(r.reduction_micro or 0 for r in rows),
        by_industry=_buckets((r.industry, r) for r in covered),
        by_region=_buckets((r.region, r) for r in covered),
        by_grade={s: _buckets((r.grades.get(s, UNRATED), r) for r in covered) for s in scheme_list},
        high_carbon_outstanding_fen=sum(r.outstanding_fen for r in hot),
        high_carbon_financed_micro=sum(r.financed_micro or 0 for r in hot),
        versions={k: tuple(sorted(v)) for k, v in versions.items()},
    )


@dataclass(frozen=True)
class YearOnYear:
    financed_change_micro: int
    financed_change_ratio_micro: int | None  # (current - previous) / previous x 10^6
    intensity_change_micro: int | None
    intensity_change_ratio_micro: int | None


def year_on_year(current: PortfolioFigures, previous: PortfolioFigures) -> YearOnYear:
    return change_between(
        current.financed_micro, previous.financed_micro, current.intensity_micro, previous.intensity_micro
    )


def change_between(
    financed_now: int, financed_before: int, intensity_now: int | None, intensity_before: int | None
) -> YearOnYear:
    """Changes between two books' figures (micro-tCO2e; ratios x 10^6, None without a positive base)."""

    def ratio(now: int | None, before: int | None) -> int | None:
        if now is None or before is None or before <= 0:
            return None
        return div_half_even((now - before) * MICRO_PER_TONNE, before)

    both = intensity_now is not None and intensity_before is not None
    return YearOnYear(
        financed_change_micro=financed_now - financed_before,
        financed_change_ratio_micro=ratio(financed_now, financed_before),
        intensity_change_micro=intensity_now - intensity_before if both else None,  # type: ignore[operator]
        intensity_change_ratio_micro=ratio(intensity_now, intensity_before),
    )


def position_doc(p: PositionEmissions) -> dict[str, str | int | bool | None]:
    """A position's calculation as plain text fields (CSV export, API records)."""
    return {
        "position_id": p.position_id,
        "enterprise": f"enterprises/{p.uscc}",
        "product": p.product,
        "industry": p.industry,
        "region": p.region,
        "outstanding_cny": format(cny(p.outstanding_fen), "f"),
        "attribution_denominator_cny": format(cny(p.denominator_fen), "f"),
        "attribution_factor": format(p.attribution, "f"),
        "attribution_capped": p.attribution_capped,
        "method": p.method.value,
        "estimated": p.estimated,
        "estimate_reason": p.estimate_reason.value,
        "consent": p.consent,
        "consent_reason": p.consent_reason,
        "pcaf_option": p.pcaf_option,
        "data_quality_score": p.data_quality_score,
        "borrower_scope12_tco2": None if p.borrower_micro is None else format(tco2(p.borrower_micro), "f"),
        "financed_tco2": None if p.financed_micro is None else format(tco2(p.financed_micro), "f"),
        "attributable_reduction_tco2": None if p.reduction_micro is None else format(tco2(p.reduction_micro), "f"),
        "account_digest": p.account_digest,
        "factor_set_version": p.factor_set_version,
        "benchmark_version": p.benchmark_version,
    }


# ---------------------------------------------------------------- records kept in Redis (portfolio/store.py)

RunState = Literal["PENDING", "RUNNING", "SUCCEEDED", "FAILED"]  # carbon.v1.RepricingRun.State, unprefixed


class PositionRecord(BaseModel):
    """A stored position: the bank's row as validated (book.BookRow.doc(), what the digest covers)."""

    model_config = ConfigDict(frozen=True)

    position_id: str
    enterprise: str  # enterprises/{uscc}
    product: str
    outstanding_cny: str
    drawn_date: str
    maturity_date: str
    equity_plus_debt_cny: str
    listed: bool
    evic_cny: str  # "": not given
    revenue_cny: str  # "": not given
    industry_code: str
    region_code: str


class StoredSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str  # banks/{bank}/books/{book}/snapshots/{date}
    digest: str  # sha256 of the positions (book.digest)
    position_count: int
    outstanding_cny: str
    create_time: str
    positions: list[PositionRecord]


class RateAdjustment(BaseModel):
    """The positions priced with one rate adjustment, their outstanding and its annual interest effect."""

    model_config = ConfigDict(frozen=True)

    rate_adjustment_bp: int
    positions: int
    outstanding_cny: str
    annual_interest_effect_cny: str


class RunSummary(BaseModel):
    """A finished run's figures (every amount rounded once, half-even, to the fen)."""

    model_config = ConfigDict(frozen=True)

    priced: int
    not_priced: dict[str, int]  # reason -> positions
    decisions: dict[str, int]  # decision -> positions
    rate_adjustments: list[RateAdjustment]  # by bp
    priced_outstanding_cny: str
    annual_interest_effect_cny: str


class RunRecord(BaseModel):
    """A re-pricing run as stored (run:{bank}:{run}); the summary fields are set once it SUCCEEDED."""

    model_config = ConfigDict(frozen=True)

    name: str
    snapshot: str
    product: str
    reference_rate_pct: str
    default_tenor_months: int
    state: RunState
    positions_total: int
    positions_done: int
    simulation: Literal[True] = True
    create_time: str
    update_time: str
    error: str = ""
    heartbeat: float = 0.0  # time.time() of the working replica's last beat (STALE_SECONDS)
    priced: int = 0
    not_priced: dict[str, int] = {}
    decisions: dict[str, int] = {}
    rate_adjustments: list[RateAdjustment] = []
    priced_outstanding_cny: str | None = None
    annual_interest_effect_cny: str | None = None
    policy_bundle_version: str = ""

    @property
    def run_id(self) -> str:
        return self.name.rsplit("/", 1)[-1]
