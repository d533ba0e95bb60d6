"""Golden tests: expected values computed by hand from the cn-2024.1 factor tables.

Factor rows used (services/accounting/src/carbon_accounting/data/factors/cn-2024.1):
  grid location 2022 Hebei (130000) 0.7252, national 2021 0.5568, east 2022 0.5617,
  east 2023 0.5500, north 2023 0.6361, national 2022 0.5366; market (residual) 2022 0.5856.
  heat 0.11 tCO2/GJ; tce: electricity 0.0001229 tce/kWh, heat 0.03412 tce/GJ.
  fuels (NCV, tC/GJ, oxidation) from fuels.csv; natural gas 389.31 GJ/10^4 m3 = 0.038931 GJ/m3.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from carbon.v1 import common_pb2
from carbon_accounting import factors as fx
from carbon_accounting.compute import (
    Economics,
    Enterprise,
    InvoiceAgg,
    MeterAgg,
    PeriodInputs,
    Rules,
    compute_account,
)

FACTORS = fx.load_factor_set(version="cn-2024.1")
LOCATION = fx.Selection()
MARKET = fx.Selection(scope2_method="market")
RULES = Rules()
HEBEI = Enterprise("91130100MA0000000X", "C2611", "130000", "130100")
ZHEJIANG = Enterprise("91330800MA0000000X", "C2611", "330000", "330800")


def inputs(ent: Enterprise, period: str, lines: list[tuple[str, str, str]], **kw: object) -> PeriodInputs:
    """lines: (energy_type, unit, quantity) invoiced in the first month of the period."""
    month = period if len(period) == 7 else f"{period}-01"
    return PeriodInputs(
        ent,
        period,
        invoices=tuple(InvoiceAgg(month, e, u, D(q), D(0)) for e, u, q in lines),
        **kw,  # type: ignore[arg-type]
    )


def dec(message: object) -> D:
    return D(message.value)  # type: ignore[attr-defined]


# ---- Scope 1: every fuel, canonical units ---------------------------------------

# tCO2 = q x NCV x C x ox x 44/12, q = 10 t (gases 10,000 m3):
FUEL_CASES = [
    # 10 x 26.344 x 0.02540 x 0.93 = 6.22297968 tC; x 44/12 = 22.8175921... -> 22.817592
    ("washed_coal", "t", "10", "22.817592"),
    # 10 x 28.446 x 0.02940 x 0.93 = 7.77770532; x 44/12 = 28.5182528... -> 28.518253
    ("coke", "t", "10", "28.518253"),
    # 10 x 42.62 x 0.02010 x 0.98 = 8.3952876; x 44/12 = 30.7827212 -> 30.782721
    ("crude_oil", "t", "10", "30.782721"),
    # 10 x 40.19 x 0.02110 x 0.98 = 8.3104882; x 44/12 = 30.4717901... -> 30.471790
    ("fuel_oil", "t", "10", "30.471790"),
    # 10 x 44.80 x 0.01890 x 0.98 = 8.297856; x 44/12 = 30.425472
    ("gasoline", "t", "10", "30.425472"),
    # 10 x 43.33 x 0.02020 x 0.98 = 8.5776068; x 44/12 = 31.4512249... -> 31.451225
    ("diesel", "t", "10", "31.451225"),
    # 10 x 44.75 x 0.01960 x 0.98 = 8.59558; x 44/12 = 31.5171266... -> 31.517127
    ("kerosene", "t", "10", "31.517127"),
    # 10 x 47.31 x 0.01720 x 0.99 = 8.0559468; x 44/12 = 29.5384716 -> 29.538472
    ("lpg", "t", "10", "29.538472"),
    # 10 x 51.44 x 0.01530 x 0.99 = 7.7916168; x 44/12 = 28.5692616 -> 28.569262
    ("lng", "t", "10", "28.569262"),
    # 10 x 20.908 x 0.02637 x 0.94 = 5.182633224; x 44/12 = 19.0029884... -> 19.002988
    ("raw_coal", "t", "10", "19.002988"),
    # 10000 m3 x 0.038931 GJ/m3 = 389.31 GJ; x 0.01530 x 0.99 = 5.89687857; x 44/12 = 21.6218880... -> 21.621888
    ("natural_gas", "m3", "10000", "21.621888"),
    # 10000 m3 x 0.0173854 = 173.854 GJ; x 0.01360 x 0.99 = 2.340770256; x 44/12 = 8.5828242... -> 8.582824
    ("coke_oven_gas", "m3", "10000", "8.582824"),
]


@pytest.mark.parametrize(("energy", "unit", "quantity", "expected"), FUEL_CASES)
def test_scope1_every_fuel(energy: str, unit: str, quantity: str, expected: str) -> None:
    account = compute_account(inputs(HEBEI, "2022", [(energy, unit, quantity)]), FACTORS, LOCATION, RULES)
    assert dec(account.scope1_tco2) == D(expected)
    assert dec(account.total_tco2) == D(expected)
    (activity,) = account.activities
    assert activity.scope == 1
    assert activity.energy_type == common_pb2.EnergyType.Value(f"ENERGY_TYPE_{energy.upper()}")
    assert activity.factor_id == f"fuel/{energy}"
    assert activity.factor_source in FACTORS.sources
    assert account.factor_set_version == "cn-2024.1"


# ---- unit paths -------------------------------------------------------------------

UNIT_CASES = [
    # 2000 L diesel x 0.84 t/m3 (accounting guideline, default) = 1.68 t;
    # x 43.33 x 0.0202 x 0.98 x 44/12 (= 3.14512249333... tCO2/t) = 5.2838057888 -> 5.283806
    ("diesel", "L", "2000", "scope1", "5.283806"),
    # 6940 升 gasoline / 1388 L/t (no guideline density: the tax conversion) = 5 t; 5 x 3.0425472 tCO2/t = 15.212736
    ("gasoline", "升", "6940", "scope1", "15.212736"),
    # 1 万立方米 natural gas = 10000 m3 -> 21.621888 (as above)
    ("natural_gas", "万立方米", "1", "scope1", "21.621888"),
    # 10000 kg coke = 10 t -> 28.518253
    ("coke", "kg", "10000", "scope1", "28.518253"),
    # 10 万千瓦时 = 100000 kWh = 100 MWh x 0.7252 (Hebei 2022) = 72.52
    ("electricity", "万千瓦时", "10", "scope2", "72.520000"),
    # 100 MWh = 100000 kWh -> 72.52
    ("electricity", "MWh", "100", "scope2", "72.520000"),
    # 500000 MJ = 500 GJ x 0.11 = 55
    ("heat", "MJ", "500000", "scope2", "55.000000"),
]


@pytest.mark.parametrize(("energy", "unit", "quantity", "scope", "expected"), UNIT_CASES)
def test_unit_paths(energy: str, unit: str, quantity: str, scope: str, expected: str) -> None:
    account = compute_account(inputs(HEBEI, "2022", [(energy, unit, quantity)]), FACTORS, LOCATION, RULES)
    field = account.scope1_tco2 if scope == "scope1" else account.scope2_location_tco2
    assert dec(field) == D(expected)
    assert "UNIT_UNCONVERTIBLE" not in account.quality.flags


def test_unconvertible_unit_is_flagged_not_guessed() -> None:
    # kerosene has no density row: litres cannot become tonnes.
    account = compute_account(inputs(HEBEI, "2022", [("kerosene", "L", "1000")]), FACTORS, LOCATION, RULES)
    assert "UNIT_UNCONVERTIBLE" in account.quality.flags
    assert dec(account.total_tco2) == 0


# ---- Scope 2: both methods, green electricity, heat, energy structure ----------------


def test_scope2_location_and_market_with_green_and_heat() -> None:
    lines = [("electricity", "kWh", "100000"), ("green_electricity", "kWh", "20000"), ("heat", "GJ", "500")]
    account = compute_account(inputs(HEBEI, "2022", lines), FACTORS, LOCATION, RULES)
    # location: 100 MWh x 0.7252 (Hebei 2022) = 72.52; heat 500 GJ x 0.11 = 55 -> 127.52
    assert dec(account.scope2_location_tco2) == D("127.52")
    # market: (100000 - 20000) kWh = 80 MWh x 0.5856 (residual 2022) = 46.848; green 20 MWh x 0 = 0; + heat 55
    assert dec(account.scope2_market_tco2) == D("101.848")
    assert dec(account.total_tco2) == D("127.52")
    assert account.scope2_method == account.SCOPE2_METHOD_LOCATION_BASED
    by_id = {(a.factor_id, a.scope2_method): a for a in account.activities}
    assert dec(by_id[("grid/location/2022/130000", 1)].tco2) == D("72.52")
    assert dec(by_id[("grid/market/2022/CN", 2)].quantity) == D("80000")
    assert dec(by_id[("instrument/green_electricity", 2)].quantity) == D("20000")
    # energy: 100000 kWh x 0.0001229 = 12.29 tce; 500 GJ x 0.03412 = 17.06 tce; total 29.35
    assert dec(account.energy_tce) == D("29.35")
    shares = {s.energy_type: dec(s.share) for s in account.energy_structure}
    # 12.29 / 29.35 = 0.4187393... ; 17.06 / 29.35 = 0.5812606...
    assert shares == {common_pb2.ENERGY_TYPE_ELECTRICITY: D("0.418739"), common_pb2.ENERGY_TYPE_HEAT: D("0.581261")}

    market = compute_account(inputs(HEBEI, "2022", lines), FACTORS, MARKET, RULES)
    assert dec(market.total_tco2) == D("101.848")
    assert market.scope2_method == market.SCOPE2_METHOD_MARKET_BASED
    # January carries everything: monthly Scope 2 = total Scope 2 under the method.
    assert dec(market.monthly[0].scope2_tco2) == D("101.848")
    assert dec(market.monthly[1].scope2_tco2) == 0


GRID_CASES = [
    # Zhejiang has no provincial row -> East region 2022: 100 MWh x 0.5617 = 56.17
    (ZHEJIANG, "2022", "same", "grid/location/2022/east", "56.17"),
    # unknown province -> national 2022: 100 x 0.5366 = 53.66
    (Enterprise("91990000MA0000000X", "", "990000"), "2022", "same", "grid/location/2022/CN", "53.66"),
    # 2024 not published -> newest earlier year 2023, East: 100 x 0.5500 = 55
    (ZHEJIANG, "2024", "same", "grid/location/2023/east", "55"),
    # year - 2: 2024 -> 2022, Hebei provincial: 100 x 0.7252 = 72.52
    (HEBEI, "2024", "minus2", "grid/location/2022/130000", "72.52"),
    # latest (2023) for 2021; Hebei has no 2023 provincial row -> North 2023: 100 x 0.6361 = 63.61
    (HEBEI, "2021", "latest", "grid/location/2023/north", "63.61"),
    # 2021 Hebei: only the national row exists for 2021: 100 x 0.5568 = 55.68
    (HEBEI, "2021", "same", "grid/location/2021/CN", "55.68"),
]


@pytest.mark.parametrize(("ent", "period", "rule", "factor_id", "expected"), GRID_CASES)
def test_grid_factor_selection(ent: Enterprise, period: str, rule: str, factor_id: str, expected: str) -> None:
    selection = fx.Selection(data_year_rule=rule)
    account = compute_account(inputs(ent, period, [("electricity", "kWh", "100000")]), FACTORS, selection, RULES)
    loc = next(a for a in account.activities if a.scope2_method == 1)
    assert loc.factor_id == factor_id
    assert dec(account.scope2_location_tco2) == D(expected)


# ---- economics, intensity, declared values, reduction -----------------------------


def test_intensities_and_declared_override() -> None:
    econ = (Economics("2022-01", D("1000000.00"), D("130000.00"), D("354000.00"), 3),)
    base_inputs = inputs(HEBEI, "2022", [("electricity", "kWh", "90000")], economics=econ)
    account = compute_account(base_inputs, FACTORS, LOCATION, RULES)
    # 90 MWh x 0.7252 = 65.268 tCO2
    assert dec(account.total_tco2) == D("65.268")
    # revenue 1,000,000 -> 65.268 / 100 = 0.65268
    assert dec(account.intensity_revenue) == D("0.652680")
    # value added = 1,000,000 - 354,000 = 646,000 -> 65.268 x 10^4 / 646000 = 1.0103405... -> 1.010341
    assert dec(account.value_added_cny) == D("646000.00")
    assert dec(account.intensity_value_added) == D("1.010341")
    # tax 130,000 -> 65.268 / 13 = 5.0206153... -> 5.020615
    assert dec(account.intensity_tax) == D("5.020615")

    declared = inputs(
        HEBEI, "2022", [("electricity", "kWh", "90000")], economics=econ, declared={"value_added_cny": "652680"}
    )
    account = compute_account(declared, FACTORS, LOCATION, RULES)
    # 65.268 x 10^4 / 652680 = 1
    assert dec(account.intensity_value_added) == D("1.000000")
    assert dec(account.revenue_cny) == D("1000000.00")
    assert "DECLARED_ECONOMICS" in account.quality.flags


def test_base_year_reduction() -> None:
    base = inputs(HEBEI, "2021", [("electricity", "kWh", "120000")])
    current = inputs(HEBEI, "2022", [("electricity", "kWh", "90000")])
    account = compute_account(current, FACTORS, LOCATION, RULES, base=base)
    # base 2021: 120 MWh x 0.5568 (national 2021, no Hebei/North row for 2021) = 66.816
    # current 2022: 90 MWh x 0.7252 = 65.268; reduction 1.548; rate 1.548 / 66.816 = 0.0231681... -> 0.023168
    assert account.base_period == "2021"
    assert dec(account.base_total_tco2) == D("66.816")
    assert dec(account.reduction_tco2) == D("1.548")
    assert dec(account.reduction_rate) == D("0.023168")


# ---- cross-check and quality --------------------------------------------------------


def meter(month: str, kwh: int, readings: int) -> MeterAgg:
    return MeterAgg(month, "electricity", kwh * 1000, readings, ("m1",))


def test_cross_check_prefers_covering_meters_and_flags_disagreement() -> None:
    # January 2024: 31 x 96 = 2976 slots; full coverage -> meters chosen.
    full = PeriodInputs(
        ZHEJIANG,
        "2024-01",
        meters=(meter("2024-01", 2976, 2976),),
        invoices=(InvoiceAgg("2024-01", "electricity", "kWh", D("3000"), D(0)),),
    )
    account = compute_account(full, FACTORS, LOCATION, RULES)
    (check,) = account.cross_checks
    # |3000 - 2976| / 3000 = 0.008 <= 0.10
    assert dec(check.relative_difference) == D("0.008")
    assert check.chosen == common_pb2.DATA_SOURCE_METER and not check.disagreement
    # 2.976 MWh x 0.5500 (East 2023 for 2024, rule same -> fallback) = 1.6368
    assert dec(account.total_tco2) == D("1.6368")
    assert dec(account.quality.coverage) == 1

    # Half coverage: invoices chosen; meter total 1488 vs 3000 -> 1512/3000 = 0.504 > 0.10
    half = PeriodInputs(
        ZHEJIANG,
        "2024-01",
        meters=(meter("2024-01", 1488, 1488),),
        invoices=(InvoiceAgg("2024-01", "electricity", "kWh", D("3000"), D(0)),),
    )
    account = compute_account(half, FACTORS, LOCATION, RULES)
    (check,) = account.cross_checks
    assert check.chosen == common_pb2.DATA_SOURCE_TAX_INVOICE and check.disagreement
    assert dec(check.relative_difference) == D("0.504")
    assert {"METER_GAPS", "INVOICE_METER_DISAGREE"} <= set(account.quality.flags)
    # 3 MWh x 0.55 = 1.65
    assert dec(account.total_tco2) == D("1.65")
    # score = 0.35 x 0.5 (coverage) + 0.25 x 0 (disagree) + 0.2 x 0 (no revenue) + 0.2 x 1 = 0.375
    assert dec(account.quality.score) == D("0.375")


def test_deterministic_and_digest_tracks_inputs() -> None:
    lines = [("electricity", "kWh", "100000"), ("diesel", "t", "3")]
    a = compute_account(inputs(HEBEI, "2022", lines), FACTORS, LOCATION, RULES)
    b = compute_account(inputs(HEBEI, "2022", list(reversed(lines))), FACTORS, LOCATION, RULES)
    assert a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)
    c = compute_account(inputs(HEBEI, "2022", [("electricity", "kWh", "100001")]), FACTORS, LOCATION, RULES)
    assert c.input_digest != a.input_digest
    d = compute_account(inputs(HEBEI, "2022", lines), FACTORS, MARKET, RULES)
    assert d.input_digest != a.input_digest
