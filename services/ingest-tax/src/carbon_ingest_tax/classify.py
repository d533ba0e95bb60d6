"""Energy classification by tax-code prefix and 简称, and unit normalisation,
driven by the editable data files in ./data (each row with its source)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).parent / "data"
QUANTITY_PLACES = Decimal("0.000001")
_ABBREVIATION = re.compile(r"^\*([^*]+)\*")

NON_ENERGY = "non_energy"


@dataclass(frozen=True)
class Quarantine:
    reason: str
    message: str


@dataclass(frozen=True)
class Unit:
    quantity: str
    to_canonical: Decimal
    source: str


class Tables:
    """The mapping, unit and density tables."""

    def __init__(self, data_dir: Path = DATA) -> None:
        mapping = _load(data_dir / "tax_code_mapping.yaml")
        units = _load(data_dir / "units.yaml")
        densities = _load(data_dir / "densities.yaml")
        self.version = f"{mapping['version']}/{units['version']}/{densities['version']}"
        self.rows = sorted(mapping["rows"], key=lambda r: -len(str(r["tax_code_prefix"])))
        for row in self.rows:
            if not row.get("source"):
                raise ValueError(f"mapping row {row} has no source")
        self.families = [str(f["prefix"]) for f in mapping["energy_families"]]
        self.top_level = {str(c["digit"]) for c in mapping["top_level_categories"]}
        self.energy_abbreviations = set(mapping["energy_abbreviations"])
        self.units: dict[str, Unit] = {}
        for row in units["units"]:
            for name in row["names"]:
                self.units[str(name)] = Unit(row["quantity"], Decimal(str(row["to_canonical"])), row["source"])
        self.energy_types: dict[str, dict[str, Any]] = units["energy_types"]
        self.litres_per_tonne = {d["energy_type"]: Decimal(str(d["litres_per_tonne"])) for d in densities["densities"]}

    def classify(self, tax_code: str, item_name: str) -> str | Quarantine:
        """Energy type, NON_ENERGY, or a quarantine with a reason the enterprise can read."""
        match = _ABBREVIATION.match(item_name.strip())
        abbreviation = match.group(1).strip() if match else ""
        for row in self.rows:
            if tax_code.startswith(str(row["tax_code_prefix"])):
                allowed = set(row.get("abbreviations") or [])
                if abbreviation in self.energy_abbreviations and allowed and abbreviation not in allowed:
                    return Quarantine(
                        "TAX_CODE_NAME_MISMATCH",
                        f"税收分类编码 {tax_code} 对应 {row['energy_type']}，"
                        f"但品名简称为“{abbreviation}”，无法确定能源类型 / "
                        f"tax code {tax_code} means {row['energy_type']} but the item abbreviation is "
                        f"'{abbreviation}'; please check the invoice",
                    )
                return str(row["energy_type"])
        if any(tax_code.startswith(f) for f in self.families):
            return Quarantine(
                "UNKNOWN_TAX_CODE",
                f"税收分类编码 {tax_code} 属于能源类，但不在映射表中，暂不计入 / tax code {tax_code} is an energy "
                "code that is not in the mapping table; the line is held until the table is extended",
            )
        if abbreviation in self.energy_abbreviations:
            return Quarantine(
                "TAX_CODE_NAME_MISMATCH",
                f"品名简称“{abbreviation}”是能源，但税收分类编码 {tax_code} 不是能源编码 / the item abbreviation "
                f"'{abbreviation}' is an energy carrier but tax code {tax_code} is not an energy code",
            )
        if tax_code[:1] not in self.top_level:
            return Quarantine(
                "UNKNOWN_TAX_CODE",
                f"税收分类编码 {tax_code} 无法识别 / tax code {tax_code} is not a known classification code",
            )
        return NON_ENERGY

    def canonical_unit(self, energy_type: str) -> str:
        return str(self.energy_types[energy_type]["canonical_unit"])

    def normalise(self, energy_type: str, unit: str, quantity: Decimal) -> tuple[Decimal, str] | Quarantine:
        """Quantity in the energy type's canonical unit, rounded to 6 places half-even."""
        spec = self.energy_types.get(energy_type)
        if spec is None:
            return Quarantine(
                "UNKNOWN_ENERGY_TYPE", f"能源类型 {energy_type} 未配置单位 / no unit table for {energy_type}"
            )
        known = self.units.get(unit.strip())
        if known is None:
            return Quarantine(
                "UNKNOWN_UNIT",
                f"计量单位“{unit}”无法识别 / the unit '{unit}' is not known; quantities are never guessed",
            )
        if known.quantity not in spec["accepts"]:
            return Quarantine(
                "UNIT_NOT_CONVERTIBLE",
                f"单位“{unit}”不能换算为{spec['canonical_unit']}（{energy_type}）/ '{unit}' cannot be converted to "
                f"{spec['canonical_unit']} for {energy_type}",
            )
        value = quantity * known.to_canonical
        if known.quantity == "liquid_volume":
            litres_per_tonne = self.litres_per_tonne.get(energy_type)
            if litres_per_tonne is None:
                return Quarantine(
                    "UNIT_NEEDS_DENSITY",
                    f"{energy_type} 按升计量但没有密度数据 / {energy_type} in litres needs a density, none is on file",
                )
            value = value / litres_per_tonne
        return value.quantize(QUANTITY_PLACES, rounding=ROUND_HALF_EVEN), self.canonical_unit(energy_type)


def _load(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data
