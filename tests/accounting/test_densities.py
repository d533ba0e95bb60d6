"""One units/densities table (carbon_ingest/data/units.yaml) serves ingest-tax and accounting;
litres of diesel follow the accounting guideline's density by default (0.84 t/m3, NDRC
transport guideline), the tax conversion standard (1,176 L/t) being the documented alternative.
Expected values computed by hand below."""

from __future__ import annotations

import subprocess
from decimal import Decimal as D
from pathlib import Path

import pytest
from carbon_accounting import factors as fx
from carbon_accounting.compute import Enterprise, InvoiceAgg, PeriodInputs, Rules, compute_account
from carbon_accounting.settings import AccountingSettings
from carbon_ingest import units
from carbon_ingest_tax.classify import Tables

REPO = Path(__file__).resolve().parents[2]
FACTORS = fx.load_factor_set(version="cn-2024.1")
HEBEI = Enterprise("91130100MA0000000X", "C2611", "130000", "130100")


def scope1(litres: str, basis: str | None = None, energy: str = "diesel") -> D:
    selection = fx.Selection() if basis is None else fx.Selection(density_basis=basis)
    inputs = PeriodInputs(HEBEI, "2022", invoices=(InvoiceAgg("2022-01", energy, "L", D(litres), D(0)),))
    account = compute_account(inputs, FACTORS, selection, Rules())
    assert "UNIT_UNCONVERTIBLE" not in account.quality.flags
    return D(account.scope1_tco2.value)


def test_diesel_litres_follow_the_accounting_guideline_by_default() -> None:
    # 1,000 L x 0.84 t/m3 / 1,000 L/m3 = 0.84 t
    # 0.84 t x 43.33 GJ/t (NCV)           = 36.3972 GJ
    # 36.3972 GJ x 0.02020 tC/GJ          = 0.73522344 tC
    # 0.73522344 tC x 0.98 (oxidation)    = 0.7205189712 tC
    # 0.7205189712 tC x 44/12             = 2.6419028944 tCO2 -> 2.641903 (6 places, half-even)
    assert scope1("1000") == D("2.641903")
    assert scope1("1000", "accounting") == D("2.641903")
    density = units.default_table().density("diesel")
    assert density is not None and density.basis == "accounting" and density.stated == "0.84 t/m3"
    assert "NDRC" in density.source


def test_the_tax_conversion_is_the_documented_alternative() -> None:
    # 1,000 L / 1,176 L/t = 0.850340136054421768707... t
    # x 43.33 x 0.02020 x 0.98 x 44/12 (= 3.14512249333... tCO2/t) = 2.67442388888... -> 2.674424
    assert scope1("1000", "tax") == D("2.674424")
    # The choice is part of the account's input: the two bases differ by 2.674424 - 2.641903 = 0.032521 tCO2.
    assert AccountingSettings(dev_mode=True, density_basis="tax").selection().density_basis == "tax"
    with pytest.raises(ValueError, match="'accounting' or 'tax'"):
        AccountingSettings(dev_mode=True, density_basis="guess")


def test_gasoline_has_no_guideline_density_and_falls_back_to_the_tax_conversion() -> None:
    # 6,940 L / 1,388 L/t = 5 t; 5 x 44.80 x 0.01890 x 0.98 x 44/12 = 5 x 3.0425472 = 15.212736
    assert scope1("6940", energy="gasoline") == D("15.212736")
    density = units.default_table().density("gasoline", "accounting")
    assert density is not None and density.basis == "tax"


def test_ingestion_keeps_litres_and_only_checks_a_density_exists() -> None:
    tables = Tables()
    assert tables.units is FACTORS.units  # the one table, loaded once
    assert tables.normalise("diesel", "升", D("1000")) == (D("1000.000000"), "L")
    assert tables.normalise("diesel", "千克", D("500")) == (D("0.500000"), "t")
    refused = tables.normalise("kerosene", "升", D("3"))
    assert not isinstance(refused, tuple) and refused.reason == "UNIT_NEEDS_DENSITY"


def test_every_row_has_a_source_and_densities_live_in_one_file() -> None:
    table = units.default_table()
    assert all(u.source for u in table.units.values())
    assert all(d.source for d in table.densities.values())
    hits = subprocess.run(
        ["git", "grep", "--untracked", "-l", "-E", "litres_per_tonne|tonnes_per_m3", "--", "libs", "services"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert sorted(hits) == [
        "libs/carbon-ingest/src/carbon_ingest/data/units.yaml",
        "libs/carbon-ingest/src/carbon_ingest/units.py",
    ]
