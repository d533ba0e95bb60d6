"""Proto <-> domain for meters: the Meter message checked field by field, defaults filled in,
and the MeterInfo the reading logic works with."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from carbon.v1 import common_pb2
from carbon.v1 import ingest_energy_pb2 as pb
from carbon_common import limits
from carbon_common.errors import invalid_arguments
from carbon_common.limits import LimitError

from carbon_ingest_energy.domain import ALLOWED_INTERVALS, MeterInfo

DEFAULT_TZ = "Asia/Shanghai"
DEFAULT_INTERVAL = 900


def energy_type_name(value: int) -> str:
    name: str = common_pb2.EnergyType.Name(value)
    return name.removeprefix("ENERGY_TYPE_").lower()


def meter_info(uscc: str, meter_id: str, meter: pb.Meter) -> MeterInfo:
    multiplier = Fraction(Decimal(meter.multiplier.value)) if meter.multiplier.value else Fraction(1)
    return MeterInfo(
        uscc=uscc,
        meter_id=meter_id,
        energy_type=energy_type_name(meter.energy_type),
        register=meter.reading_kind == pb.Meter.READING_KIND_REGISTER,
        multiplier=multiplier,
        time_zone=meter.time_zone or DEFAULT_TZ,
        interval=meter.interval_seconds or DEFAULT_INTERVAL,
        register_max=meter.register_max,
    )


def validate_meter(meter: pb.Meter, prefix: str = "meter") -> pb.Meter:
    """Checks every field; returns the meter with defaults filled in."""
    violations: list[tuple[str, str]] = []
    if (
        meter.energy_type == common_pb2.ENERGY_TYPE_UNSPECIFIED
        or meter.energy_type not in common_pb2.EnergyType.values()
    ):
        violations.append((f"{prefix}.energy_type", "is required and must be a known EnergyType"))
    if meter.reading_kind not in (pb.Meter.READING_KIND_INTERVAL, pb.Meter.READING_KIND_REGISTER):
        violations.append((f"{prefix}.reading_kind", "must be READING_KIND_INTERVAL or READING_KIND_REGISTER"))
    if meter.multiplier.value:
        try:
            value = limits.parse_decimal(meter.multiplier.value, f"{prefix}.multiplier")
            if value <= 0 or value > 1_000_000:
                violations.append((f"{prefix}.multiplier", "must be a decimal in (0, 1000000]"))
            elif Fraction(value).denominator > 10**6:
                violations.append((f"{prefix}.multiplier", "at most 6 decimal places"))
        except LimitError as error:
            violations.extend(error.field_violations)
    if meter.time_zone:
        try:
            limits.check_time_zone(meter.time_zone, f"{prefix}.time_zone")
        except LimitError as error:
            violations.extend(error.field_violations)
    if meter.interval_seconds and meter.interval_seconds not in ALLOWED_INTERVALS:
        violations.append((f"{prefix}.interval_seconds", f"must be one of {list(ALLOWED_INTERVALS)}"))
    if meter.register_max < 0:
        violations.append((f"{prefix}.register_max", "must not be negative"))
    if meter.register_max and meter.reading_kind != pb.Meter.READING_KIND_REGISTER:
        violations.append((f"{prefix}.register_max", "only for READING_KIND_REGISTER meters"))
    if violations:
        raise invalid_arguments(violations)
    filled = pb.Meter()
    filled.CopyFrom(meter)
    if not filled.multiplier.value:
        filled.multiplier.value = "1"
    filled.time_zone = filled.time_zone or DEFAULT_TZ
    filled.interval_seconds = filled.interval_seconds or DEFAULT_INTERVAL
    return filled
