"""Pure carbon-account computation: aggregated activity in, Account proto out.

No I/O here. The inputs are exact aggregates (integer Wh, Decimal invoice
sums) produced by `activity.py`; factor selection comes from `factors.py`.
All arithmetic is Decimal under a fixed 50-digit context, results rounded
ROUND_HALF_EVEN (tCO2, tce, quantities 6 places; money 2; ratios 6), so the
same inputs and versions give the same account bit for bit.

Rules (documented in services/accounting/README.md):
- Source per energy type and period: meters when meter coverage >= the
  threshold, else invoices when there are any, else the (partial) meters.
  Both present and |inv - met| / max(inv, met) > disagreement threshold ->
  flag INVOICE_METER_DISAGREE.
- Scope 1 (fuel): q x NCV x carbon content x oxidation x 44/12.
- Scope 2 location: electricity MWh x grid factor (province -> region ->
  national) + heat GJ x heat factor. Market: (electricity - green)
  MWh x residual-mix factor + green MWh x instrument factor + heat.
- Value added = sales amount - purchase amount (all purchase lines, energy and
  non_energy, excl. VAT). Tax = VAT output tax on sales. Declared economics
  (year accounts) override each field they set.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

from carbon.v1 import accounting_pb2, common_pb2
from carbon_common.decimals import to_proto
from carbon_common.hashchain import canonical_json

from carbon_accounting import factors as fx

ALGORITHM_VERSION = "accounting-1"
SIX = Decimal("0.000001")
TWO = Decimal("0.01")
CTX = Context(prec=50, rounding=ROUND_HALF_EVEN)
Account = accounting_pb2.Account


def q6(value: Decimal) -> Decimal:
    return value.quantize(SIX, rounding=ROUND_HALF_EVEN, context=CTX)


def q2(value: Decimal) -> Decimal:
    return value.quantize(TWO, rounding=ROUND_HALF_EVEN, context=CTX)


def energy_enum(name: str) -> int:
    try:
        return int(common_pb2.EnergyType.Value(f"ENERGY_TYPE_{name.upper()}"))
    except ValueError:
        return int(common_pb2.ENERGY_TYPE_UNSPECIFIED)


# ---- inputs -------------------------------------------------------------------


@dataclass(frozen=True)
class MeterAgg:
    """Deduplicated, unflagged readings of one energy type in one month."""

    month: str
    energy_type: str
    wh: int  # sum of Wh (non-electric: canonical unit x 1000)
    readings: int  # distinct (meter, ts) used
    meters: tuple[str, ...]  # meter ids seen
    flagged: int = 0
    duplicates: int = 0  # rows superseded by a higher seq


@dataclass(frozen=True)
class InvoiceAgg:
    """Purchase lines of one energy type and unit in one month (red-letter lines netted)."""

    month: str
    energy_type: str
    unit: str
    quantity: Decimal
    amount_cny: Decimal


@dataclass(frozen=True)
class Economics:
    month: str
    sales_amount_cny: Decimal = Decimal(0)
    sales_tax_cny: Decimal = Decimal(0)
    purchase_amount_cny: Decimal = Decimal(0)
    sales_lines: int = 0


@dataclass(frozen=True)
class Enterprise:
    uscc: str
    industry_code: str = ""
    province_code: str = ""
    region_code: str = ""


@dataclass(frozen=True)
class PeriodInputs:
    enterprise: Enterprise
    period: str  # YYYY or YYYY-MM
    meters: tuple[MeterAgg, ...] = ()
    invoices: tuple[InvoiceAgg, ...] = ()
    economics: tuple[Economics, ...] = ()
    declared: dict[str, str] = field(default_factory=dict)  # revenue_cny, value_added_cny, tax_cny
    # A year combined from its months: each month's inputs digest, carried into the year's digest
    # chain instead of canonicalising the month again (combine() sets it; not an input itself).
    month_digests: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @functools.cached_property
    def digest(self) -> str:
        """inputs_digest, once per object (the fields are never changed after construction)."""
        return _inputs_digest(self)

    def canonical(self) -> dict[str, Any]:
        return {
            "enterprise": [self.enterprise.uscc, self.enterprise.industry_code, self.enterprise.province_code],
            "period": self.period,
            "meters": sorted(
                [m.month, m.energy_type, m.wh, m.readings, sorted(m.meters), m.flagged, m.duplicates]
                for m in self.meters
            ),
            "invoices": sorted(
                [i.month, i.energy_type, i.unit, str(i.quantity), str(i.amount_cny)] for i in self.invoices
            ),
            "economics": sorted(
                [e.month, str(e.sales_amount_cny), str(e.sales_tax_cny), str(e.purchase_amount_cny), e.sales_lines]
                for e in self.economics
            ),
            "declared": {k: self.declared[k] for k in sorted(self.declared)},
        }


@dataclass(frozen=True)
class Rules:
    """Cross-check, quality and reduction configuration."""

    meter_coverage_threshold: Decimal = Decimal("0.95")
    disagreement_threshold: Decimal = Decimal("0.10")
    meter_interval_seconds: int = 900
    # Quality score weights (sum to 1).
    weight_coverage: Decimal = Decimal("0.35")
    weight_corroboration: Decimal = Decimal("0.25")
    weight_economics: Decimal = Decimal("0.20")
    weight_integrity: Decimal = Decimal("0.20")

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in sorted(self.__dict__.items())}


def period_months(period: str) -> list[str]:
    if len(period) == 4:
        return [f"{period}-{m:02d}" for m in range(1, 13)]
    return [period]


def slots_in_month(month: str, interval_seconds: int) -> int:
    year, mon = int(month[:4]), int(month[5:7])
    return calendar.monthrange(year, mon)[1] * 86400 // interval_seconds


def base_period_of(period: str, base_year: int | None) -> str:
    """The same period in the base year (default: the previous year)."""
    year = int(period[:4])
    base = base_year if base_year is not None else year - 1
    return f"{base}{period[4:]}"


# ---- pure rules ---------------------------------------------------------------


def choose_source(
    invoice_qty: Decimal | None, meter_qty: Decimal | None, coverage: Decimal, rules: Rules
) -> tuple[int, Decimal | None, bool]:
    """(chosen DataSource, relative difference, disagreement) for one energy type."""
    rel = None
    disagree = False
    if invoice_qty is not None and meter_qty is not None:
        top = max(abs(invoice_qty), abs(meter_qty))
        rel = q6(abs(invoice_qty - meter_qty) / top) if top else Decimal(0)
        disagree = rel > rules.disagreement_threshold
    if meter_qty is not None and (coverage >= rules.meter_coverage_threshold or invoice_qty is None):
        return common_pb2.DATA_SOURCE_METER, rel, disagree
    if invoice_qty is not None:
        return common_pb2.DATA_SOURCE_TAX_INVOICE, rel, disagree
    return common_pb2.DATA_SOURCE_UNSPECIFIED, rel, disagree


def fuel_tco2(quantity: Decimal, fuel: fx.Fuel) -> Decimal:
    """tCO2 = q x NCV x carbon content x oxidation x 44/12 (one division, at the end)."""
    with localcontext(CTX):
        return q6(quantity * fuel.ncv * fuel.carbon_content * fuel.oxidation * 44 / 12)


def per_mwh(kwh: Decimal, factor: Decimal) -> Decimal:
    with localcontext(CTX):
        return q6(kwh / 1000 * factor)


def quality_score(
    coverage: Decimal, corroboration: Decimal, economics: Decimal, integrity: Decimal, rules: Rules
) -> Decimal:
    with localcontext(CTX):
        return q6(
            rules.weight_coverage * coverage
            + rules.weight_corroboration * corroboration
            + rules.weight_economics * economics
            + rules.weight_integrity * integrity
        )


def intensity(tco2: Decimal, denominator_cny: Decimal | None) -> Decimal | None:
    """tCO2 per 10^4 CNY; None when the denominator is unknown or not positive."""
    if denominator_cny is None or denominator_cny <= 0:
        return None
    with localcontext(CTX):
        return q6(tco2 * 10000 / denominator_cny)


@dataclass(frozen=True)
class Baseline:
    """What a reduction needs of the base period's account: its total and the digest of its own
    inputs and versions (the base's own base plays no part in its total)."""

    period: str
    total_tco2: Decimal
    digest: str


def month_part(inputs: PeriodInputs, month: str) -> PeriodInputs:
    """The inputs of one month of a period (declared economics belong to years only)."""
    return PeriodInputs(
        inputs.enterprise,
        month,
        tuple(m for m in inputs.meters if m.month == month),
        tuple(i for i in inputs.invoices if i.month == month),
        tuple(e for e in inputs.economics if e.month == month),
    )


def inputs_digest(inputs: PeriodInputs) -> str:
    """SHA-256 of a period's own inputs. A year's is chained over its months' digests, so a
    year account is provably derived from the month records it was summed from. Computed once
    per (immutable) inputs object: an account, its store and its dependents' baselines reuse it."""
    return inputs.digest


def _inputs_digest(inputs: PeriodInputs) -> str:
    if len(inputs.period) == 7:
        return hashlib.sha256(canonical_json(inputs.canonical())).hexdigest()
    document = {
        "enterprise": [inputs.enterprise.uscc, inputs.enterprise.industry_code, inputs.enterprise.province_code],
        "period": inputs.period,
        "months": [
            [m, inputs.month_digests.get(m) or inputs_digest(month_part(inputs, m))]
            for m in period_months(inputs.period)
        ],
        "declared": {k: inputs.declared[k] for k in sorted(inputs.declared)},
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


def own_digest(inputs: PeriodInputs, factors: fx.FactorSet, selection: fx.Selection, rules: Rules) -> str:
    """Digest of everything an account's figures depend on except its base period."""
    document = {
        "algorithm": ALGORITHM_VERSION,
        "factor_set": [factors.version, factors.content_digest],
        "selection": selection.as_dict(),
        "rules": rules.as_dict(),
        "inputs": inputs_digest(inputs),
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


def input_digest(own: str, base: Baseline | None) -> str:
    """The account's digest: its own inputs' digest chained with its base account's."""
    document = {"account": own, "base": [base.period, base.digest] if base is not None else None}
    return hashlib.sha256(canonical_json(document)).hexdigest()


def baseline(inputs: PeriodInputs, factors: fx.FactorSet, selection: fx.Selection, rules: Rules) -> Baseline:
    with localcontext(CTX):
        account = _compute(inputs, factors, selection, rules, None)
    return Baseline(inputs.period, Decimal(account.total_tco2.value), own_digest(inputs, factors, selection, rules))


# ---- month records (the stored per-month aggregates a year is summed from) ---------------


def encode_month(inputs: PeriodInputs) -> bytes:
    canonical = inputs.canonical()
    return canonical_json(
        {
            "digest": inputs_digest(inputs),
            "meters": canonical["meters"],
            "invoices": canonical["invoices"],
            "economics": canonical["economics"],
        }
    )


def decode_month(enterprise: Enterprise, month: str, raw: bytes) -> PeriodInputs:
    """Inverse of encode_month; the digest is checked so a damaged record is never summed."""
    record = json.loads(raw)
    inputs = PeriodInputs(
        enterprise,
        month,
        tuple(
            MeterAgg(m, t, int(wh), int(n), tuple(ids), int(f), int(d)) for m, t, wh, n, ids, f, d in record["meters"]
        ),
        tuple(InvoiceAgg(m, t, u, Decimal(q), Decimal(a)) for m, t, u, q, a in record["invoices"]),
        tuple(Economics(m, Decimal(sa), Decimal(st), Decimal(pa), int(n)) for m, sa, st, pa, n in record["economics"]),
    )
    held = {m.month for m in inputs.meters} | {i.month for i in inputs.invoices} | {e.month for e in inputs.economics}
    if held - {month}:
        raise ValueError(f"month record of {month} holds another month")
    if inputs_digest(inputs) != record["digest"]:
        raise ValueError(f"month record of {month} does not match its digest")
    return inputs


def combine(enterprise: Enterprise, period: str, months: list[PeriodInputs], declared: dict[str, str]) -> PeriodInputs:
    """A year's inputs from its months' inputs (the same aggregates a full read produces). A month's
    digest is carried into the year's chain when the month is exactly what month_part() of the year
    gives back (same enterprise, every aggregate of that month, nothing declared)."""
    carried = {
        part.period: part.digest
        for part in months
        if part.enterprise == enterprise and not part.declared and _holds_only(part, part.period)
    }
    return PeriodInputs(
        enterprise,
        period,
        tuple(m for part in months for m in part.meters),
        tuple(i for part in months for i in part.invoices),
        tuple(e for part in months for e in part.economics),
        declared,
        carried if set(carried) == set(period_months(period)) and len(months) == len(carried) else {},
    )


def _holds_only(inputs: PeriodInputs, month: str) -> bool:
    items: tuple[MeterAgg | InvoiceAgg | Economics, ...] = (*inputs.meters, *inputs.invoices, *inputs.economics)
    return len(month) == 7 and all(x.month == month for x in items)


# ---- the account ----------------------------------------------------------------


@dataclass
class _Energy:
    energy_type: str
    canonical_unit: str
    invoice_by_month: dict[str, Decimal] = field(default_factory=dict)
    meter_by_month: dict[str, Decimal] = field(default_factory=dict)
    readings: int = 0
    expected: int = 0
    meters: set[str] = field(default_factory=set)

    def invoice_total(self) -> Decimal | None:
        return sum(self.invoice_by_month.values(), Decimal(0)) if self.invoice_by_month else None

    def meter_total(self) -> Decimal | None:
        return sum(self.meter_by_month.values(), Decimal(0)) if self.meter_by_month else None


def _gather(
    inputs: PeriodInputs, factors: fx.FactorSet, selection: fx.Selection, rules: Rules, flags: set[str]
) -> dict[str, _Energy]:
    months = period_months(inputs.period)
    energies: dict[str, _Energy] = {}

    def get(name: str) -> _Energy:
        if name not in energies:
            energies[name] = _Energy(name, factors.canonical_units.get(name, ""))
        return energies[name]

    for line in inputs.invoices:
        if line.month not in months or line.energy_type in ("", "non_energy"):
            continue
        qty = fx.to_canonical(factors, line.energy_type, line.quantity, line.unit, selection.density_basis)
        if qty is None:
            flags.add("UNIT_UNCONVERTIBLE")
            continue
        energy = get(line.energy_type)
        energy.invoice_by_month[line.month] = energy.invoice_by_month.get(line.month, Decimal(0)) + qty
    meter_ids: dict[str, set[str]] = {}
    for agg in inputs.meters:
        if agg.month not in months:
            continue
        energy = get(agg.energy_type)
        energy.meter_by_month[agg.month] = energy.meter_by_month.get(agg.month, Decimal(0)) + Decimal(agg.wh) / 1000
        energy.readings += agg.readings
        meter_ids.setdefault(agg.energy_type, set()).update(agg.meters)
        if agg.flagged:
            flags.add("FLAGGED_READINGS")
        if agg.duplicates:
            flags.add("DUPLICATE_READINGS")
    for name, ids in meter_ids.items():
        energies[name].meters = ids
        energies[name].expected = len(ids) * sum(slots_in_month(m, rules.meter_interval_seconds) for m in months)
    return energies


def compute_account(
    inputs: PeriodInputs,
    factors: fx.FactorSet,
    selection: fx.Selection,
    rules: Rules,
    base: PeriodInputs | Baseline | None = None,
) -> accounting_pb2.Account:
    """The account for `inputs.period` (compute_time left unset: the caller stamps it). The base
    period comes as its inputs (computed here) or as the stored base account's Baseline."""
    if isinstance(base, PeriodInputs):
        base = baseline(base, factors, selection, rules)
    with localcontext(CTX):
        return _compute(inputs, factors, selection, rules, base)


def _compute(
    inputs: PeriodInputs, factors: fx.FactorSet, selection: fx.Selection, rules: Rules, base: Baseline | None
) -> accounting_pb2.Account:
    ent = inputs.enterprise
    months = period_months(inputs.period)
    year = int(inputs.period[:4])
    flags: set[str] = set()
    energies = _gather(inputs, factors, selection, rules, flags)
    account = Account(
        name=f"enterprises/{ent.uscc}/accounts/{inputs.period}",
        period=inputs.period,
        factor_set_version=factors.version,
        factor_set_digest=factors.content_digest,
        industry_code=ent.industry_code,
        province_code=ent.province_code,
        region_code=ent.region_code,
        scope2_method=(
            Account.SCOPE2_METHOD_MARKET_BASED
            if selection.scope2_method == "market"
            else Account.SCOPE2_METHOD_LOCATION_BASED
        ),
    )

    # Source choice and the chosen monthly quantities per energy type.
    chosen_monthly: dict[str, dict[str, Decimal]] = {}
    chosen_source: dict[str, int] = {}
    corroboration: dict[str, Decimal] = {}
    total_readings = total_expected = 0
    for name in sorted(energies):
        energy = energies[name]
        inv, met = energy.invoice_total(), energy.meter_total()
        coverage = Decimal(energy.readings) / Decimal(energy.expected) if energy.expected else Decimal(0)
        coverage = min(coverage, Decimal(1))
        total_readings += energy.readings
        total_expected += energy.expected
        source, rel, disagree = choose_source(inv, met, coverage, rules)
        if met is not None and coverage < rules.meter_coverage_threshold:
            flags.add("METER_GAPS")
        if inv is not None and met is not None:
            account.cross_checks.append(
                Account.CrossCheck(
                    energy_type=energy_enum(name),
                    invoice_quantity=to_proto(q6(inv)),
                    meter_quantity=to_proto(q6(met)),
                    relative_difference=to_proto(rel),
                    chosen=source,
                    disagreement=disagree,
                )
            )
            corroboration[name] = Decimal(0) if disagree else Decimal(1)
            if disagree:
                flags.add("INVOICE_METER_DISAGREE")
        else:
            corroboration[name] = Decimal("0.5")
        chosen_source[name] = source
        chosen_monthly[name] = dict(
            energy.meter_by_month if source == common_pb2.DATA_SOURCE_METER else energy.invoice_by_month
        )

    def total_of(name: str) -> Decimal:
        return sum(chosen_monthly.get(name, {}).values(), Decimal(0))

    scope1 = Decimal(0)
    scope2_loc = Decimal(0)
    scope2_mkt = Decimal(0)
    tce_by_type: dict[str, Decimal] = {}
    monthly_s1 = {m: Decimal(0) for m in months}
    monthly_s2 = {m: Decimal(0) for m in months}
    use_market = selection.scope2_method == "market"

    def activity(
        name: str,
        qty: Decimal,
        scope: int,
        tco2: Decimal,
        factor: fx.Factor,
        method: int = 0,
        tce: Decimal | None = None,
    ) -> None:
        account.activities.append(
            Account.Activity(
                energy_type=energy_enum(name),
                quantity=to_proto(q6(qty)),
                unit=factors.canonical_units.get(name, ""),
                source=chosen_source.get(name, common_pb2.DATA_SOURCE_TAX_INVOICE),
                scope=scope,
                tco2=to_proto(tco2),
                tce=to_proto(q6(tce) if tce is not None else None),
                factor_id=factor.id,
                factor_value=to_proto(factor.value),
                factor_unit=factor.unit,
                scope2_method=method,
                factor_source=factor.source,
            )
        )

    def tce_of(name: str, qty: Decimal) -> Decimal | None:
        coefficient = factors.coal_equivalent.get(name)
        if coefficient is None:
            return None
        value = q6(qty * coefficient.value)
        tce_by_type[name] = tce_by_type.get(name, Decimal(0)) + value
        return value

    # Electricity (Scope 2, both methods) and green instruments.
    electricity = total_of("electricity")
    green_claimed = Decimal(0)
    if "electricity" in energies or "green_electricity" in energies:
        province = ent.province_code
        loc = fx.grid_factor(factors, "location", province, year, selection)
        mkt = fx.grid_factor(factors, "market", province, year, selection)
        wanted = fx.target_data_year(year, selection.data_year_rule, sorted({r.data_year for r in factors.grid}))
        if wanted is not None and (int(loc.id.split("/")[2]) != wanted or int(mkt.id.split("/")[2]) != wanted):
            flags.add("FACTOR_YEAR_FALLBACK")
        green_total = total_of("green_electricity")
        green_claimed = max(Decimal(0), min(green_total, electricity))
        if green_total > electricity:
            flags.add("GREEN_EXCEEDS_CONSUMPTION")
        loc_t = per_mwh(electricity, loc.value)
        net = electricity - green_claimed
        mkt_t = per_mwh(net, mkt.value)
        instrument = factors.instruments.get("green_electricity")
        green_t = per_mwh(green_claimed, instrument.value) if instrument else Decimal(0)
        scope2_loc += loc_t
        scope2_mkt += mkt_t + green_t
        if "electricity" in energies:
            activity(
                "electricity",
                electricity,
                2,
                loc_t,
                loc,
                Account.SCOPE2_METHOD_LOCATION_BASED,
                tce_of("electricity", electricity),
            )
            activity("electricity", net, 2, mkt_t, mkt, Account.SCOPE2_METHOD_MARKET_BASED)
        if instrument is not None and "green_electricity" in energies:
            activity("green_electricity", green_claimed, 2, green_t, instrument, Account.SCOPE2_METHOD_MARKET_BASED)
        # Monthly Scope 2 under the account's method; green is claimed month by month.
        for m in months:
            e_m = chosen_monthly.get("electricity", {}).get(m, Decimal(0))
            if use_market:
                g_m = max(Decimal(0), min(chosen_monthly.get("green_electricity", {}).get(m, Decimal(0)), e_m))
                monthly_s2[m] += per_mwh(e_m - g_m, mkt.value) + (per_mwh(g_m, instrument.value) if instrument else 0)
            else:
                monthly_s2[m] += per_mwh(e_m, loc.value)

    # Heat (Scope 2, both methods).
    if "heat" in energies:
        heat = fx.heat_factor(factors)
        qty = total_of("heat")
        t = q6(qty * heat.value)
        scope2_loc += t
        scope2_mkt += t
        activity("heat", qty, 2, t, heat, 0, tce_of("heat", qty))
        for m in months:
            monthly_s2[m] += q6(chosen_monthly["heat"].get(m, Decimal(0)) * heat.value)

    # Fuels (Scope 1).
    for name in sorted(energies):
        if name in ("electricity", "green_electricity", "heat"):
            continue
        if name not in factors.fuels:
            flags.add("NO_FACTOR")
            continue
        fuel, shown = fx.fuel_factor(factors, name)
        qty = total_of(name)
        t = fuel_tco2(qty, fuel)
        scope1 += t
        activity(name, qty, 1, t, shown, 0, tce_of(name, qty))
        for m in months:
            monthly_s1[m] += fuel_tco2(chosen_monthly[name].get(m, Decimal(0)), fuel)

    if not energies:
        flags.add("NO_ACTIVITY")
    total = scope1 + (scope2_mkt if use_market else scope2_loc)
    account.scope1_tco2.CopyFrom(to_proto(scope1))
    account.scope2_location_tco2.CopyFrom(to_proto(scope2_loc))
    account.scope2_market_tco2.CopyFrom(to_proto(scope2_mkt))
    account.total_tco2.CopyFrom(to_proto(total))

    energy_total = sum(tce_by_type.values(), Decimal(0))
    account.energy_tce.CopyFrom(to_proto(q6(energy_total)))
    for name in sorted(tce_by_type):
        share = q6(tce_by_type[name] / energy_total) if energy_total else Decimal(0)
        account.energy_structure.append(
            Account.EnergyShare(energy_type=energy_enum(name), tce=to_proto(tce_by_type[name]), share=to_proto(share))
        )
    for m in months:
        account.monthly.append(
            Account.MonthlyEmissions(month=m, scope1_tco2=to_proto(monthly_s1[m]), scope2_tco2=to_proto(monthly_s2[m]))
        )

    # Economics and intensities.
    econ = [e for e in inputs.economics if e.month in months]
    revenue: Decimal | None = None
    value_added: Decimal | None = None
    tax: Decimal | None = None
    if econ:
        revenue = q2(sum((e.sales_amount_cny for e in econ), Decimal(0)))
        value_added = q2(revenue - sum((e.purchase_amount_cny for e in econ), Decimal(0)))
        tax = q2(sum((e.sales_tax_cny for e in econ), Decimal(0)))
        if not any(e.sales_lines for e in econ):
            revenue = value_added = tax = None
    if len(inputs.period) == 4 and inputs.declared:
        flags.add("DECLARED_ECONOMICS")
        if "revenue_cny" in inputs.declared:
            revenue = q2(Decimal(inputs.declared["revenue_cny"]))
        if "value_added_cny" in inputs.declared:
            value_added = q2(Decimal(inputs.declared["value_added_cny"]))
        if "tax_cny" in inputs.declared:
            tax = q2(Decimal(inputs.declared["tax_cny"]))
    if revenue is None:
        flags.add("NO_REVENUE")
    for target, value in (("revenue_cny", revenue), ("value_added_cny", value_added), ("tax_cny", tax)):
        if value is not None:
            getattr(account, target).CopyFrom(to_proto(value))
    for target, value in (
        ("intensity_revenue", intensity(total, revenue)),
        ("intensity_value_added", intensity(total, value_added)),
        ("intensity_tax", intensity(total, tax)),
    ):
        if value is not None:
            getattr(account, target).CopyFrom(to_proto(value))

    # Reduction against the base period (same rules, its own inventory year's factors).
    if base is not None:
        base_total = base.total_tco2
        account.base_period = base.period
        account.base_total_tco2.CopyFrom(to_proto(base_total))
        account.reduction_tco2.CopyFrom(to_proto(base_total - total))
        if base_total > 0:
            account.reduction_rate.CopyFrom(to_proto(q6((base_total - total) / base_total)))

    # Quality.
    coverage = min(Decimal(1), Decimal(total_readings) / Decimal(total_expected)) if total_expected else Decimal(0)
    weights = {n: tce_by_type.get(n, Decimal(0)) for n in corroboration}
    weight_sum = sum(weights.values(), Decimal(0))
    if weight_sum:
        corr = sum((corroboration[n] * weights[n] for n in corroboration), Decimal(0)) / weight_sum
    else:
        corr = sum(corroboration.values(), Decimal(0)) / len(corroboration) if corroboration else Decimal(0)
    econ_known = sum(1 for v in (revenue, value_added, tax) if v is not None and v > 0)
    integrity = Decimal(1) if not flags & {"FLAGGED_READINGS", "UNIT_UNCONVERTIBLE", "NO_FACTOR"} else Decimal("0.5")
    if not energies:
        integrity = Decimal(0)
    sources = sorted(
        {s for s in chosen_source.values() if s}
        | ({common_pb2.DATA_SOURCE_DECLARED} if inputs.declared and len(inputs.period) == 4 else set())
    )
    account.quality.CopyFrom(
        Account.Quality(
            coverage=to_proto(q6(coverage)),
            sources=sources,
            flags=sorted(flags),
            score=to_proto(quality_score(q6(coverage), q6(corr), q6(Decimal(econ_known) / 3), integrity, rules)),
        )
    )
    account.input_digest = input_digest(own_digest(inputs, factors, selection, rules), base)
    return account
