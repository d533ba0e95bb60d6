"""Energy classification by tax-code prefix and 简称 (./data/tax_code_mapping.yaml), and unit
normalisation by the platform's one units/densities table (carbon_ingest.units, shared with
accounting); every row of both carries its source.

Litres of liquid fuel are stored as litres (unit L): which density turns them into tonnes is
accounting's choice (the accounting guideline's by default, the tax conversion standard as the
documented alternative); ingestion only checks that a density is on file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import yaml
from carbon_ingest import units as unit_table

DATA = Path(__file__).parent / "data"
QUANTITY_PLACES = Decimal("0.000001")
_ABBREVIATION = re.compile(r"^\*([^*]+)\*")

NON_ENERGY = "non_energy"


@dataclass(frozen=True)
class Quarantine:
    reason: str
    message: str


@dataclass(frozen=True)
class MappingRow:
    """One row of the mapping table: codes starting with the prefix are this energy type."""

    tax_code_prefix: str
    energy_type: str
    abbreviations: frozenset[str]  # the 简称 that may accompany it (empty: any)
    source: str


class Tables:
    """The mapping table and the shared units/densities table."""

    def __init__(self, data_dir: Path = DATA, units: unit_table.UnitTable | None = None) -> None:
        mapping = _load(data_dir / "tax_code_mapping.yaml")
        self.units = units or unit_table.default_table()
        self.version = f"{mapping['version']}/{self.units.version}"
        for row in mapping["rows"]:
            if not row.get("source"):
                raise ValueError(f"mapping row {row} has no source")
        self.rows = sorted(
            (
                MappingRow(
                    tax_code_prefix=str(row["tax_code_prefix"]),
                    energy_type=str(row["energy_type"]),
                    abbreviations=frozenset(row.get("abbreviations") or ()),
                    source=str(row["source"]),
                )
                for row in mapping["rows"]
            ),
            key=lambda row: -len(row.tax_code_prefix),
        )
        self.families = [str(f["prefix"]) for f in mapping["energy_families"]]
        self.top_level = {str(c["digit"]) for c in mapping["top_level_categories"]}
        self.energy_abbreviations = set(mapping["energy_abbreviations"])

    def classify(self, tax_code: str, item_name: str) -> str | Quarantine:
        """Energy type, NON_ENERGY, or a quarantine with a reason the enterprise can read."""
        match = _ABBREVIATION.match(item_name.strip())
        abbreviation = match.group(1).strip() if match else ""
        for row in self.rows:
            if tax_code.startswith(row.tax_code_prefix):
                allowed = row.abbreviations
                if abbreviation in self.energy_abbreviations and allowed and abbreviation not in allowed:
                    return Quarantine(
                        "TAX_CODE_NAME_MISMATCH",
                        f"税收分类编码 {tax_code} 对应 {row.energy_type}，"
                        f"但品名简称为“{abbreviation}”，无法确定能源类型 / "
                        f"tax code {tax_code} means {row.energy_type} but the item abbreviation is "
                        f"'{abbreviation}'; please check the invoice",
                    )
                return row.energy_type
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

    def normalise(self, energy_type: str, unit: str, quantity: Decimal) -> tuple[Decimal, str] | Quarantine:
        """Quantity in the raw data's unit for it (canonical, or L for litres of a liquid fuel),
        rounded to 6 places half-even; a unit that cannot be converted is never guessed."""
        converted = self.units.normalise(energy_type, unit, quantity)
        if isinstance(converted, unit_table.Problem):
            canonical = self.units.canonical_unit(energy_type) or "?"
            return Quarantine(converted.reason, _MESSAGES[converted.reason](energy_type, unit, canonical))
        return converted.value.quantize(QUANTITY_PLACES, rounding=ROUND_HALF_EVEN), converted.unit


_MESSAGES = {
    "UNKNOWN_ENERGY_TYPE": lambda energy, unit, canonical: f"能源类型 {energy} 未配置单位 / no unit table for {energy}",
    "UNKNOWN_UNIT": lambda energy, unit, canonical: (
        f"计量单位“{unit}”无法识别 / the unit '{unit}' is not known; quantities are never guessed"
    ),
    "UNIT_NOT_CONVERTIBLE": lambda energy, unit, canonical: (
        f"单位“{unit}”不能换算为{canonical}（{energy}）/ '{unit}' cannot be converted to {canonical} for {energy}"
    ),
    "UNIT_NEEDS_DENSITY": lambda energy, unit, canonical: (
        f"{energy} 按升计量但没有密度数据 / {energy} in litres needs a density, none is on file"
    ),
}


def _load(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data
