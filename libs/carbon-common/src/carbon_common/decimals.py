"""Exact numbers on the wire: decimal.Decimal <-> google.type.Decimal."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from google.type import decimal_pb2

TCO2_PLACES = Decimal("0.000001")
MONEY_PLACES = Decimal("0.01")
RATIO_PLACES = Decimal("0.000001")


def to_proto(value: Decimal | None) -> decimal_pb2.Decimal | None:
    if value is None:
        return None
    return decimal_pb2.Decimal(value=format(value, "f"))


def from_proto(message: decimal_pb2.Decimal, field: str, *, required: bool = False) -> Decimal | None:
    """Parse a wire decimal; a malformed one is the client's mistake, named by field."""
    from carbon_common.errors import invalid_argument

    if not message.value:
        if required:
            raise invalid_argument(field, "is required")
        return None
    return parse(message.value, field)


def parse(text: str, field: str) -> Decimal:
    """A client decimal, bounded in digits and exponent before Decimal sees it (limits)."""
    from carbon_common.limits import parse_decimal

    return parse_decimal(text, field)


def quantize(value: Decimal, places: Decimal) -> Decimal:
    return value.quantize(places, rounding=ROUND_HALF_EVEN)
