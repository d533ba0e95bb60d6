"""Resource names (AIP-122) and the USCC check digit (GB 32100-2015)."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from carbon_common import limits
from carbon_common.errors import invalid_argument, quote

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
PERIOD_RE = limits.PERIOD_RE
_ID_RE = limits.ID_RE


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    return bool(_USCC_SHAPE.match(code)) and uscc_check_char(code[:17]) == code[17]


def validate_uscc(code: str, field: str) -> str:
    if not is_valid_uscc(code):
        raise invalid_argument(field, f"{quote(code)} is not a valid 18-character unified social credit code")
    return code


def enterprise_name(uscc: str) -> str:
    return f"enterprises/{uscc}"


def parse_enterprise(name: str, field: str = "name") -> str:
    """enterprises/{uscc} -> uscc."""
    limits.check_name(name, field)
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != "enterprises":
        raise invalid_argument(field, f"{quote(name)} must look like enterprises/{{uscc}}")
    return validate_uscc(parts[1], field)


def parse_child(name: str, collection: str, field: str = "name") -> tuple[str, str]:
    """enterprises/{uscc}/{collection}/{id} -> (uscc, id)."""
    limits.check_name(name, field)
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "enterprises" or parts[2] != collection or not parts[3]:
        raise invalid_argument(field, f"{quote(name)} must look like enterprises/{{uscc}}/{collection}/{{id}}")
    return validate_uscc(parts[1], field), parts[3]


def parse_period(period: str, field: str = "period") -> str:
    """YYYY or YYYY-MM within the configured year range (limits.check_period)."""
    return limits.check_period(period, field)


def parse_bank(name: str, field: str = "parent") -> str:
    limits.check_name(name, field)
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != "banks" or not _ID_RE.match(parts[1]):
        raise invalid_argument(field, f"{quote(name)} must look like banks/{{bank_id}}")
    return parts[1]


def validate_id(value: str, field: str) -> str:
    return limits.check_id(value, field)


# The zone of account periods: months and years are China calendar periods.
PERIOD_ZONE = ZoneInfo("Asia/Shanghai")

Span = tuple[datetime, datetime]


def period_span(period: str) -> Span:
    """The account period "YYYY" or "YYYY-MM" as the half-open span [first instant, first instant after).

    "2024" -> [2024-01-01T00:00+08:00, 2025-01-01T00:00+08:00); "2024-02" -> [2024-02-01, 2024-03-01) (+08:00).
    """
    parse_period(period)
    year = int(period[:4])
    if len(period) == 4:
        return datetime(year, 1, 1, tzinfo=PERIOD_ZONE), datetime(year + 1, 1, 1, tzinfo=PERIOD_ZONE)
    month = int(period[5:7])
    after = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, 1, tzinfo=PERIOD_ZONE), datetime(*after, 1, tzinfo=PERIOD_ZONE)
