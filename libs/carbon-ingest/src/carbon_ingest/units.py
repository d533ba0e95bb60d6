"""The one units and densities table (data/units.yaml), read by ingest-tax and accounting.

ingest-tax recognises invoice units and converts scale units (万千瓦时 -> kWh, 千克 -> t) into
the canonical unit of the physical quantity; litres stay litres in the raw data (unit ``L``),
because turning litres into tonnes is an accounting method choice: accounting applies
`density(energy_type, basis)` — by default basis ``accounting`` (the accounting guidelines'
density, e.g. diesel 0.84 t/m3), with the tax conversion standard (basis ``tax``, 1176 L/t
diesel) as the documented alternative. All arithmetic is Decimal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

DEFAULT_TABLE = Path(__file__).parent / "data" / "units.yaml"
LIQUID_VOLUME = "liquid_volume"
LITRE = "L"
ACCOUNTING = "accounting"
TAX = "tax"
BASES = (ACCOUNTING, TAX)
_THOUSAND = Decimal(1000)


@dataclass(frozen=True)
class Unit:
    name: str
    quantity: str  # physical quantity: electric_energy, volume, mass, liquid_volume, heat
    to_canonical: Decimal  # x this = value in the quantity's canonical unit
    source: str


@dataclass(frozen=True)
class Density:
    energy_type: str
    basis: str
    tonnes_per_litre: Decimal  # exact: t/m3 / 1000, or 1 / (L/t) kept as a fraction below
    litres_per_tonne: Decimal | None  # set when the source states L/t (divide by it: exact inputs)
    stated: str  # the value as the source states it, e.g. "0.84 t/m3"
    source: str

    def tonnes(self, litres: Decimal) -> Decimal:
        """Tonnes of `litres` (unrounded; the caller rounds)."""
        if self.litres_per_tonne is not None:
            return litres / self.litres_per_tonne
        return litres * self.tonnes_per_litre


@dataclass(frozen=True)
class Problem:
    """Why a quantity cannot be converted (machine-readable reason, English detail)."""

    reason: str  # UNKNOWN_ENERGY_TYPE | UNKNOWN_UNIT | UNIT_NOT_CONVERTIBLE | UNIT_NEEDS_DENSITY
    detail: str


@dataclass(frozen=True)
class Converted:
    value: Decimal  # unrounded
    unit: str
    density: Density | None = None  # set when litres became tonnes


Number = str | int | float  # as the YAML states it; read exactly via str()


class _Row(BaseModel):
    """A row of the table: every fact carries its source."""

    source: str = Field(min_length=1)


class UnitRow(_Row):
    names: list[str]
    quantity: str
    to_canonical: Number


class EnergyTypeRow(BaseModel):
    canonical_unit: str
    accepts: list[str]


class DensityRow(_Row):
    energy_type: str
    basis: str
    tonnes_per_m3: Number | None = None
    litres_per_tonne: Number | None = None

    def density(self) -> Density:
        if (self.tonnes_per_m3 is None) == (self.litres_per_tonne is None):
            raise ValueError(f"density row {self}: give exactly one of tonnes_per_m3, litres_per_tonne")
        if self.basis not in BASES:
            raise ValueError(f"density row {self}: basis must be one of {BASES}")
        if self.tonnes_per_m3 is not None:
            value = Decimal(str(self.tonnes_per_m3))
            return Density(self.energy_type, self.basis, value / _THOUSAND, None, f"{value} t/m3", self.source)
        litres = Decimal(str(self.litres_per_tonne))
        return Density(self.energy_type, self.basis, 1 / litres, litres, f"{litres} L/t", self.source)


class UnitsFile(BaseModel):
    """data/units.yaml."""

    version: str | int
    units: list[UnitRow]
    canonical_units: dict[str, str]
    energy_types: dict[str, EnergyTypeRow]
    densities: list[DensityRow]
    density_fallback: dict[str, list[str]]


class UnitTable:
    def __init__(self, data: UnitsFile, digest: str) -> None:
        self.version = str(data.version)
        self.digest = digest
        self.units: dict[str, Unit] = {}
        for row in data.units:
            for name in row.names:
                self.units[name] = Unit(name, row.quantity, Decimal(str(row.to_canonical)), row.source)
        self.quantity_units: dict[str, str] = dict(data.canonical_units)
        self.energy_types: dict[str, tuple[str, tuple[str, ...]]] = {
            name: (spec.canonical_unit, tuple(spec.accepts)) for name, spec in data.energy_types.items()
        }
        self.densities: dict[tuple[str, str], Density] = {}
        for density_row in data.densities:
            density = density_row.density()
            if (density.energy_type, density.basis) in self.densities:
                raise ValueError(f"two {density.basis} densities for {density.energy_type}")
            self.densities[(density.energy_type, density.basis)] = density
        self.fallback: dict[str, tuple[str, ...]] = {b: tuple(order) for b, order in data.density_fallback.items()}
        if set(self.fallback) != set(BASES):
            raise ValueError(f"density_fallback must name every basis {BASES}")

    def unit(self, name: str) -> Unit | None:
        """The unit as printed (exact), else its lower-case spelling if the table lists that."""
        text = name.strip()
        return self.units.get(text) or self.units.get(text.lower())

    def canonical_unit(self, energy_type: str) -> str | None:
        spec = self.energy_types.get(energy_type)
        return spec[0] if spec else None

    def density(self, energy_type: str, basis: str = ACCOUNTING) -> Density | None:
        for candidate in self.fallback[basis]:
            found = self.densities.get((energy_type, candidate))
            if found is not None:
                return found
        return None

    def normalise(self, energy_type: str, unit: str, quantity: Decimal) -> Converted | Problem:
        """An invoice quantity in its canonical unit for the raw data: scale units converted,
        litres of a fuel kept as litres (``L``) provided a density for them is on file."""
        spec = self.energy_types.get(energy_type)
        if spec is None:
            return Problem("UNKNOWN_ENERGY_TYPE", f"no unit table for {energy_type}")
        known = self.unit(unit)
        if known is None:
            return Problem("UNKNOWN_UNIT", f"the unit '{unit}' is not known")
        if known.quantity not in spec[1]:
            return Problem("UNIT_NOT_CONVERTIBLE", f"'{unit}' cannot be converted to {spec[0]} for {energy_type}")
        if known.quantity == LIQUID_VOLUME and self.density(energy_type, ACCOUNTING) is None:
            return Problem("UNIT_NEEDS_DENSITY", f"{energy_type} in litres needs a density, none is on file")
        return Converted(quantity * known.to_canonical, self.quantity_units[known.quantity])

    def to_canonical(
        self, energy_type: str, unit: str, quantity: Decimal, basis: str = ACCOUNTING
    ) -> Converted | Problem:
        """A quantity in the energy type's canonical unit (litres to tonnes by `basis`'s density)."""
        first = self.normalise(energy_type, unit, quantity)
        if isinstance(first, Problem):
            return first
        canonical = self.energy_types[energy_type][0]
        if first.unit == canonical:
            return first
        density = self.density(energy_type, basis) if first.unit == LITRE else None
        if density is None:
            return Problem("UNIT_NEEDS_DENSITY", f"no {basis} density for {energy_type} in litres")
        return Converted(density.tonnes(first.value), canonical, density)


def load_table(path: Path = DEFAULT_TABLE) -> UnitTable:
    raw = path.read_bytes()
    return UnitTable(UnitsFile.model_validate(yaml.safe_load(raw)), hashlib.sha256(raw).hexdigest())


@cache
def default_table() -> UnitTable:
    return load_table()
