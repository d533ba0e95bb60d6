"""Emission factor library: versioned factor sets loaded from data files.

A factor set is a directory (`data/factors/<version>/`) of CSV/YAML files, each
row carrying a `source` id resolved in `sources.yaml`. Units, canonical units and the
litre->tonne densities are not part of it: they come from the platform's one units table
(carbon_ingest.units, shared with ingest-tax), whose digest is folded into the set's digest. Nothing numeric about
factors lives in code: adding a version is a data change. Selection rules
(which data year serves which inventory year, which geography, which Scope 2
method) are configuration (`Selection`), applied by pure functions here.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from carbon_ingest import units as unit_table

DEFAULT_FACTORS_DIR = Path(__file__).parent / "data" / "factors"

# NCV units -> GJ per canonical unit divisor.
NCV_UNIT_DIVISOR = {"GJ/t": Decimal(1), "GJ/10^4 m3": Decimal(10000), "GJ/m3": Decimal(1)}


@dataclass(frozen=True)
class Source:
    id: str
    publisher: str
    document: str
    url: str
    data_year: int
    confidence: str


@dataclass(frozen=True)
class Factor:
    """One selected factor as recorded on an account activity."""

    id: str
    value: Decimal
    unit: str
    source: str


@dataclass(frozen=True)
class GridRow:
    method: str
    level: str
    geography: str
    data_year: int
    value: Decimal
    unit: str
    source: str


@dataclass(frozen=True)
class Fuel:
    energy_type: str
    ncv: Decimal  # GJ per canonical unit
    carbon_content: Decimal  # tC/GJ
    oxidation: Decimal
    source: str


@dataclass(frozen=True)
class FactorSet:
    version: str
    description: str
    content_digest: str
    canonical_units: dict[str, str]
    sources: dict[str, Source]
    grid: tuple[GridRow, ...]
    grid_regions: dict[str, str]
    fuels: dict[str, Fuel]
    heat: dict[str, Factor]
    units: unit_table.UnitTable
    coal_equivalent: dict[str, Factor]
    gwp: dict[str, Decimal]
    instruments: dict[str, Factor] = field(default_factory=dict)


@dataclass(frozen=True)
class Selection:
    """Factor selection rules (configuration, see settings)."""

    # same | latest | minus2: which grid data year serves inventory year Y
    # (Y, newest available, Y-2); when that year is missing, the newest
    # earlier year available is used.
    data_year_rule: str = "same"
    # Geography fallback order for location-based grid factors.
    geography_levels: tuple[str, ...] = ("province", "region", "national")
    # Which Scope 2 figure makes `total_tco2`: location | market.
    scope2_method: str = "location"
    # Density of liquid fuels invoiced in litres: accounting (the accounting guidelines'
    # density, default) | tax (the tax conversion standard, the documented alternative).
    density_basis: str = unit_table.ACCOUNTING

    def as_dict(self) -> dict[str, str | list[str]]:
        """The rules as they enter the input digest."""
        return {
            "data_year_rule": self.data_year_rule,
            "geography_levels": list(self.geography_levels),
            "scope2_method": self.scope2_method,
            "density_basis": self.density_basis,
        }


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [{k.strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(handle)]


def available_versions(root: Path = DEFAULT_FACTORS_DIR) -> list[str]:
    return sorted(p.name for p in root.iterdir() if (p / "manifest.yaml").is_file())


def _version_key(version: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in version.replace("-", ".").split("."))


def load_factor_set(
    root: Path = DEFAULT_FACTORS_DIR, version: str = "", units: unit_table.UnitTable | None = None
) -> FactorSet:
    """Load `version` (default: the highest version found) from `root`, with the units table."""
    units = units or unit_table.default_table()
    versions = available_versions(root)
    if not versions:
        raise FileNotFoundError(f"no factor sets under {root}")
    chosen = version or max(versions, key=_version_key)
    if chosen not in versions:
        raise FileNotFoundError(f"factor set {chosen!r} not found under {root} (have {versions})")
    directory = root / chosen
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(b"units\0" + units.digest.encode())
    manifest = yaml.safe_load((directory / "manifest.yaml").read_text(encoding="utf-8"))
    if manifest.get("version") != chosen:
        raise ValueError(f"{directory}/manifest.yaml version {manifest.get('version')!r} != directory name")
    raw_sources = yaml.safe_load((directory / "sources.yaml").read_text(encoding="utf-8")) or {}
    sources = {
        key: Source(
            key,
            str(v.get("publisher", "")),
            str(v.get("document", "")),
            str(v.get("url", "")),
            int(v.get("data_year") or 0),
            str(v.get("confidence", "")),
        )
        for key, v in raw_sources.items()
    }

    def need_source(row: dict[str, str], file: str) -> str:
        if row["source"] not in sources:
            raise ValueError(f"{file}: unknown source {row['source']!r}")
        return row["source"]

    grid = tuple(
        GridRow(
            r["method"],
            r["level"],
            r["geography"],
            int(r["data_year"]),
            Decimal(r["value"]),
            r["unit"],
            need_source(r, "grid.csv"),
        )
        for r in _read_csv(directory / "grid.csv")
    )
    fuels = {}
    for r in _read_csv(directory / "fuels.csv"):
        divisor = NCV_UNIT_DIVISOR[r["ncv_unit"]]
        fuels[r["energy_type"]] = Fuel(
            r["energy_type"],
            Decimal(r["ncv"]) / divisor,
            Decimal(r["carbon_content"]),
            Decimal(r["oxidation"]),
            need_source(r, "fuels.csv"),
        )
    heat = {
        r["energy_type"]: Factor(f"heat/{r['energy_type']}", Decimal(r["value"]), r["unit"], need_source(r, "heat.csv"))
        for r in _read_csv(directory / "heat.csv")
    }
    canonical_units = {name: spec[0] for name, spec in units.energy_types.items()}
    for name, unit in (manifest.get("canonical_units") or {}).items():  # an older set may still list them
        if canonical_units.get(name) != unit:
            raise ValueError(
                f"{directory}/manifest.yaml: {name} in {unit}, the units table says {canonical_units.get(name)}"
            )
    tce = {
        r["energy_type"]: Factor(
            f"tce/{r['energy_type']}", Decimal(r["value"]), r["unit"], need_source(r, "coal_equivalent.csv")
        )
        for r in _read_csv(directory / "coal_equivalent.csv")
    }
    regions = {r["province"]: r["region"] for r in _read_csv(directory / "grid_regions.csv")}
    gwp = (
        {r["gas"]: Decimal(r["gwp100"]) for r in _read_csv(directory / "gwp.csv")}
        if (directory / "gwp.csv").exists()
        else {}
    )
    return FactorSet(
        version=chosen,
        description=str(manifest.get("description", "")),
        content_digest=digest.hexdigest(),
        canonical_units=canonical_units,
        sources=sources,
        grid=grid,
        grid_regions=regions,
        fuels=fuels,
        heat=heat,
        units=units,
        coal_equivalent=tce,
        gwp=gwp,
        instruments={
            r["energy_type"]: Factor(
                f"instrument/{r['energy_type']}", Decimal(r["value"]), r["unit"], need_source(r, "instruments.csv")
            )
            for r in _read_csv(directory / "instruments.csv")
        }
        if (directory / "instruments.csv").exists()
        else {},
    )


# ---- selection (pure) -------------------------------------------------------


def target_data_year(inventory_year: int, rule: str, available: list[int]) -> int | None:
    """The grid data year that serves `inventory_year` under `rule`.

    same: Y; minus2: Y-2; latest: the newest year in the set (whatever Y is).
    When the target is not published, the newest earlier year is used (or the
    oldest year when even that does not exist).
    """
    if not available:
        return None
    if rule == "latest":
        return max(available)
    if rule == "same":
        wanted = inventory_year
    elif rule == "minus2":
        wanted = inventory_year - 2
    else:
        raise ValueError(f"unknown data_year_rule {rule!r}")
    candidates = [y for y in available if y <= wanted]
    return max(candidates) if candidates else min(available)


def grid_factor(factors: FactorSet, method: str, province: str, inventory_year: int, selection: Selection) -> Factor:
    """Select the grid electricity factor (tCO2/MWh).

    The data year is chosen first (rule over the years published at any level
    for this method), then the geography: the first level in
    `selection.geography_levels` that has a row for that year; if none has, the
    next earlier year is tried. Market-based (residual mix) rows exist only
    nationally in cn-2024.1, so that walk ends at `national`.
    """
    rows = [r for r in factors.grid if r.method == method]
    region = factors.grid_regions.get(province, "")
    keys = {"province": province, "region": region, "national": "CN"}
    years = sorted({r.data_year for r in rows})
    year = target_data_year(inventory_year, selection.data_year_rule, years)
    while year is not None:
        for level in selection.geography_levels:
            for row in rows:
                if row.level == level and row.geography == keys.get(level) and row.data_year == year:
                    return Factor(f"grid/{method}/{row.data_year}/{row.geography}", row.value, row.unit, row.source)
        earlier = [y for y in years if y < year]
        year = max(earlier) if earlier else None
    raise LookupError(f"no {method} grid factor for province {province!r}, year {inventory_year}")


def fuel_factor(factors: FactorSet, energy_type: str) -> tuple[Fuel, Factor]:
    """Fuel parameters and the effective factor tCO2 per canonical unit (for display)."""
    fuel = factors.fuels[energy_type]
    effective = fuel.ncv * fuel.carbon_content * fuel.oxidation * 44 / 12
    unit = f"tCO2/{factors.canonical_units.get(energy_type, 't')}"
    return fuel, Factor(f"fuel/{energy_type}", effective.quantize(Decimal("1E-10")), unit, fuel.source)


def heat_factor(factors: FactorSet) -> Factor:
    return factors.heat["heat"]


def to_canonical(
    factors: FactorSet, energy_type: str, quantity: Decimal, unit: str, basis: str = unit_table.ACCOUNTING
) -> Decimal | None:
    """An invoiced quantity in the energy type's canonical unit (litres of a liquid fuel to tonnes
    by the `basis` density of the units table); None when impossible (never guessed)."""
    canonical = factors.canonical_units.get(energy_type)
    if canonical is None:
        return None
    if not unit or unit == canonical:
        return quantity
    converted = factors.units.to_canonical(energy_type, unit, quantity, basis)
    return None if isinstance(converted, unit_table.Problem) else converted.value
